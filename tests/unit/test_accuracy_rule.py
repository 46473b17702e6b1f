"""The end-of-campaign accuracy rule (issue 10, L2): an annotator is excluded only when
their accuracy, estimated from gold *and* from agreement with the others, is confidently
under the bar. The issue's measured case: an expert at 3/5 on gold (60%) was excluded on
the point estimate, and delivered accuracy paid for it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qc.gold import estimated_accuracy
from qc.pipeline import QCConfig, run_layers


def campaign(seed: int, n_items: int = 80, n_gold: int = 5) -> tuple[pd.DataFrame, pd.Series,
                                                                          pd.Series]:
    """Pairwise work: 8 honest experts (90%) share the items 3 to an item; "unlucky" is an
    honest 90% expert who got 3 of the 5 gold right; "lucky" clicks at random on the work
    but got 3 of 5 gold right too. Both judge every item."""
    rng = np.random.default_rng(seed)
    items = [f"t{i}" for i in range(n_items)]
    gold_items = [f"g{i}" for i in range(n_gold)]
    truth = pd.Series(rng.choice(["a", "b"], n_items + n_gold), index=items + gold_items)
    flip = {"a": "b", "b": "a"}
    rows = []
    honest = [f"w{i}" for i in range(8)]
    for t in items + gold_items:
        y = truth[t]
        for w in rng.choice(honest, 2, replace=False):
            rows.append((t, w, y if rng.random() < 0.9 else flip[y]))
        for w in ("unlucky", "lucky"):
            if t in gold_items:
                rows.append((t, w, y if gold_items.index(t) < 3 else flip[y]))
            elif w == "unlucky":
                rows.append((t, w, y if rng.random() < 0.9 else flip[y]))
            else:
                rows.append((t, w, str(rng.choice(["a", "b"]))))
    data = pd.DataFrame(rows, columns=["task", "worker", "label"])
    return data, truth[gold_items], truth[items]


def test_an_unlucky_expert_is_kept_and_a_lucky_clicker_is_not() -> None:
    """(Over 80 items. Over 40, the clicker's 45 judgments leave the interval reaching 70%
    in 2 of 8 seeds: chance cannot always be told from 70% on so few.)"""
    for seed in range(5):
        data, gold, truth = campaign(seed)
        res = run_layers(data, gold, QCConfig(min_gold_accuracy=0.7))
        w = res.workers
        assert w.at["unlucky", "accuracy"] == w.at["lucky", "accuracy"] == 0.6  # 3/5 on gold
        assert list(w.index[w["excluded"]]) == ["lucky"], (seed, w["est_accuracy"].to_dict())
        assert w.at["lucky", "exclusion_reason"].startswith("estimated accuracy ")
        assert "gold 3/5" in w.at["lucky", "exclusion_reason"]
        # the point estimate on gold alone takes both: the honest one too
        point = run_layers(data, gold, QCConfig(min_gold_accuracy=0.7, gold_rule="point"))
        assert sorted(point.workers.index[point.workers["excluded"]]) == ["lucky", "unlucky"]
        # and delivers no more accurately than the interval rule
        def acc(r):
            out = r.outcome.set_index("task")["label"]
            return (out == truth.reindex(out.index)).mean()
        assert acc(res) >= acc(point) - 1 / len(truth)


def test_the_estimate_counts_gold_as_certain_and_the_rest_by_the_others() -> None:
    data, gold, _ = campaign(0)
    est = estimated_accuracy(data, gold)
    on_gold = data[data["task"].isin(gold.index)].groupby("worker").size()
    # every judgment has others beside it, so every one counts
    assert est["est_n"].to_dict() == data.groupby("worker").size().to_dict()
    assert (est["est_right"] <= est["est_n"]).all() and (est["est_ci_low"] <= est["est_accuracy"]).all()
    assert est.at["unlucky", "est_accuracy"] > 0.8 > 0.65 > est.at["lucky", "est_accuracy"]
    # a worker seen only on gold is their gold accuracy
    only = pd.concat([data, pd.DataFrame([("g0", "solo", gold["g0"]), ("g1", "solo", gold["g1"])],
                                         columns=["task", "worker", "label"])])
    solo = estimated_accuracy(only, gold).loc["solo"]
    assert solo["est_n"] == 2 and solo["est_right"] == 2.0
    assert on_gold["unlucky"] == 5


def test_nothing_judged_yet_is_nobody_excluded() -> None:
    """A tick before anyone has answered: gold exists, judgments do not."""
    data, gold, _ = campaign(0)
    res = run_layers(data.iloc[:0], gold, QCConfig())
    assert res.workers.empty and res.outcome.empty
    assert estimated_accuracy(data.iloc[:0], gold).empty
