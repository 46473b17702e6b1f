"""L1: annotator behaviour (speed and straight-lining)."""
from __future__ import annotations

import pandas as pd

from qc.contract import check_annotations


def behaviour_stats(annotations: pd.DataFrame) -> pd.DataFrame:
    """Per worker: ``n_judgments``, ``median_lead_time_s``, ``speed_ratio`` (the worker's
    median over the median of all workers' medians) and ``top_label_share`` (the share of
    the worker's most frequent label: 1.0 means the same answer every time)."""
    data = check_annotations(annotations)
    by = data.groupby("worker", sort=True)
    out = pd.DataFrame({"n_judgments": by.size()})
    if "lead_time_s" in data.columns:
        out["median_lead_time_s"] = by["lead_time_s"].median()
        crowd = out["median_lead_time_s"].median()
        out["speed_ratio"] = out["median_lead_time_s"] / crowd if crowd and crowd > 0 else float("nan")
    else:
        out["median_lead_time_s"] = float("nan")
        out["speed_ratio"] = float("nan")
    counts = data.groupby(["worker", "label"]).size()
    out["top_label_share"] = counts.groupby(level="worker").max() / out["n_judgments"]
    return out
