"""The ``rankings`` view (issue 10, L5): when a pairwise source names the models that wrote
each response, the delivered preferences rank them by Bradley–Terry, with intervals; the
model names never reach Label Studio."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from crowdkit.aggregation import BradleyTerry
from scipy.stats import spearmanr

from annoflow.errors import SpecError
from annoflow.items import prepare_items
from annoflow.records import ROW
from annoflow.spec import parse_spec
from annoflow.tasktypes import get_task_type
from qc.ranking import rankings_view
from tasks.delivery import check_delivery
from tests.unit.test_task_types import REPO, SPECS

STRENGTH = {"m-small": 0.0, "m-base": 0.6, "m-large": 1.2, "m-xl": 1.8, "m-pro": 2.4}


def _spec(**fields):
    doc = yaml.safe_load((REPO / "configs/requests" / SPECS["pairwise_preference"]).read_text())
    shown = {k: v for k, v in doc["source"]["fields"].items() if not k.startswith("model_")}
    doc["source"]["fields"] = {**shown, **fields}
    return parse_spec(doc, base_dir=REPO)


def _duel(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n items, each two distinct models; the delivered label drawn from Bradley–Terry."""
    rng = np.random.default_rng(seed)
    names = list(STRENGTH)
    rows, labels = [], []
    for i in range(n):
        a, b = rng.choice(names, 2, replace=False)
        p_a = 1 / (1 + np.exp(STRENGTH[b] - STRENGTH[a]))
        rows.append({"item_id": f"i{i}", "prompt": f"p{i}", "response_a": f"A{i}",
                     "response_b": f"B{i}", "model_a": a, "model_b": b})
        labels.append("a" if rng.random() < p_a else "b")
    items = pd.DataFrame(rows)
    outcome = pd.DataFrame({"task": items["item_id"], "field": "preference", "label": labels,
                            "confidence": 0.9, "n_judgments": 3})
    return items, outcome


def test_models_are_ranked_by_bradley_terry_with_intervals() -> None:
    spec = _spec(model_a="model_a", model_b="model_b")
    tt = get_task_type("pairwise_preference")
    items, outcome = _duel(600)
    assert [v.name for v in tt.delivery_views(spec.task, items, outcome)] == ["preference", "kto"]
    pairs = tt.comparisons(spec.task, items, outcome)
    assert len(pairs) == 600 and (pairs["winner"] == pairs["left"]).sum() == (outcome["label"] == "a").sum()
    ranked = rankings_view(pairs)
    assert list(ranked["model"]) == sorted(STRENGTH, key=STRENGTH.get, reverse=True)
    assert list(ranked["rank"]) == [1, 2, 3, 4, 5] and ranked["component"].eq(0).all()
    assert (ranked["ci_low"] < ranked["score"]).all() and (ranked["score"] < ranked["ci_high"]).all()
    assert ranked["comparisons"].sum() == 2 * 600
    # crowd-kit's Bradley-Terry orders them the same
    ck = BradleyTerry(n_iter=100).fit(pairs.rename(columns={"winner": "label"})).scores_
    ours = ranked.set_index("model")["score"].sort_index()
    assert spearmanr(ours, ck.reindex(ours.index)).statistic >= 0.99
    # the delivery's own checks pass on it (keyed by model, one row each)
    views = [(v.name, pa.Table.from_pandas(v.table, preserve_index=False))
             for v in tt.delivery_views(spec.task, items, outcome)]
    views.append(("rankings", pa.Table.from_pandas(ranked, preserve_index=False)))
    checks = check_delivery(spec, views, pa.table({"item_id": ["i0"], "annotator": ["x"],
                                                   "field": ["f"], "label": ["a"]}))
    assert all(c.passed for c in checks), [c.summary for c in checks if not c.passed]
    # graded: ties say nothing, and a negative score is A's win
    graded = _spec(model_a="model_a", model_b="model_b")
    graded = graded.model_copy(update={"task": graded.task.model_copy(
        update={"strength_levels": 2, "allow_tie": True})})
    scores = outcome.assign(label=["-2", "0", "1"] * 200)
    g = tt.comparisons(graded.task, items, scores)
    assert len(g) == 400 and (g["winner"] == g["left"]).sum() == 200


def test_without_model_columns_there_is_nothing_to_rank() -> None:
    spec = _spec()
    items, outcome = _duel(20)
    tt = get_task_type("pairwise_preference")
    assert tt.comparisons(spec.task, items.drop(columns=["model_a", "model_b"]), outcome) is None
    assert get_task_type("likert_rating").comparisons(None, items, outcome) is None


def test_the_model_fields_come_together_and_never_go_to_label_studio() -> None:
    with pytest.raises(SpecError, match=r"maps \['model_a'\] but not \['model_b'\]"):
        _spec(model_a="model_a")
    with pytest.raises(SpecError, match=r"unknown inputs \['author'\].*optionally"):
        _spec(author="author")
    spec = _spec(model_a="model_a", model_b="model_b")
    items, _ = _duel(10)
    items[ROW] = range(1, len(items) + 1)  # the reader's row numbers
    prepared = prepare_items(spec, items, None, ref_key=b"k")
    assert {"model_a", "model_b"} <= set(prepared.items.columns) and prepared.problems.empty
    tt = get_task_type("pairwise_preference")
    assert "model_a" not in tt.inputs  # the import sends the inputs only (tasks/production.py)
    # a row without its model is refused, naming the row and the field
    bad = items.assign(model_b=items["model_b"].where(items.index != 3, None))
    problems = prepare_items(spec, bad, None, ref_key=b"k").problems
    assert list(problems["field"]) == ["model_b"] and "empty" in problems.iloc[0]["problem"]


def test_the_report_draws_the_ranking() -> None:
    from qc.pipeline import QCConfig, run_layers
    from qc.report import qc_report_html
    items, outcome = _duel(300)
    pairs = get_task_type("pairwise_preference").comparisons(_spec().task, items, outcome)
    ranked = rankings_view(pairs)
    data = pd.DataFrame({"task": ["t1", "t1"], "worker": ["w1", "w2"], "label": ["a", "a"]})
    res = run_layers(data, pd.Series(dtype=str), QCConfig(min_gold_accuracy=0.0))
    html = qc_report_html(title="T", request_id="r", result=res, stats=res.stats(), names={},
                          min_gold_accuracy=0.7, rankings=ranked)
    assert "Bradley–Terry ranking of the models compared" in html
    assert "1. m-pro" in html and html.count("wins of") == len(STRENGTH)
