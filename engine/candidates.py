"""Who is evaluated: a model under a scaffold (agent harness, edit format, judge, prompt style).

A candidate is a (model, scaffold) pair, never a string to split: model ids can contain ``@`` and anything
else. In a plan file a candidate without a scaffold is written as the model's name alone (so plans stay easy
to write by hand), one with a scaffold as ``{"model": ..., "scaffold": ...}``. A candidate with scaffold
``""`` matches the model under any scaffold (the store holds it under one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from evalbudget.engine.errors import InputError


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    scaffold: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"model": value} if isinstance(value, str) else value

    @model_serializer
    def _to_json(self) -> str | dict[str, str]:
        return self.model if not self.scaffold else {"model": self.model, "scaffold": self.scaffold}

    def __str__(self) -> str:
        """For people: the model, with its scaffold in brackets where it has one."""
        return self.model if not self.scaffold else f"{self.model} [{self.scaffold}]"

    def matches(self, model: str, scaffold: str) -> bool:
        """Whether a rollout of ``model`` under ``scaffold`` is this candidate's."""
        return self.model == model and (not self.scaffold or self.scaffold == scaffold)


def candidate(model: str, scaffold: str = "") -> Candidate:
    return Candidate(model=model, scaffold=scaffold)


def resolve(texts: Iterable[str], known: Sequence[Candidate]) -> list[Candidate]:
    """Candidates from what a user typed (a comma list on the CLI, a field in the app), against those the
    store knows: a known model's name as a whole first (names may contain ``@``), else ``MODEL@SCAFFOLD`` where
    the store holds that model under that scaffold, else a model new to the benchmark. Repeats are dropped."""
    by_model: dict[str, list[Candidate]] = {}
    for c in known:
        by_model.setdefault(c.model, []).append(c)
    found: list[Candidate] = []
    for raw in texts:
        text = raw.strip()
        if not text:
            continue
        if text in by_model:
            choices = by_model[text]
            if len(choices) > 1 and all(c.scaffold for c in choices):
                scaffolds = ", ".join(c.scaffold for c in choices)
                raise InputError(
                    f"Candidate {text!r} was run under several scaffolds ({scaffolds}): name one as MODEL@SCAFFOLD."
                )
            found.append(choices[0] if len(choices) == 1 else candidate(text))
            continue
        model, at, scaffold = text.rpartition("@")
        match = next((c for c in by_model.get(model, []) if c.scaffold == scaffold), None) if at else None
        found.append(match if match is not None else candidate(text))
    return list(dict.fromkeys(found))
