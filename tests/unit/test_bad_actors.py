"""Planted bad actors on simulated campaigns with known truth (issue 10), offline: 20 seeds
of 300 pairwise items x 3 judgments, 10% gold, 20 experts, among them a fast random
clicker, a random clicker at a normal pace, an expert who picks the left response 80% of
the time, a careless expert (accuracy drifting from 0.9 to 0.6), and a copier in the odd
seeds; and a free-text campaign with a copy-paster (``simulation/campaigns.py``, measured
by ``scripts/bad_actors.py``, which prints the whole table).

What is asserted is what holds today; the issue's recall target (0.95 overall) does not:
the careless expert is mostly missed (the drift rule, ``qc.drift``, finds 5 of 20: a drift
from 0.9 to 0.6 over ~50 judgments is weak evidence even on the true answers) and half the
copiers are (BENCHMARKS.md has the figures). The bars below sit under today's figures
with a margin of about one actor."""
from __future__ import annotations

import pytest

from scripts.bad_actors import measure


@pytest.fixture(scope="module")
def figures() -> dict:
    return measure(20)


def test_detection_is_precise_and_finds_the_clickers_the_biased_the_copy_paster_and_some_drift(figures) -> None:
    assert figures["precision"] >= 0.95, figures["false_positives"].iloc[:, :6].to_string()
    found = {k: v["recall"] for k, v in figures["recall_by_kind"].items()}
    for kind in ("fast_clicker", "slow_clicker", "left_biased", "copy_paster"):
        assert found[kind] >= 0.85, (kind, found)
    assert found["careless"] >= 0.2, found  # 5 of 20 (3 before the drift rule)
    assert found["copier"] >= 0.4, found    # 5 of 10
    assert figures["recall"] >= 0.78, figures["recall"]  # 0.791


def test_delivered_accuracy_is_at_least_crowdkits_dawid_skene_and_calibrated(figures) -> None:
    acc = figures["accuracy"]
    ours = acc["qc"]["right"] / figures["work_items"]  # an item left unresolved counts as wrong
    assert ours >= acc["ds_all"]["accuracy"], acc
    assert figures["ece"] <= 0.05, figures["ece"]
