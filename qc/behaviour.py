"""L1: annotator behaviour (speed, straight-lining, position bias)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest

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


#: position bias: judgments on one side or the other an annotator needs to be tested, the
#: family-wise error rate over the annotators (Bonferroni), and how far their left share
#: must stray from the others' to matter
MIN_SIDED_JUDGMENTS, POSITION_ALPHA, POSITION_MARGIN = 20, 0.01, 0.15


def position_bias(annotations: pd.DataFrame, sides: dict[str, str]) -> pd.DataFrame:
    """Per worker, on side-by-side work: ``left_share`` (the share of their judgments that
    picked what was shown on the left: the label's side, swapped where the row's optional
    ``swapped`` says the two were shown the other way round), ``left_p_value`` (two-sided
    binomial test against the other annotators' pooled left share: 0.5 when the order is
    randomized) and ``reason`` ("" unless biased: at least ``MIN_SIDED_JUDGMENTS``,
    p under ``POSITION_ALPHA`` over the number of annotators, and ``POSITION_MARGIN`` off)."""
    data = check_annotations(annotations)
    side = data["label"].astype(str).map(sides)
    data = data[side.notna()]
    left = side[side.notna()].eq("left").to_numpy().copy()
    if "swapped" in data.columns:
        left ^= data["swapped"].fillna(False).astype(bool).to_numpy()
    per = pd.DataFrame({"worker": data["worker"].to_numpy(), "left": left}) \
        .groupby("worker")["left"].agg(["sum", "size"])
    out = pd.DataFrame(index=per.index)
    out["left_share"] = per["sum"] / per["size"]
    total_left, total = float(per["sum"].sum()), float(per["size"].sum())
    p_values, reasons = [], []
    bar = POSITION_ALPHA / max(len(per), 1)
    for w, r in per.iterrows():
        rest = total - r["size"]
        p0 = (total_left - r["sum"]) / rest if rest > 0 else 0.5
        p0 = min(max(p0, 1e-6), 1 - 1e-6)
        pv = float(binomtest(int(r["sum"]), int(r["size"]), p0).pvalue) if r["size"] else 1.0
        p_values.append(pv)
        share = r["sum"] / r["size"] if r["size"] else np.nan
        biased = r["size"] >= MIN_SIDED_JUDGMENTS and pv < bar and abs(share - p0) >= POSITION_MARGIN
        reasons.append(f"position bias: picked the left response in {share:.0%} of "
                       f"{int(r['size'])} judgments (the others: {p0:.0%}; binomial "
                       f"p = {pv:.1g})" if biased else "")
    out["left_p_value"] = p_values
    out["reason"] = reasons
    return out


def swap_consistency(judgments: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """Per worker, from swap probes (the same pair shown the other way round to a worker who
    judged it, their answer mapped back to the item's terms): ``swap_probes`` (probes whose
    item the worker also judged) and ``swap_consistency`` (the share answered as the item
    was: every field the same). Both frames in the contract's columns (task, worker,
    [field,] label); a worker with no probe is left out."""
    cols = ["swap_probes", "swap_consistency"]
    if not len(probes) or not len(judgments):
        return pd.DataFrame(columns=cols, index=pd.Index([], name="worker"))
    def answers(df: pd.DataFrame) -> pd.Series:
        field = df["field"].astype(str) if "field" in df.columns else pd.Series("", index=df.index)
        return (pd.DataFrame({"task": df["task"].astype(str), "worker": df["worker"].astype(str),
                              "pair": field + "\x1f" + df["label"].astype(str)})
                .groupby(["task", "worker"])["pair"].agg(lambda p: "\x1e".join(sorted(p))))
    both = pd.concat({"item": answers(judgments), "probe": answers(probes)}, axis=1,
                     join="inner")
    same = (both["item"] == both["probe"]).groupby(level="worker").agg(["size", "mean"])
    return same.rename(columns={"size": "swap_probes", "mean": "swap_consistency"})[cols] \
        .rename_axis("worker")
