"""Copy detection (L1, issue 10): an annotator whose answers match one particular other's far
beyond what their accuracies explain, submitted after them, is flagged, both are named, and
the copier is excluded; accurate experts who simply agree are not."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qc.copying import copy_pairs
from qc.pipeline import QCConfig, run_layers


def campaign(seed: int, *, copier: bool, n_items: int = 300, k: int = 3, n_workers: int = 20,
             labels: str = "ab") -> tuple[pd.DataFrame, pd.Series]:
    """Items judged by k of n workers with accuracies 0.7-0.95; with ``copier``, worker w19
    judges every item w00 judges, a minute after them, copying their answer 90% of the time."""
    rng = np.random.default_rng(seed)
    truth = pd.Series(rng.choice(list(labels), n_items), index=[f"t{i}" for i in range(n_items)])
    acc = dict(zip([f"w{i:02d}" for i in range(n_workers)], rng.uniform(0.7, 0.95, n_workers)))
    honest = [w for w in acc if not (copier and w == "w19")]
    rows = []
    start = pd.Timestamp("2026-11-01", tz="UTC")
    for i, (task, y) in enumerate(truth.items()):
        for w in rng.choice(honest, k, replace=False):
            right = rng.random() < acc[w]
            label = y if right else rng.choice([x for x in labels if x != y])
            at = start + pd.Timedelta(minutes=i) + pd.Timedelta(seconds=int(rng.integers(0, 50)))
            rows.append((task, w, label, at))
            if copier and w == "w00":
                copied = label if rng.random() < 0.9 else rng.choice(list(labels))
                rows.append((task, "w19", copied, at + pd.Timedelta(seconds=60)))
    data = pd.DataFrame(rows, columns=["task", "worker", "label", "created_at"])
    return data, truth


def test_a_copier_is_flagged_with_the_one_they_copy_and_excluded() -> None:
    data, _ = campaign(1, copier=True)
    pairs = copy_pairs(data)
    assert list(zip(pairs["copier"], pairs["source"])) == [("w19", "w00")]
    assert pairs.iloc[0]["shared_errors"] > pairs.iloc[0]["expected_errors"]
    assert pairs.iloc[0]["p_value"] < 0.05
    assert pairs.iloc[0]["follow_share"] == 1.0
    res = run_layers(data, pd.Series(dtype=str), QCConfig(min_gold_accuracy=0.0))
    assert list(res.workers.index[res.workers["excluded"]]) == ["w19"]
    assert res.workers.at["w19", "exclusion_reason"].startswith("copying w00: the same answer on ")
    check = next(c for c in res.checks if c.name == "copying")
    assert not check.passed and check.metrics["pairs"][0]["source"] == "w00"


def test_nobody_is_flagged_in_honest_campaigns() -> None:
    """20 campaigns of independent experts (some very accurate, so they agree a lot), two
    and four labels: no pair is flagged."""
    for seed in range(20):
        data, _ = campaign(100 + seed, copier=False, labels="ab" if seed % 2 else "abcd")
        assert copy_pairs(data).empty, seed


def test_without_times_nothing_is_flagged_and_turns_taken_invent_no_copier() -> None:
    """Without submission times there is no telling copying from shared difficulty: nothing
    is flagged. A pair that took turns (neither mostly after the other) is not a copier."""
    data, _ = campaign(2, copier=True, n_items=1000)
    assert copy_pairs(data.drop(columns=["created_at"])).empty
    pair = data["worker"].isin(["w00", "w19"])
    flip = pair & (data.groupby("task").cumcount() % 2 == 0)
    mixed = data.assign(created_at=data["created_at"].where(~flip, data["created_at"] + pd.Timedelta(hours=1)))
    assert copy_pairs(mixed).empty
    assert not copy_pairs(data).empty  # (the same campaign with its times: found)


def test_two_copying_judges_of_three_are_found() -> None:
    """Three judges to an item and the copier one of them: the pair is the plurality of
    every item they share, so their shared mistakes show only against the third judge.
    The offline bad-actor campaigns (20 seeds, a copier in the 10 odd ones): no copier was
    found before; now half are, and nobody else (the others share under 20 items with
    their source, or too few mistakes to tell)."""
    from simulation.campaigns import pairwise_campaign
    found = 0
    for seed in range(20):
        camp = pairwise_campaign(seed)
        planted = {w for w, k in camp.experts["kind"].items() if k == "copier"}
        named = set(copy_pairs(camp.judgments)["copier"])
        assert named <= planted, (seed, named, planted)
        found += len(named)
    assert found >= 5, found


def test_over_twenty_campaigns_copiers_are_found_and_nobody_else() -> None:
    """20 campaigns with a copier (two and four labels; the copier shadows one expert over
    ~45 items) and the 20 honest campaigns above: recall at least 0.9, nobody else named."""
    found, others = 0, 0
    for seed in range(20):
        data, _ = campaign(500 + seed, copier=True, labels="ab" if seed % 2 else "abcd")
        pairs = copy_pairs(data)
        found += ("w19", "w00") in list(zip(pairs["copier"], pairs["source"]))
        others += int((pairs["copier"] != "w19").sum())
    assert found >= 18 and others == 0
