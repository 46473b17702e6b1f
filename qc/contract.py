"""The long annotation contract, written down once.

Every QC entry point takes a DataFrame with one row per judgment:

==============  ========  ==============================================================
column          type      meaning
==============  ========  ==============================================================
``task``        str       the item judged (``item_id``)
``worker``      str       who judged it (talent-pool ``expert_id`` or a pseudonym)
``label``       str       the judgment, one of the task type's labels
``lead_time_s`` float     seconds the annotator spent (optional; behaviour checks)
``is_gold``     bool      the item has a known answer (optional; default False)
==============  ========  ==============================================================

A worker judges a task at most once. Gold answers come as a DataFrame with columns
``task`` and ``label`` (a Series indexed by task is accepted too).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd

REQUIRED = ("task", "worker", "label")
_CHECKED: ContextVar[bool] = ContextVar("annotations_checked", default=False)


@contextmanager
def checked_once() -> Iterator[None]:
    """For an entry point that has checked its judgments (``run_layers``) and hands the
    layers frames made from them: inside, ``check_annotations`` checks the frame's type and
    columns but not again its values (on a million judgments each check of the values
    costs about 0.1 s, and a pass calls a dozen layers)."""
    token = _CHECKED.set(True)
    try:
        yield
    finally:
        _CHECKED.reset(token)


def check_annotations(data: pd.DataFrame) -> pd.DataFrame:
    """Validate the contract; returns the frame. Raises ValueError naming the problem."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"annotations must be a pandas DataFrame, got {type(data).__name__}")
    if missing := [c for c in REQUIRED if c not in data.columns]:
        raise ValueError(f"annotations are missing column(s) {missing}; the contract needs "
                         f"{list(REQUIRED)} (see qc.contract)")
    if _CHECKED.get():
        return data
    for col in REQUIRED:
        if data[col].isna().any():
            raise ValueError(f"annotations column {col!r} has {int(data[col].isna().sum())} "
                             f"missing value(s)")
    dup = data.duplicated(["task", "worker"])
    if dup.any():
        t, w = data.loc[dup, ["task", "worker"]].iloc[0]
        raise ValueError(f"worker {w!r} judged task {t!r} more than once "
                         f"({int(dup.sum())} duplicate judgment(s)); keep one per pair")
    return data


def gold_series(gold: pd.DataFrame | pd.Series) -> pd.Series:
    """Gold answers as a Series task -> label."""
    if isinstance(gold, pd.Series):
        return gold
    if not {"task", "label"} <= set(gold.columns):
        raise ValueError("gold must have columns 'task' and 'label'")
    if gold["task"].duplicated().any():
        raise ValueError("gold has more than one answer for a task")
    return gold.set_index("task")["label"]
