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
from scipy import special

from qc.gold import wilson_interval

TINY = 1.0e-20  # (as scipy's linregress: keeps the t statistic finite at r = +-1)
DRIFT_COLUMNS = ["drift_n", "drift_slope", "drift_p_value", "drift_late_n",
                 "drift_late_accuracy", "drift_late_ci_high", "drift_since"]


def drift(scores: pd.Series, worker: pd.Series, created_at: pd.Series, *, bar: float,
          alpha: float = 0.05, window: float = 0.5, min_judgments: int = 5) -> pd.DataFrame:
    """Per worker (columns ``DRIFT_COLUMNS`` and ``drifted``, a bool): ``scores`` each
    judgment's chance of being right (NaN: not counted), ``worker`` and ``created_at`` its
    annotator and submission time, all three aligned. ``drift_since``: when the later part
    (the last ``window`` of the counted judgments) began."""
    s_all = scores.to_numpy(dtype=float)
    at = created_at.reset_index(drop=True)
    if not pd.api.types.is_datetime64_any_dtype(at):
        at = pd.to_datetime(at, utc=True)
    rows = np.flatnonzero(~np.isnan(s_all) & at.notna().to_numpy())
    # each worker's counted judgments in their submission order (ties as given), the
    # workers in the order they first appear (Arrow strings and tz-aware times stay as
    # they are: turning them into Python objects costs more than the test)
    code, workers = pd.factorize(worker.array[rows])
    order = np.lexsort((at.array[rows].asi8, code))
    g, s, rows = code[order], s_all[rows][order], rows[order]
    n = np.bincount(g, minlength=len(workers))
    start = np.cumsum(n) - n
    late = np.floor(window * n).astype(np.int64)
    flat = np.maximum.reduceat(s, start) == np.minimum.reduceat(s, start) if len(s) \
        else np.zeros(0, dtype=bool)
    keep = (late >= min_judgments) & (n - late >= 2) & ~flat
    # the least-squares slope of the scores on their rank, and its one-sided t test (what
    # scipy's linregress(alternative="less") computes, for every worker at once)
    nf = n.astype(float)
    rank = np.arange(len(s)) - start[g]
    dx = rank - ((nf - 1) / 2)[g]
    dy = s - (np.bincount(g, s, len(n)) / np.maximum(nf, 1))[g]
    with np.errstate(divide="ignore", invalid="ignore"):
        ssxm, ssxym, ssym = (np.bincount(g, v, len(n)) / nf for v in (dx * dx, dx * dy, dy * dy))
        r = np.clip(ssxym / np.sqrt(ssxm * ssym), -1.0, 1.0)
        df = nf - 2
        t = r * np.sqrt(df / ((1.0 - r + TINY) * (1.0 + r + TINY)))
        p_value = np.where(n > 2, special.stdtr(np.maximum(df, 1), t), 0.0)
        slope = ssxym / ssxm
    in_late = rank >= (n - late)[g]
    k = np.bincount(g[in_late], s[in_late], len(n))
    ci_high = wilson_interval(k, late)[1]
    since = at.iloc[rows[start + n - late][keep]] if keep.any() else at.iloc[:0]
    out = pd.DataFrame({"drift_n": n[keep], "drift_slope": (slope * nf)[keep],  # per their work
                        "drift_p_value": p_value[keep], "drift_late_n": late[keep],
                        "drift_late_accuracy": (k / np.maximum(late, 1))[keep],
                        "drift_late_ci_high": ci_high[keep], "drift_since": since.array},
                       index=pd.Index(workers[keep], name="worker"), columns=DRIFT_COLUMNS)
    out["drifted"] = (out["drift_p_value"] < alpha) & (out["drift_late_ci_high"] < bar)
    return out


def drift_reason(r) -> str:
    """Why a drifted worker is excluded, with the figures (``r``: a row of ``drift``)."""
    return (f"later work worse: over their last {int(r.drift_late_n)} of {int(r.drift_n)} "
            f"judgments (from {pd.Timestamp(r.drift_since):%Y-%m-%d %H:%M}) estimated accuracy "
            f"{r.drift_late_accuracy:.1%}, 95% interval up to {r.drift_late_ci_high:.1%}; "
            f"falling by {-r.drift_slope:.0%} over their work (trend p = {r.drift_p_value:.3f})")
