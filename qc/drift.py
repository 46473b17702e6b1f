"""L2: drift, an annotator whose later work is worse than their earlier work (pure).

Each judgment has a chance of being right (``qc.gold.judgment_scores``: gold right or
wrong, the rest the Dawid-Skene posterior of the given answer from the *other* annotators'
votes). Read in the annotator's own submission order (``created_at``), an expert who grows
careless shows it as a falling score. An annotator is flagged when both

* the trend is down beyond chance: the least-squares slope of the scores on their rank in
  the annotator's own order is negative, one-sided p under ``alpha`` (the t test of the
  slope; a monotone decline of any shape has a negative linear component), and
* their later work (the last ``window`` share of it, at least ``min_judgments`` judgments)
  is confidently under the bar: the 95% Wilson interval of its estimated accuracy lies
  under ``bar`` (the accuracy rule's ``min_gold_accuracy``).

Each clause alone fires on honest experts: the trend on one in twenty (by construction),
and the later part under the bar on an expert whose co-judges there were poor (the score
is relative to the others' answers). Both at once need a decline *to* under the bar, which
is what matters: an expert drifting from 0.95 to 0.85 is still fine. In the simulated
campaigns (``scripts/bad_actors.py``, 40 seeds) both clauses together flagged no honest
expert of 618. The power is modest: a drift from 0.9 to 0.6 over 50 judgments gives a
slope whose t statistic is about -1.4 even on the true right/wrong answers, so most such
experts are not flagged (BENCHMARKS.md has the figures).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import linregress

from qc.gold import wilson_interval

DRIFT_COLUMNS = ["drift_n", "drift_slope", "drift_p_value", "drift_late_n",
                 "drift_late_accuracy", "drift_late_ci_high", "drift_since"]


def drift(scores: pd.Series, worker: pd.Series, created_at: pd.Series, *, bar: float,
          alpha: float = 0.05, window: float = 0.5, min_judgments: int = 5) -> pd.DataFrame:
    """Per worker (columns ``DRIFT_COLUMNS`` and ``drifted``, a bool): ``scores`` each
    judgment's chance of being right (NaN: not counted), ``worker`` and ``created_at`` its
    annotator and submission time, all three aligned. ``drift_since``: when the later part
    (the last ``window`` of the counted judgments) began."""
    # (the times and workers as they are: to_numpy() makes a Timestamp object of each
    # tz-aware time, a str object of each Arrow string)
    frame = pd.DataFrame({"worker": worker.array, "at": created_at.reset_index(drop=True),
                          "s": scores.to_numpy(dtype=float)}).dropna(subset=["s", "at"])
    frame = frame.sort_values("at", kind="stable")
    # each worker's scores in their submission order, the workers in order of their first
    # (numpy slices: a pandas group per worker costs milliseconds each)
    code, workers = pd.factorize(frame["worker"])
    order = np.argsort(code, kind="stable")
    bounds = np.r_[np.searchsorted(code[order], np.arange(len(workers))), len(order)]
    scores_sorted, at = frame["s"].to_numpy()[order], frame["at"]
    rows = {}
    for i, w in enumerate(workers):
        s = scores_sorted[bounds[i]:bounds[i + 1]]
        n = len(s)
        late = int(np.floor(window * n))
        if late < min_judgments or n - late < 2 or np.ptp(s) == 0:
            continue
        fit = linregress(np.arange(n, dtype=float), s, alternative="less")
        k = s[n - late:].sum()
        rows[w] = {"drift_n": n, "drift_slope": float(fit.slope) * n,  # per their whole work
                   "drift_p_value": float(fit.pvalue), "drift_late_n": late,
                   "drift_late_accuracy": k / late,
                   "drift_late_ci_high": float(wilson_interval(np.array([k]),
                                                               np.array([late]))[1][0]),
                   "drift_since": at.iloc[order[bounds[i] + n - late]]}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=DRIFT_COLUMNS)
    out.index.name = "worker"
    out["drifted"] = (out["drift_p_value"] < alpha) & (out["drift_late_ci_high"] < bar)
    return out


def drift_reason(r) -> str:
    """Why a drifted worker is excluded, with the figures (``r``: a row of ``drift``)."""
    return (f"later work worse: over their last {int(r.drift_late_n)} of {int(r.drift_n)} "
            f"judgments (from {pd.Timestamp(r.drift_since):%Y-%m-%d %H:%M}) estimated accuracy "
            f"{r.drift_late_accuracy:.1%}, 95% interval up to {r.drift_late_ci_high:.1%}; "
            f"falling by {-r.drift_slope:.0%} over their work (trend p = {r.drift_p_value:.3f})")
