"""Which synced annotations count as judgments: one rule, used by progress, QC and delivery.

* a skipped (cancelled) or empty annotation is no judgment;
* an annotation whose result could not be read is quarantined at sync (the raw zone keeps
  it, with the reason in ``quarantine``) and set aside;
* an annotation withdrawn from Label Studio after it was synced (deleted there, or
  reassigned to someone outside the roster: ``withdrawn``) is set aside;
* an expert judges an item once: when Label Studio holds two or more of their annotations
  on one item (an annotation deleted and submitted again, a task imported twice), the
  latest one counts and the others are set aside as superseded.

Nothing is dropped silently: every set-aside annotation is returned with its reason.
"""
from __future__ import annotations

import pandas as pd

#: the raw-zone columns that decide it
KEY = ["item_id", "expert_id"]


def _column(synced: pd.DataFrame, name: str) -> pd.Series:
    """A raw-zone column that rows synced before it existed lack (read as null)."""
    return synced[name] if name in synced else pd.Series(None, index=synced.index, dtype=object)


def counted(synced: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the judgments that count, one per expert per item; the annotations set aside, with
    ``set_aside`` saying why). Cancelled and empty annotations are in neither."""
    quarantine, withdrawn = _column(synced, "quarantine"), _column(synced, "withdrawn")
    answered = ~synced["was_cancelled"].astype(bool) & synced["answer_json"].notna()
    gone = synced[withdrawn.notna()].assign(
        set_aside="withdrawn: " + withdrawn[withdrawn.notna()].astype(str))
    live = withdrawn.isna()
    unreadable = synced[quarantine.notna() & live].assign(
        set_aside="unreadable: " + quarantine[quarantine.notna() & live].astype(str))
    ok = synced[answered & quarantine.isna() & live].sort_values(
        ["updated_at", "annotation_id"], kind="stable")
    latest = ~ok.duplicated(KEY, keep="last")
    kept = ok[latest]
    superseded = ok[~latest]
    if len(superseded):
        by = kept.set_index(KEY)["annotation_id"]
        winner = by.reindex(pd.MultiIndex.from_frame(superseded[KEY])).to_numpy()
        superseded = superseded.assign(set_aside=[
            f"superseded by the same expert's later annotation {int(w)} on this item"
            for w in winner])
    else:
        superseded = superseded.assign(set_aside=pd.Series(dtype=object))
    aside = pd.concat([unreadable, superseded, gone], ignore_index=True)
    return kept.sort_values("annotation_id", kind="stable").reset_index(drop=True), aside


def set_aside_summary(aside: pd.DataFrame, limit: int = 20) -> tuple[str, dict]:
    """A one-line summary and metrics (no expert ids: annotation and item ids only)."""
    superseded = aside[aside["set_aside"].str.startswith("superseded")]
    unreadable = aside[aside["set_aside"].str.startswith("unreadable")]
    withdrawn = aside[aside["set_aside"].str.startswith("withdrawn")]
    summary = (f"{len(aside)} annotation(s) set aside: {len(superseded)} superseded by the same "
               f"expert's later judgment, {len(unreadable)} unreadable (quarantined), "
               f"{len(withdrawn)} withdrawn from Label Studio after they were synced"
               if len(aside) else "every annotation is one readable judgment per expert per item")
    metrics = {"superseded": len(superseded), "unreadable": len(unreadable),
               "withdrawn": len(withdrawn),
               "examples": [{"annotation_id": int(r.annotation_id), "item_id": str(r.item_id),
                             "reason": r.set_aside} for r in aside.head(limit).itertuples()]}
    return summary, metrics
