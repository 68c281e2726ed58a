"""Scoring a model's answer against an item's target: exact, includes, choice, numeric. Scores are 0 or 1."""

from __future__ import annotations

import json
import re
import string

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _normalise(text: str) -> str:
    text = text.strip().lower()
    text = text.translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def _targets(target: str) -> list[str]:
    """A target stored as text, or as a JSON list of acceptable answers."""
    try:
        parsed = json.loads(target)
    except ValueError:
        return [target]
    if isinstance(parsed, list):
        return [str(t) for t in parsed]
    return [str(parsed)] if not isinstance(parsed, str) else [parsed]


def _last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def _choice_letter(answer: str, choices: list[str]) -> str | None:
    """The option the answer picks: a letter A, B, ... on its own, or the text of one option."""
    letters = [chr(ord("A") + i) for i in range(len(choices))]
    match = re.search(r"\b([A-Z])\b", answer.strip().upper())
    if match and match.group(1) in letters:
        return match.group(1)
    normal = _normalise(answer)
    for letter, choice in zip(letters, choices, strict=False):
        if _normalise(choice) and _normalise(choice) in normal:
            return letter
    return None


def score_answer(answer: str, target: str, scorer: str, choices: str | None = None) -> float:
    """1.0 when ``answer`` meets ``target`` under ``scorer``, else 0.0."""
    targets = _targets(target)
    if scorer == "exact":
        return float(any(_normalise(answer) == _normalise(t) for t in targets))
    if scorer == "includes":
        return float(any(_normalise(t) and _normalise(t) in _normalise(answer) for t in targets))
    if scorer == "numeric":
        value = _last_number(answer)
        if value is None:
            return 0.0
        return float(
            any(abs(value - float(t.replace(",", ""))) <= 1e-6 * max(1.0, abs(value)) for t in targets)
        )
    if scorer == "choice":
        options = json.loads(choices) if choices else []
        picked = _choice_letter(answer, [str(o) for o in options])
        wanted = set()
        for t in targets:
            t = t.strip()
            if len(t) == 1 and t.upper().isalpha():
                wanted.add(t.upper())
            elif t in options:
                wanted.add(chr(ord("A") + options.index(t)))
        return float(picked is not None and picked in wanted)
    raise ValueError(f"unknown scorer {scorer!r}")
