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
from qc.pairs import co_judged, pair_matrix, symmetric

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
    label_codes, values = pd.factorize(labels, sort=True)  # (np.unique: a slow object sort)
    values = values.to_numpy()
    n_tasks = task_codes.max() + 1 if len(task_codes) else 0
    counts = np.bincount(task_codes * len(values) + label_codes,
                         minlength=n_tasks * len(values)).reshape(n_tasks, len(values)).astype(float)
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
    counts = np.bincount(t * len(labels) + y, minlength=len(tasks) * len(labels)) \
        .reshape(len(tasks), len(labels)).astype(float)
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
    diagonal. Computed for all pairs at once over the pairs of judgments sharing a task
    (``qc.pairs``), so hundreds of workers over a million judgments take a fraction of a
    second."""
    data = check_annotations(annotations)
    t, _ = pd.factorize(data["task"])
    w, workers = pd.factorize(data["worker"], sort=True)
    y, labels = pd.factorize(data["label"].astype(str))
    k = len(workers)
    ra, rb = co_judged(t, w, k)
    wa, wb, ya, yb = w[ra], w[rb], y[ra], y[rb]
    n = np.bincount(w, minlength=k).astype(float)
    shared = symmetric(pair_matrix(wa, wb, k), n)
    agree = symmetric(pair_matrix(wa, wb, k, (ya == yb).astype(float)), n)
    chance = np.zeros_like(shared)
    for label in range(len(labels)):  # a's share of label l on the shared tasks, times b's
        a_gave, b_gave = ya == label, yb == label
        # [a, b]: tasks both judged where a gave l (a's own tasks on the diagonal)
        a_l = pair_matrix(np.r_[wa[a_gave], wb[b_gave]], np.r_[wb[a_gave], wa[b_gave]], k)
        np.fill_diagonal(a_l, np.bincount(w[y == label], minlength=k))
        chance += a_l * a_l.T
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = agree / shared
        p_e = chance / shared ** 2
        kappa = (p_o - p_e) / (1.0 - p_e)
    kappa[(shared < max(min_shared, 1)) | (chance == shared ** 2)] = np.nan
    np.fill_diagonal(kappa, 1.0)
    return pd.DataFrame(kappa, index=pd.Index(workers, name="worker"), columns=list(workers))


def alpha_without_each_worker(annotations: pd.DataFrame, level: Level = "nominal") -> pd.Series:
    """Krippendorff's alpha of the judgments with each worker left out (worker -> alpha):
    a worker whose absence raises alpha is one the others disagree with.

    Nominal and interval alpha come from per-unit sums, so each worker's absence changes
    only the units they judged: all workers at once, in one pass over the judgments.
    Ordinal alpha depends on the marginals through ranks; it is recomputed per worker."""
    data = check_annotations(annotations)
    if level == "ordinal":
        return pd.Series({w: krippendorff_alpha(data[data["worker"] != w], level)
                          for w in sorted(data["worker"].unique())}, name="alpha_without",
                         dtype=float).rename_axis("worker")
    if level not in ("nominal", "interval"):
        raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval', got {level!r}")
    t, _ = pd.factorize(data["task"])
    w, workers = pd.factorize(data["worker"], sort=True)
    if level == "nominal":
        y, labels = pd.factorize(data["label"])
        feats = np.eye(len(labels))[y]                     # one-hot: sums are counts
    else:
        v = pd.to_numeric(data["label"], errors="raise").to_numpy(dtype=float)
        feats = np.column_stack([v, v * v])                # sums: S1, S2
    units = np.stack([np.bincount(t, feats[:, j], t.max() + 1) for j in range(feats.shape[1])],
                     axis=1)  # (np.add.at's sums, in the same order)
    m = np.bincount(t).astype(float)

    def parts(sums: np.ndarray, m: np.ndarray):
        """Per unit: observed disagreement (times m - 1 divided back), pairable values
        and their feature sums (units with fewer than two values drop out)."""
        ok = m >= 2
        if level == "nominal":
            d = np.where(ok, (m * m - (sums * sums).sum(axis=1)) / np.where(ok, m - 1, 1), 0.0)
        else:
            s1, s2 = sums[:, 0], sums[:, 1]
            d = np.where(ok, 2 * (m * s2 - s1 * s1) / np.where(ok, m - 1, 1), 0.0)
        return d, np.where(ok, m, 0.0), sums * ok[:, None]

    d_all, n_all, f_all = parts(units, m)
    d_row, n_row, f_row = parts(units[t] - feats, m[t] - 1)   # each unit without that judgment
    dd, nn = d_row - d_all[t], n_row - n_all[t]
    ff = f_row - f_all[t]
    k = len(workers)
    D = d_all.sum() + np.bincount(w, dd, k)
    N = n_all.sum() + np.bincount(w, nn, k)
    F = f_all.sum(axis=0) + np.stack([np.bincount(w, ff[:, j], k)
                                      for j in range(ff.shape[1])], axis=1)
    if level == "nominal":
        expected = N * N - (F * F).sum(axis=1)               # sum over c != k of n_c n_k
    else:
        expected = 2 * (N * F[:, 1] - F[:, 0] ** 2)          # sum of n_c n_k (c - k)^2
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (N - 1) * D / expected
    alpha[(N <= 1) | (expected <= 1e-12 * np.maximum(N * N, 1))] = np.nan
    return pd.Series(alpha, index=pd.Index(workers, name="worker"), name="alpha_without")


def item_agreement(annotations: pd.DataFrame) -> pd.Series:
    """Per task (with two or more judgments): the share of its pairs of judgments that
    agree (nominal)."""
    data = check_annotations(annotations)
    tasks, _, counts = _counts(data)
    n = counts.sum(axis=1)
    ok = n >= 2
    share = (counts * (counts - 1)).sum(axis=1)[ok] / (n * (n - 1))[ok]
    return pd.Series(share, index=tasks[ok], name="agreement")
