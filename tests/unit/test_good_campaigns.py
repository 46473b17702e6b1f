"""Campaigns in which every expert is good: the case every client hopes for.

QC used to crash when nobody was under the gold bar (pandas' ``apply`` on zero rows). Each
task type is run here from its example spec and demo data through scoping, simulated good
judgments (made and parsed as Label Studio results), QC and the model-ready views.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from annoflow.delivery import model_views
from annoflow.records import RAW_ANNOTATION_SCHEMA
from annoflow.tasktypes import get_task_type
from qc.checks import gate
from qc.pipeline import QCConfig, run_layers, run_text_layers
from simulation.answers import answer
from simulation.workforce import load_profile
from tasks.quality import assess
from tasks.scoping import scope
from tests.unit.test_task_types import SPECS, spec_for

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_five_good_workers_with_gold_are_all_kept() -> None:
    """The issue's reproducer: 5 workers, 40 tasks at 90 % accuracy, 10 gold tasks."""
    rng = np.random.default_rng(1)
    truth = {f"t{i}": "ab"[i % 2] for i in range(40)}
    gold = {f"g{i}": "ab"[i % 2] for i in range(10)}
    rows = [(t, f"w{k}", y if rng.random() < 0.9 else "ba"["ab".index(y)], 60.0 + k)
            for t, y in {**truth, **gold}.items() for k in range(5)]
    data = pd.DataFrame(rows, columns=["task", "worker", "label", "lead_time_s"])
    res = run_layers(data, pd.Series(gold), QCConfig(min_gold_accuracy=0.7))
    assert not res.workers["excluded"].any()
    assert res.workers["exclusion_reason"].isna().all()
    assert res.workers["n_gold"].eq(10).all()
    gold_check = next(c for c in res.checks if c.name == "gold_accuracy")
    assert gold_check.passed and gold_check.metrics["below_threshold"] == []
    assert set(res.outcome["task"]) == set(truth)
    gate(res.checks, res.stats())


def test_too_little_gold_to_judge_anyone() -> None:
    """With fewer gold judgments than min_gold_judgments nobody can be judged (or crash)."""
    data = pd.DataFrame([(t, w, "a", 30.0) for t in ("t1", "t2", "g1") for w in ("x", "y", "z")],
                        columns=["task", "worker", "label", "lead_time_s"])
    res = run_layers(data, pd.Series({"g1": "a"}), QCConfig(min_gold_judgments=5))
    assert not res.workers["excluded"].any()
    assert next(c for c in res.checks if c.name == "gold_accuracy").metrics["too_few_gold"] == ["x", "y", "z"]


def test_every_writer_clean() -> None:
    prompts = pd.Series({"p1": "Explain merging sorted arrays.", "p2": "How to store passwords?"})
    rows = [("p1", "a", "Walk both arrays with two indices, taking the smaller head.", 40.0),
            ("p2", "a", "Hash with argon2id and a per-user salt; store only the hash.", 50.0),
            ("p1", "b", "Use two pointers and append the smaller element each step.", 45.0),
            ("p2", "b", "Never store them in clear: use a slow salted password hash.", 55.0)]
    data = pd.DataFrame(rows, columns=["task", "worker", "label", "lead_time_s"])
    res = run_text_layers(data, prompts, QCConfig(min_chars=20))
    assert not res.workers["excluded"].any()
    assert len(res.outcome) == 4
    gate(res.checks, res.stats())


def _good_judgments(spec, items: pd.DataFrame, roster: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Every item judged by annotators_per_item good experts (every expert on gold), each
    answer made as a Label Studio result and parsed back as the sync does."""
    tt = get_task_type(spec.task.type)
    experts = list(roster["expert_id"])
    rng = random.Random(3)
    rows = []
    for r in items.itertuples():
        who = experts if r.is_gold else rng.sample(experts, spec.workforce.annotators_per_item)
        for k, e in enumerate(who):
            given = answer(tt, spec.task, truth[r.item_id], {"prompt": getattr(r, "prompt", "")},
                           accuracy=0.92, spammer=False, style=experts.index(e), rng=rng)
            result = tt.make_result(spec.task, given)
            at = T0 + timedelta(seconds=len(rows))
            rows.append({"annotation_id": len(rows) + 1, "ls_task_id": 1, "item_id": r.item_id,
                         "is_gold": bool(r.is_gold), "expert_id": e,
                         "answer_json": json.dumps(tt.parse_result(spec.task, result), sort_keys=True),
                         "lead_time_s": rng.lognormvariate(0, 0.4) * 70, "was_cancelled": False,
                         "created_at": at, "updated_at": at, "result_json": json.dumps(result)})
    return pd.DataFrame(rows, columns=RAW_ANNOTATION_SCHEMA.names)


@pytest.mark.parametrize("task_type", sorted(SPECS))
def test_a_campaign_of_good_experts_delivers(task_type: str, repo) -> None:
    spec = spec_for(task_type)
    sc = scope(spec)
    profile = load_profile(repo / "configs/simulation" /
                           ("demo.yaml" if task_type == "pairwise_preference" else SPECS[task_type]))
    truth = pd.read_json(repo / profile.truth, lines=True).set_index("item_id").to_dict("index")
    synced = _good_judgments(spec, sc.items, sc.roster, truth)
    res = assess(spec, sc.items, synced)
    assert not res.workers["excluded"].any(), res.workers["exclusion_reason"].dropna().to_dict()
    gate(res.checks, res.stats())  # nothing blocks delivery
    views = model_views(spec, sc.items, res.outcome, key=b"k")
    assert views[0][1].num_rows >= 0.95 * sc.prepared.n_items
