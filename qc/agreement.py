"""L3: inter-annotator agreement.

``krippendorff_alpha`` works straight from the long contract through the coincidence
matrix, so it scales to millions of judgments without a dense worker x item matrix.
Checked against the ``krippendorff`` package in the tests.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from qc.contract import check_annotations

Level = Literal["nominal", "ordinal", "interval"]


def _delta2(values: np.ndarray, n_c: np.ndarray, level: Level) -> np.ndarray:
    c = len(values)
    if level == "nominal":
        return 1.0 - np.eye(c)
    if level == "interval":
        v = values.astype(float)
        return (v[:, None] - v[None, :]) ** 2
    if level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        i, k = np.meshgrid(np.arange(c), np.arange(c), indexing="ij")
        lo, hi = np.minimum(i, k), np.maximum(i, k)
        between = cum[hi + 1] - cum[lo]
        return (between - (n_c[i] + n_c[k]) / 2.0) ** 2
    raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval', got {level!r}")


def krippendorff_alpha(annotations: pd.DataFrame, level: Level = "nominal") -> float:
    """Krippendorff's alpha of the judgments; NaN when it is undefined (no pairable
    units, or only one value in use). Ordinal and interval labels must be numeric."""
    data = check_annotations(annotations)
    labels = data["label"]
    if level != "nominal":
        labels = pd.to_numeric(labels, errors="raise")
    task_codes, _ = pd.factorize(data["task"])
    values, label_codes = np.unique(labels.to_numpy(), return_inverse=True)
    counts = np.zeros((task_codes.max() + 1 if len(task_codes) else 0, len(values)))
    np.add.at(counts, (task_codes, label_codes), 1.0)
    m = counts.sum(axis=1)
    pairable = m >= 2
    counts, m = counts[pairable], m[pairable]
    if counts.size == 0:
        return float("nan")
    weighted = counts / (m - 1)[:, None]
    o = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_c = o.sum(axis=0)
    n = n_c.sum()
    d2 = _delta2(values, n_c, level)
    d_e = (np.outer(n_c, n_c) * d2).sum()
    if n <= 1 or d_e == 0:
        return float("nan")
    return float(1.0 - (n - 1) * (o * d2).sum() / d_e)
