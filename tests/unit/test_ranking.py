"""Bradley–Terry (L5, issue 10) against crowd-kit's on the same comparisons, and its
intervals against the truth they were drawn from."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from qc.ranking import bradley_terry


def comparisons(seed: int, n_items: int = 30, n: int = 3000) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    theta = pd.Series(rng.normal(0, 1, n_items), index=[f"m{i:02d}" for i in range(n_items)])
    a = rng.integers(0, n_items, n)
    b = (a + rng.integers(1, n_items, n)) % n_items
    p_a = 1 / (1 + np.exp(theta.to_numpy()[b] - theta.to_numpy()[a]))
    a_won = rng.random(n) < p_a
    left, right = theta.index[a], theta.index[b]
    data = pd.DataFrame({"worker": "w", "left": left, "right": right,
                         "winner": np.where(a_won, left, right)})
    return data, theta


def test_ranks_agree_with_crowd_kit_and_the_truth() -> None:
    from crowdkit.aggregation import BradleyTerry
    for seed in range(5):
        data, theta = comparisons(seed)
        ours = bradley_terry(data).set_index("item")
        theirs = BradleyTerry(n_iter=1000, tol=1e-12).fit_predict(
            data.rename(columns={"winner": "label"}))
        both = ours.join(theirs.rename("ck"))
        assert spearmanr(both["score"], both["ck"]).statistic >= 0.99
        assert spearmanr(both["score"], theta.reindex(both.index)).statistic >= 0.95
        assert list(ours["rank"].sort_values()) == list(range(1, len(ours) + 1))


def test_the_intervals_cover_the_true_strengths() -> None:
    covered, total = 0, 0
    for seed in range(10):
        data, theta = comparisons(100 + seed)
        r = bradley_terry(data).set_index("item")
        truth = (theta - theta.mean()).reindex(r.index)  # known up to a constant
        shift = (r["score"] - truth).mean()
        inside = (r["ci_low"] - shift <= truth) & (truth <= r["ci_high"] - shift)
        covered, total = covered + int(inside.sum()), total + len(r)
    assert 0.9 <= covered / total <= 0.99  # 95% intervals: neither too narrow nor too wide


def test_unconnected_groups_are_ranked_apart_and_undefeated_items_stay_finite() -> None:
    data = pd.DataFrame({"left": ["a", "a", "b", "x", "x"], "right": ["b", "c", "c", "y", "y"],
                         "winner": ["a", "a", "b", "x", "x"]})
    r = bradley_terry(data)
    assert r["score"].notna().all() and np.isfinite(r["score"]).all()
    groups = r.groupby("component")["item"].apply(list).tolist()
    assert sorted(map(sorted, groups)) == [["a", "b", "c"], ["x", "y"]]
    assert r.set_index("item").loc[["a", "x"], "rank"].tolist() == [1, 1]
