"""Pairs of annotators on the same unit, counted for all annotators at once (pure).

Statistics over every two annotators (Cohen's kappa matrix, copy detection) are sums over
the pairs of judgments that share a unit. Each unit of ``k`` judgments gives
``k (k - 1) / 2`` such pairs, so enumerating them costs what the judgments cost, and each
statistic is one ``np.bincount`` of the pairs' codes into a workers x workers matrix.
"""
from __future__ import annotations

import numpy as np


def co_judged(unit: np.ndarray, worker: np.ndarray, n_workers: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Every two rows on the same unit, as row numbers ``(a, b)`` with
    ``worker[a] < worker[b]``. ``unit`` and ``worker``: integer codes, each (unit, worker)
    at most once (the annotation contract)."""
    order = np.argsort(unit.astype(np.int64) * n_workers + worker, kind="stable")
    u = unit[order]
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for d in range(1, len(order)):  # rows d apart within a unit's run, for d = 1, 2, ...
        lo = np.flatnonzero(u[:-d] == u[d:])
        if not len(lo):
            break
        first.append(order[lo])
        second.append(order[lo + d])
    if not first:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(first), np.concatenate(second)


def pair_matrix(wa: np.ndarray, wb: np.ndarray, n_workers: int,
                weights: np.ndarray | None = None) -> np.ndarray:
    """The workers x workers matrix whose ``[i, j]`` sums ``weights`` (default 1) over the
    pairs with ``wa == i`` and ``wb == j`` (as float)."""
    flat = np.bincount(wa.astype(np.int64) * n_workers + wb, weights,
                       minlength=n_workers * n_workers)
    return flat.reshape(n_workers, n_workers).astype(float, copy=False)


def symmetric(upper: np.ndarray, diagonal: np.ndarray) -> np.ndarray:
    """``upper`` (counted over pairs ``a < b``) mirrored, with ``diagonal``."""
    full = upper + upper.T
    np.fill_diagonal(full, diagonal)
    return full
