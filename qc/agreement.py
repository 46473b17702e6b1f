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


def _counts(data: pd.DataFrame) -> tuple[pd.Index, pd.Index, np.ndarray]:
    """tasks, labels, and the task x label count matrix."""
    t, tasks = pd.factorize(data["task"], sort=True)
    y, labels = pd.factorize(data["label"], sort=True)
    counts = np.zeros((len(tasks), len(labels)))
    np.add.at(counts, (t, y), 1.0)
    return pd.Index(tasks, name="task"), pd.Index(labels, name="label"), counts


def fleiss_kappa(annotations: pd.DataFrame) -> float:
    """Fleiss' kappa (nominal) over the tasks with at least two judgments, with the
    per-task agreement averaged over tasks (the same as statsmodels' ``fleiss_kappa`` when
    every task has the same number of judgments); NaN when undefined."""
    data = check_annotations(annotations)
    _, _, counts = _counts(data)
    n = counts.sum(axis=1)
    counts, n = counts[n >= 2], n[n >= 2]
    if not len(counts):
        return float("nan")
    p_item = ((counts * (counts - 1)).sum(axis=1)) / (n * (n - 1))
    p_label = counts.sum(axis=0) / n.sum()
    p_e = float((p_label ** 2).sum())
    if p_e == 1.0:
        return float("nan")
    return float((p_item.mean() - p_e) / (1.0 - p_e))


def cohen_kappa_matrix(annotations: pd.DataFrame, min_shared: int = 1) -> pd.DataFrame:
    """Cohen's kappa between every two workers, on the tasks both judged (at least
    ``min_shared``; NaN otherwise, and where kappa is undefined). Symmetric, 1 on the
    diagonal."""
    data = check_annotations(annotations)
    wide = data.pivot(index="task", columns="worker", values="label")
    workers = list(wide.columns)
    out = pd.DataFrame(np.nan, index=pd.Index(workers, name="worker"), columns=workers)
    cols = {w: wide[w].to_numpy() for w in workers}
    for i, a in enumerate(workers):
        out.iat[i, i] = 1.0
        for j in range(i + 1, len(workers)):
            b = workers[j]
            both = pd.notna(cols[a]) & pd.notna(cols[b])
            if both.sum() < min_shared:
                continue
            x, y = cols[a][both], cols[b][both]
            labels = np.union1d(x.astype(str), y.astype(str))
            xs, ys = x.astype(str), y.astype(str)
            p_o = float((xs == ys).mean())
            p_e = float(sum((xs == lab).mean() * (ys == lab).mean() for lab in labels))
            k = float("nan") if p_e == 1.0 else (p_o - p_e) / (1.0 - p_e)
            out.iat[i, j] = out.iat[j, i] = k
    return out


def alpha_without_each_worker(annotations: pd.DataFrame, level: Level = "nominal") -> pd.Series:
    """Krippendorff's alpha of the judgments with each worker left out (worker -> alpha):
    a worker whose absence raises alpha is one the others disagree with."""
    data = check_annotations(annotations)
    return pd.Series({w: krippendorff_alpha(data[data["worker"] != w], level)
                      for w in sorted(data["worker"].unique())}, name="alpha_without",
                     dtype=float).rename_axis("worker")


def item_agreement(annotations: pd.DataFrame) -> pd.Series:
    """Per task (with two or more judgments): the share of its pairs of judgments that
    agree (nominal)."""
    data = check_annotations(annotations)
    tasks, _, counts = _counts(data)
    n = counts.sum(axis=1)
    ok = n >= 2
    share = (counts * (counts - 1)).sum(axis=1)[ok] / (n * (n - 1))[ok]
    return pd.Series(share, index=tasks[ok], name="agreement")
