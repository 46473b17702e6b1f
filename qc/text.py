"""L1 for free text: automatic checks on submitted texts (pure).

Each text gets a flag or None: ``empty``, ``too_short``, ``copied_from_prompt`` (the text
is the prompt, or nearly all of its words are), ``duplicate`` (the same text, normalised,
appears earlier for another task or another annotator: the first submission keeps it),
or a type's own problem. Rows are expected in submission order.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _copied(text: str, prompt: str) -> bool:
    t, p = normalise(text), normalise(prompt)
    if not t:
        return False
    if t == p or t in p:
        return True
    tw, pw = set(t.split()), set(p.split())
    return len(tw) >= 3 and len(tw & pw) / len(tw) >= 0.9


def text_flags(data: pd.DataFrame, prompts: pd.Series, *, min_chars: int,
               check: Callable[[str], str | None] | None = None) -> pd.Series:
    """One flag (or None) per row of ``data`` (task, worker, label = the text)."""
    texts = data["label"].fillna("").astype(str)
    norm = texts.map(normalise)
    dup = norm.ne("") & norm.duplicated(keep="first")
    flags = []
    for i, (task, text) in enumerate(zip(data["task"], texts)):
        stripped = text.strip()
        if not stripped:
            flags.append("empty")
        elif len(stripped) < min_chars:
            flags.append(f"too_short: {len(stripped)} < {min_chars} characters")
        elif _copied(stripped, str(prompts.get(task, ""))):
            flags.append("copied_from_prompt")
        elif dup.iat[i]:
            flags.append("duplicate")
        elif check is not None and (problem := check(stripped)):
            flags.append(f"invalid: {problem}")
        else:
            flags.append(None)
    return pd.Series(flags, index=data.index, dtype=object)
