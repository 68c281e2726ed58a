"""Who is evaluated: a model under a scaffold (agent harness, edit format, judge, prompt style).

A candidate is a (model, scaffold) pair, never a string to split: model ids can contain ``@`` and anything
else. In a plan file a candidate without a scaffold is written as the model's name alone (so plans stay easy
to write by hand), one with a scaffold as ``{"model": ..., "scaffold": ...}``. A candidate with scaffold
``""`` matches the model under any scaffold (the store holds it under one).

What a user types is matched to the store's names (``resolve``): a name close to a stored model's but not
equal to it is refused with a "did you mean", never taken for a new model; a model the store has no results
for is named as new with ``new:`` (``new:gpt-5-mini``). ``matches`` is the fuzzy search behind both the
suggestion and the app's candidate picker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
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


NEW = "new:"
"""Marks a candidate the store has no results for on the benchmark: ``new:MODEL``."""
CLOSE_RATIO = 0.8
"""How alike two names must be (difflib's ratio of their words) to count as a likely typo of each other."""


def _words(name: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", name.lower())


def matches(text: str, names: Iterable[str], limit: int = 5) -> list[str]:
    """The names ``text`` most likely means, best first: those holding every word typed (``gpt-5-mini`` finds
    "GPT-5 mini (2025-08-07) (medium reasoning)"; a word of three letters or more may be a word's start), then
    names spelled nearly alike, then names holding all but one of three or more words typed
    (``claude-opus-4-1`` finds "Claude 4 Opus (20250514)"). Case and punctuation do not count."""
    typed = _words(text)
    if not typed:
        return []
    scored: list[tuple[float, str]] = []
    for name in dict.fromkeys(names):
        words = _words(name)
        held = sum(any(w == t or (len(t) >= 3 and w.startswith(t)) for w in words) for t in typed)
        ratio = SequenceMatcher(None, " ".join(typed), " ".join(words)).ratio()
        if held == len(typed) or ratio >= CLOSE_RATIO or (len(typed) >= 3 and held == len(typed) - 1):
            scored.append((held / len(typed) + ratio, name))
    return [name for _, name in sorted(scored, key=lambda s: (-s[0], s[1]))[:limit]]


def resolve(
    texts: Iterable[str],
    known: Sequence[Candidate],
    *,
    where: str = "the store",
    all_new: bool = False,
    role: str = "Candidate",
    new_models: bool = True,
) -> list[Candidate]:
    """Candidates from what a user typed (a comma list on the CLI, a field in the app), against those the
    store knows: a known model's name as a whole first (names may contain ``@``), else ``MODEL@SCAFFOLD`` where
    the store holds that model under that scaffold, else ``new:MODEL``, a model new to the benchmark. Any other
    name is refused, with the stored names it may mean (``where`` says where they were looked for) or how to
    name a new model; with ``all_new`` (the benchmark has no results at all) every name is a new model, with
    or without ``new:``; without ``new_models`` (naming models to read, not to plan) only stored names are
    taken. Repeats are dropped."""
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
        if new_models and text.lower().startswith(NEW):
            name = text[len(NEW) :].strip()
            if not name:
                raise InputError(f"Candidate {text!r} names no model after '{NEW}'.")
            if name in by_model:
                raise InputError(
                    f"Candidate {text!r}: {where} already holds {name!r}; name it without '{NEW}'."
                )
            found.append(candidate(name))
            continue
        model, at, scaffold = text.rpartition("@")
        match = next((c for c in by_model.get(model, []) if c.scaffold == scaffold), None) if at else None
        if match is None and all_new:
            match = candidate(text)
        if match is None:
            raise InputError(_unknown(text, by_model, where, role, new_models))
        found.append(match)
    return list(dict.fromkeys(found))


def did_you_mean(text: str, names: Iterable[str]) -> str:
    """``"; did you mean 'A' or 'B'?"`` for the names ``text`` most likely means, or ``""`` for none."""
    likely = matches(text, names, limit=3)
    return "; did you mean " + " or ".join(repr(name) for name in likely) + "?" if likely else ""


def typed_names(known: Sequence[Candidate]) -> list[str]:
    """Each candidate as ``resolve`` takes it back: the model, or MODEL@SCAFFOLD where the model was run under
    several scaffolds."""
    runs: dict[str, int] = {}
    for c in known:
        runs[c.model] = runs.get(c.model, 0) + 1
    return [c.model if runs[c.model] == 1 else f"{c.model}@{c.scaffold}" for c in known]


def _unknown(text: str, by_model: dict[str, list[Candidate]], where: str, role: str, new_models: bool) -> str:
    hint = did_you_mean(text, by_model)
    refusal = f"{role} {text!r} is not a model {where} holds"
    if not new_models:
        return refusal + (hint or ".")
    if hint:
        return f"{refusal}{hint} (A model with no results there yet is named as new: '{NEW}{text}'.)"
    return f"{refusal}; name it as '{NEW}{text}' to plan for a model with no results there yet."
