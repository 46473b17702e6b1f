"""L5 for pairwise data: a global ranking of what was compared (responses, or the models
that wrote them) by Bradley–Terry, with intervals (pure).

``P(i beats j) = p_i / (p_i + p_j)``. The strengths are fitted by Hunter's MM algorithm
(2004), as crowd-kit's ``BradleyTerry`` does, with one difference: each item also plays half
a win and half a loss against a virtual item of strength 1 (a weak prior). An item that
never lost (or never won) then has a finite strength instead of an infinite one, and the
fit needs no strongly connected graph; with more than a handful of comparisons per item the
prior changes nothing visible. Scores are centred log-strengths; their 95% intervals come
from the observed Fisher information (the prior included, so it is invertible), for the
centred scores.

Items are ranked within the groups the comparisons connect (``component``): across groups
no comparison says which is better, and the report says so rather than inventing an order.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from qc.gold import Z95

RANKING_COLUMNS = ["item", "score", "ci_low", "ci_high", "wins", "comparisons", "component", "rank"]
#: the virtual opponent's weight: half a win and half a loss for every item
PRIOR = 0.5


def bradley_terry(comparisons: pd.DataFrame, *, max_iter: int = 10_000,
                  tol: float = 1e-12) -> pd.DataFrame:
    """``comparisons``: one row per judgment with ``left``, ``right`` and ``winner`` (equal
    to one of them; ties are left out by the caller). Returns one row per item, best
    first within each connected ``component`` (columns ``RANKING_COLUMNS``)."""
    if not len(comparisons):
        return pd.DataFrame(columns=RANKING_COLUMNS)
    bad = ~(comparisons["winner"].eq(comparisons["left"]) | comparisons["winner"].eq(comparisons["right"]))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} comparison(s) whose winner is neither side")
    codes, items = pd.factorize(pd.concat([comparisons["left"], comparisons["right"]],
                                          ignore_index=True))
    n = len(items)
    left, right = codes[:len(comparisons)], codes[len(comparisons):]
    left_won = (comparisons["winner"] == comparisons["left"]).to_numpy()
    winner = np.where(left_won, left, right)
    loser = np.where(left_won, right, left)
    wins = np.zeros((n, n))
    np.add.at(wins, (winner, loser), 1.0)
    games = wins + wins.T
    # the virtual opponent (index n, strength 1): PRIOR wins and PRIOR losses for each item
    w = wins.sum(axis=1) + PRIOR
    p = np.ones(n)
    for _ in range(max_iter):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1) + 2 * PRIOR / (p + 1.0)
        new = w / denom
        if np.abs(np.log(new) - np.log(p)).max() < tol:
            p = new
            break
        p = new
    theta = np.log(p) - np.log(p).mean()   # known up to a constant: centred
    # observed information of theta: a graph Laplacian of the comparisons, plus the prior
    q = p[:, None] * p[None, :] / (p[:, None] + p[None, :]) ** 2
    info = -games * q
    np.fill_diagonal(info, 0.0)
    np.fill_diagonal(info, -info.sum(axis=1) + 2 * PRIOR * p / (p + 1.0) ** 2)
    # the covariance of the centred scores (the common shift, which only the weak prior
    # pins down, is not uncertainty about the ranking)
    centre = np.eye(n) - 1.0 / n
    se = np.sqrt(np.clip(np.diag(centre @ np.linalg.inv(info) @ centre), 0.0, None))
    _, component = connected_components(csr_matrix(games > 0), directed=False)
    out = pd.DataFrame({"item": items, "score": theta, "ci_low": theta - Z95 * se,
                        "ci_high": theta + Z95 * se, "wins": wins.sum(axis=1).astype(int),
                        "comparisons": games.sum(axis=1).astype(int), "component": component})
    out = out.sort_values(["component", "score"], ascending=[True, False], kind="stable")
    out["rank"] = out.groupby("component").cumcount() + 1
    return out.reset_index(drop=True)[RANKING_COLUMNS]


def rankings_view(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The delivered ``rankings`` view: ``bradley_terry`` with ``model`` for the item compared
    (typed for Parquet)."""
    ranked = bradley_terry(comparisons).rename(columns={"item": "model"})
    return ranked.astype({"model": str, "score": "float64", "ci_low": "float64",
                          "ci_high": "float64", "wins": "float64", "comparisons": "int64",
                          "component": "int64", "rank": "int64"}).reset_index(drop=True)
