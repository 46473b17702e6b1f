"""Position bias (L1, issue 10): an annotator's left-pick rate against the others', with a
binomial test; the order shown may be swapped per row."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from qc.behaviour import position_bias
from qc.pipeline import QCConfig, run_layers

SIDES = {"a": "left", "b": "right"}


def pairwise(seed: int, *, biased: str | None = None, n_items: int = 300, k: int = 3,
             n_workers: int = 12, swapped: bool = False) -> pd.DataFrame:
    """Pairs whose better response is 'a' on 70% of items (an unbalanced set); honest
    workers right 85% of the time; ``biased`` picks what is shown on the left 80% of the
    time. With ``swapped`` the two responses are shown in a random order per item."""
    rng = np.random.default_rng(seed)
    workers = [f"w{i:02d}" for i in range(n_workers)]
    rows = []
    for i in range(n_items):
        better = "a" if rng.random() < 0.7 else "b"
        swap = bool(swapped and rng.random() < 0.5)
        for w in rng.choice(workers, k, replace=False):
            if w == biased:
                left = rng.random() < 0.8
                label = ("b" if swap else "a") if left else ("a" if swap else "b")
            else:
                label = better if rng.random() < 0.85 else ("b" if better == "a" else "a")
            rows.append((f"t{i}", w, label, swap))
    return pd.DataFrame(rows, columns=["task", "worker", "label", "swapped"])


def test_a_left_clicker_is_found_and_the_p_value_is_scipys() -> None:
    data = pairwise(1, biased="w03", swapped=True)
    out = position_bias(data, SIDES)
    assert list(out.index[out["reason"].ne("")]) == ["w03"]
    assert out.at["w03", "reason"].startswith("position bias: picked the left response in ")
    assert out.at["w03", "left_share"] > 0.7
    d = data[data["worker"] == "w03"]
    left = ((d["label"] == "a") ^ d["swapped"]).sum()
    others = data[data["worker"] != "w03"]
    p0 = ((others["label"] == "a") ^ others["swapped"]).mean()
    assert out.at["w03", "left_p_value"] == binomtest(int(left), len(d), p0).pvalue


def test_an_unbalanced_set_shown_in_a_fixed_order_flags_nobody_honest() -> None:
    """70% of the better responses are on the left when nothing is swapped: honest experts
    pick left 65% of the time, as the others do; nobody is flagged in 20 campaigns."""
    for seed in range(20):
        out = position_bias(pairwise(100 + seed, swapped=seed % 2 == 0), SIDES)
        assert not out["reason"].ne("").any(), seed


def test_qc_excludes_the_biased_annotator_and_reports_it() -> None:
    data = pairwise(2, biased="w05", swapped=True)
    res = run_layers(data, pd.Series(dtype=str), QCConfig(min_gold_accuracy=0.0, sides=SIDES))
    assert list(res.workers.index[res.workers["excluded"]]) == ["w05"]
    check = next(c for c in res.checks if c.name == "position_bias")
    assert check.metrics["flagged"] == ["w05"] and check.metrics["left_share"]["w05"] > 0.7
    straight = next(c for c in res.checks if c.name == "straight_lining")
    assert straight.passed


def test_the_report_charts_each_annotators_left_share() -> None:
    from qc.report import qc_report_html
    res = run_layers(pairwise(3, biased="w01", swapped=True), pd.Series(dtype=str),
                     QCConfig(min_gold_accuracy=0.0, sides=SIDES))
    html = qc_report_html(title="T", request_id="r", result=res, stats=res.stats(),
                          names={w: w.replace("w", "ann-") for w in res.workers.index},
                          min_gold_accuracy=0.7)
    assert 'aria-label="Position bias: share of picks on the left response"' in html
