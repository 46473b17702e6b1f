"""L2: annotator accuracy on hidden gold items."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qc.contract import check_annotations, gold_series

#: the two-sided 95% normal quantile, exactly (scipy.stats.norm.ppf(0.975)), so the
#: intervals equal statsmodels' ``proportion_confint(method="wilson")``
Z95 = 1.959963984540054


def wilson_interval(successes: np.ndarray, n: np.ndarray,
                    z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval (95 % by default): (lower, upper), (0, 1) where n == 0."""
    n = np.asarray(n, dtype=float)
    p = np.divide(successes, n, out=np.zeros_like(n), where=n > 0)
    m = np.maximum(n, 1)
    denom = 1 + z * z / m
    centre = p + z * z / (2 * m)
    margin = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m ** 2))
    return (np.where(n > 0, (centre - margin) / denom, 0.0),
            np.where(n > 0, (centre + margin) / denom, 1.0))


def wilson_lower(successes: np.ndarray, n: np.ndarray, z: float = Z95) -> np.ndarray:
    """Lower bound of the Wilson score interval (0 where n == 0)."""
    return wilson_interval(successes, n, z)[0]


def gold_accuracy(annotations: pd.DataFrame, gold: pd.DataFrame | pd.Series,
                  tolerance: float = 0) -> pd.DataFrame:
    """Per worker: ``n_gold``, ``n_correct``, ``accuracy`` and its 95 % Wilson interval
    (``accuracy_ci_low``, ``accuracy_ci_high``).

    With ``tolerance`` > 0 labels are numeric (an ordinal scale) and an answer within
    ``tolerance`` of the gold one counts as correct. Workers with no gold judgments get
    n_gold 0 and accuracy NaN.
    """
    data = check_annotations(annotations)
    truth = gold_series(gold)
    workers = pd.Index(data["worker"].unique(), name="worker")
    on_gold = data[data["task"].isin(truth.index)]
    given, expected = on_gold["label"].to_numpy(), truth.loc[on_gold["task"]].to_numpy()
    if tolerance > 0:
        correct = np.abs(given.astype(float) - expected.astype(float)) <= tolerance
    else:
        correct = given == expected
    g = pd.DataFrame({"worker": on_gold["worker"].to_numpy(), "correct": correct})
    stats = g.groupby("worker")["correct"].agg(n_gold="size", n_correct="sum")
    stats = stats.reindex(workers, fill_value=0).astype("int64")
    n, k = stats["n_gold"].to_numpy(), stats["n_correct"].to_numpy()
    stats["accuracy"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    stats["accuracy_ci_low"], stats["accuracy_ci_high"] = wilson_interval(k, n)
    return stats
