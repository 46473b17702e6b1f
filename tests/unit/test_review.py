"""L4, expert review (issue 10): the sample, the verdicts, the acceptance gate, the
corrections delivered, the review project's labeling config, and the simulated reviewer,
on hand-made data (the live campaign is in tests/integration/test_review.py)."""
from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from label_studio_sdk.label_interface import LabelInterface

from annoflow.spec import ReviewSpec
from annoflow.tasktypes import TASK_TYPES, get_task_type
from annoflow.tasktypes.base import choices_result
from connectors.label_studio import LSAnnotation, LSTask
from qc.pipeline import QCConfig, run_layers
from qc.review import apply_review, sample, second_looks, shown_answer, summarize, units
from simulation.answers import review
from tasks.review import SHOWN_FIELD, VERDICT_FIELD, read_verdicts, review_label_config
from tests.unit.test_task_types import spec_for

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _outcome(n: int) -> pd.DataFrame:
    return pd.DataFrame({"task": [f"i{k:02d}" for k in range(n)], "field": "preference",
                         "label": ["A" if k % 3 else "B" for k in range(n)],
                         "confidence": 0.9, "n_judgments": 3})


def _verdicts(rows: list[tuple[str, str, str, dict | None]]) -> pd.DataFrame:
    return pd.DataFrame([{"unit": u, "task": u, "writer": None, "reviewer": r, "verdict": v,
                          "correction_json": json.dumps(c) if c else None, "lead_time_s": 30.0,
                          "created_at": T0 + timedelta(seconds=i)}
                         for i, (u, r, v, c) in enumerate(rows)])


def test_the_sample_is_its_share_at_least_one_and_the_same_however_often_drawn() -> None:
    cand = units(_outcome(40), free_text=False)
    drawn = sample(cand, 0.1, seed="req-1")
    assert len(drawn) == 4 and set(drawn["unit"]) <= set(cand["unit"])
    again = sample(cand.sample(frac=1.0, random_state=3), 0.1, seed="req-1")
    assert list(again["unit"]) == list(drawn["unit"])
    assert list(sample(cand, 0.1, seed="req-2")["unit"]) != list(drawn["unit"])
    assert len(sample(cand, 0.001, seed="x")) == 1 and len(sample(cand, 1.0, seed="x")) == 40
    assert drawn.iloc[0]["answer"] == {"preference": _outcome(40).set_index("task").at[
        drawn.iloc[0]["task"], "label"]}


def test_acceptance_gates_only_when_confidently_under_the_bar() -> None:
    ok = summarize(_verdicts([(f"i{k}", "rev-1", "accept" if k < 9 else "correct",
                               {"preference": "B"} if k >= 9 else None) for k in range(10)]),
                   10, 0.8)
    assert ok.acceptance == 0.9 and ok.check().passed
    lo, hi = ok.interval
    assert 0.5 < lo < 0.9 < hi < 1.0
    low = summarize(_verdicts([(f"i{k}", "rev-1", "accept" if k < 2 else "reject", None)
                               for k in range(20)]), 20, 0.8)
    c = low.check()
    assert not c.passed and c.severity == "error" and "2 of 20" in c.summary
    unsure = summarize(_verdicts([(f"i{k}", "rev-1", "accept" if k < 6 else "reject", None)
                                  for k in range(8)]), 8, 0.8)
    assert unsure.interval[1] >= 0.8
    assert not unsure.check().passed and unsure.check().severity == "warning"
    none = summarize(_verdicts([]).reindex(columns=ok.verdicts.columns), 5, 0.8)
    assert not none.check().passed and none.check().severity == "error"


def test_a_reviewer_may_revise_their_verdict_the_latest_counts() -> None:
    s = summarize(_verdicts([("i1", "rev-1", "reject", None), ("i1", "rev-1", "accept", None)]),
                  1, 0.5)
    assert s.reviewed == 1 and s.count("accept") == 1


def _campaign_result():
    rng = random.Random(1)
    rows = []
    for t in range(12):
        truth = "A" if t % 2 else "B"
        for w in ("w1", "w2", "w3"):
            label = truth if rng.random() < 0.9 else ("B" if truth == "A" else "A")
            rows.append({"task": f"i{t:02d}", "worker": w, "field": "preference",
                         "label": label, "lead_time_s": 60.0, "is_gold": False})
    return run_layers(pd.DataFrame(rows), pd.DataFrame(columns=["task", "field", "label"]),
                      QCConfig(min_gold_accuracy=0.7))


def test_corrections_are_delivered_and_rejected_items_are_not() -> None:
    result = _campaign_result()
    before = result.outcome.set_index("task")
    flip = "A" if before.at["i03", "label"] == "B" else "B"
    s = summarize(_verdicts([("i01", "rev-1", "accept", None),
                             ("i03", "rev-2", "correct", {"preference": flip}),
                             ("i05", "rev-1", "reject", None)]), 3, 0.3)
    out = apply_review(result, s, free_text=False)
    after = out.outcome.set_index("task")
    assert after.at["i03", "label"] == flip and after.at["i03", "confidence"] == 1.0
    assert after.at["i01", "label"] == before.at["i01", "label"]
    assert "i05" not in after.index and "i05" in out.unresolved
    assert len(after) == len(before) - 1
    check = next(c for c in out.checks if c.name == "review_acceptance")
    assert check.layer == "L4" and check.passed  # 1 of 3 accepted, bar 30%
    st = out.stats()
    assert st.review["accepted"] == 1 and st.review["corrected"] == 1 and st.review["rejected"] == 1
    assert st.review["by_reviewer"] == {"rev-1": {"reviewed": 2, "accept": 1, "correct": 0, "reject": 1},
                                        "rev-2": {"reviewed": 1, "accept": 0, "correct": 1, "reject": 0}}
    assert st.items_unresolved == len(out.unresolved)


def test_free_text_units_are_texts_and_a_correction_replaces_the_text() -> None:
    outcome = pd.DataFrame({"task": ["p1", "p1", "p2"], "worker": ["w1", "w2", "w1"],
                            "value": ["good text", "weak", "other"]})
    cand = units(outcome, free_text=True)
    assert list(cand["unit"]) == ["p1/w1", "p1/w2", "p2/w1"]
    assert shown_answer(cand.iloc[1]["answer"]) == "weak"
    v = pd.DataFrame([{"unit": "p1/w2", "task": "p1", "writer": "w2", "reviewer": "r",
                       "verdict": "correct", "correction_json": json.dumps({"text": "fixed"}),
                       "lead_time_s": 1.0, "created_at": T0},
                      {"unit": "p2/w1", "task": "p2", "writer": "w1", "reviewer": "r",
                       "verdict": "reject", "correction_json": None, "lead_time_s": 1.0,
                       "created_at": T0}])
    from qc.pipeline import QCResult
    base = QCResult(workers=pd.DataFrame(), judgments=pd.DataFrame(), outcome=outcome,
                    unresolved=[], alpha=float("nan"), level="n/a", checks=[])
    out = apply_review(base, summarize(v, 2, 0.5), free_text=True)
    assert list(out.outcome["value"]) == ["good text", "fixed"]
    assert out.unresolved == ["p2"]
    # the pool's history: each reviewed text counts for its writer, accepted or not
    from qc.pipeline import expert_quality
    judged = pd.DataFrame({"task": ["p1", "p1", "p2"], "worker": ["w1", "w2", "w1"],
                           "flag": [None, None, None]})
    q = expert_quality(replace(out, workers=pd.DataFrame(index=pd.Index(["w1", "w2"])),
                               judgments=judged)).set_index("expert_id")
    assert q.loc["w1", "reviews"] == 2 + 1 and q.loc["w1", "reviews_accepted"] == 2 + 0
    assert q.loc["w2", "reviews"] == 1 + 1 and q.loc["w2", "reviews_accepted"] == 1 + 0


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES))
def test_the_review_config_is_valid_with_the_answer_shown_and_its_controls_optional(task_type) -> None:
    spec = spec_for(task_type)
    config = review_label_config(spec)
    LabelInterface(config).validate()
    assert f'name="{VERDICT_FIELD}"' in config and f'value="${SHOWN_FIELD}"' in config
    # only the verdict is required: accepting needs no answer
    assert config.count('required="true"') == 1


def _task(ref: str, *annotations: tuple[int, list]) -> LSTask:
    return LSTask(id=1, data={}, meta={"ref": ref}, overlap=1, updated_at=T0, annotations=tuple(
        LSAnnotation(id=i, completed_by=u, result=r, lead_time=20.0, was_cancelled=False,
                     created_at=T0 + timedelta(seconds=i), updated_at=T0)
        for i, (u, r) in enumerate(annotations)))


def test_verdicts_are_read_checked_and_kept_to_the_campaigns_reviewers() -> None:
    spec = spec_for("pairwise_preference")
    tt = get_task_type("pairwise_preference")
    drawn = pd.DataFrame({"unit": ["i1", "i2", "i3", "i4"], "task": ["i1", "i2", "i3", "i4"],
                          "writer": None, "ref": ["r1", "r2", "r3", "r4"]})
    verdict = lambda v: choices_result(VERDICT_FIELD, SHOWN_FIELD, [v])  # noqa: E731
    tasks = [
        _task("r1/i1", (7, [verdict("accept")])),
        _task("r2/i2", (7, [*tt.make_result(spec.task, {"preference": "b"}), verdict("correct")])),
        _task("r3/i3", (7, [verdict("correct")])),            # a correction without an answer
        _task("r4/i4", (99, [verdict("reject")])),            # not a reviewer of this campaign
        _task("zz/other", (7, [verdict("accept")])),          # not in the sample
    ]
    rows, unreadable = read_verdicts(spec, tasks, drawn, {7: "rev-1"})
    assert list(rows["unit"]) == ["i1", "i2"] and list(rows["verdict"]) == ["accept", "correct"]
    assert json.loads(rows.iloc[1]["correction_json"]) == {"preference": "b"}
    assert unreadable == {"i3"}
    rows, unreadable = read_verdicts(spec, [_task("r1/i1", (7, [verdict("maybe")]))], drawn,
                                     {7: "rev-1"})
    assert rows.empty and unreadable == {"i1"}


def test_a_simulated_reviewer_accepts_what_they_agree_with_and_corrects_the_rest() -> None:
    spec = spec_for("pairwise_preference")
    tt = get_task_type("pairwise_preference")
    truth = {"answer": {"preference": "a"}}
    rng = random.Random(0)
    assert review(tt, spec.task, truth, "preference: a", {}, accuracy=1.0, style=0, rng=rng) \
        == ("accept", None)
    assert review(tt, spec.task, truth, "preference: b", {}, accuracy=1.0, style=0, rng=rng) \
        == ("correct", {"preference": "a"})
    # one who sends back what they disagree with: rejected, to be judged again
    assert review(tt, spec.task, truth, "preference: b", {}, accuracy=1.0, style=0, rng=rng,
                  reject_share=1.0) == ("reject", None)
    assert review(tt, spec.task, truth, "preference: a", {}, accuracy=1.0, style=0, rng=rng,
                  reject_share=1.0) == ("accept", None)
    text = get_task_type("solution_authoring")
    tspec = spec_for("solution_authoring")
    good = review(text, tspec.task, {"text": "Use a lock."}, "In practice: Use a lock. Log it.",
                  {"prompt": "p"}, accuracy=1.0, style=0, rng=rng)
    assert good == ("accept", None)
    bad = review(text, tspec.task, {"text": "Use a lock."}, "ok", {"prompt": "p"},
                 accuracy=1.0, style=0, rng=random.Random(5))
    assert bad[0] in ("correct", "reject") and (bad[1] is None or "Use a lock." in bad[1]["solution"])


def test_an_item_judged_again_after_a_rejection_is_decided_by_its_second_review() -> None:
    result = _campaign_result()
    s = summarize(_verdicts([("i05", "rev-1", "reject", None), ("i07", "rev-1", "reject", None),
                             ("i05#2", "rev-2", "accept", None)]).assign(
        task=["i05", "i07", "i05"]), 3, 0.3)
    out = apply_review(result, s, free_text=False)
    assert "i05" in set(out.outcome["task"]) and "i07" not in set(out.outcome["task"])
    assert out.unresolved == ["i07"]
    assert out.stats().review["rejected"] == 2  # both rounds count in the acceptance rate


def test_the_second_look_at_a_rejection_is_another_reviewers() -> None:
    drawn = pd.DataFrame({"unit": ["i01", "i02", "i03", "i01#2", "i03#2"],
                          "task": ["i01", "i02", "i03", "i01", "i03"], "round": [1, 1, 1, 2, 2]})
    verdicts = _verdicts([("i01", "rev-1", "reject", None), ("i02", "rev-2", "reject", None),
                          ("i03", "rev-2", "reject", None)]).assign(task=["i01", "i02", "i03"])
    assert second_looks(drawn, verdicts, ["rev-1", "rev-2"]) == {"i01#2": ["rev-1"], "i03#2": ["rev-2"]}
    # nobody else to look: nobody is barred, the review still ends
    assert second_looks(drawn, verdicts, ["rev-2"]) == {"i01#2": ["rev-1"]}
    assert second_looks(drawn, verdicts, ["rev-1"]) == {"i03#2": ["rev-2"]}
    assert second_looks(drawn.iloc[:3], verdicts, ["rev-1", "rev-2"]) == {}


def test_a_rejected_item_is_judged_again_by_experts_who_have_not_judged_it() -> None:
    from types import SimpleNamespace

    from tasks.extra_judgments import redo_overlaps
    camp = SimpleNamespace(with_status=lambda s: ["w1", "w2", "w3", "w4", "w5"])
    judges = pd.Series({"i1": {"w1", "w2", "w3"}, "i2": {"w1", "w2", "w3", "w4", "w5"},
                        "i3": {"w1", "w2"}})
    assert redo_overlaps(camp, judges, {"i1": 3, "i2": 3, "i3": 1}) == {"i1": 5, "i3": 3}


def test_reviewers_come_from_the_pools_reviewer_skill_or_a_clear_error(unit_state_store) -> None:
    from annoflow.errors import DataError
    from connectors.state import StateStore
    from tasks.review import reviewer_shortlist
    from tests.conftest import REPO
    pool = pd.read_csv(REPO / "data/talent_pool.csv").set_index("expert_id")
    state = StateStore(unit_state_store)
    spec = spec_for("pairwise_preference")
    spec = spec.model_copy(update={"qc": spec.qc.model_copy(update={
        "review": ReviewSpec(reviewers=2)})})
    picked = reviewer_shortlist(spec, state, exclude=["ex-0018"], n=2)
    assert len(picked) == 2 and "ex-0018" not in set(picked["expert_id"])
    assert all(pool.at[e, "skills"] == "reviewer" for e in picked["expert_id"])
    odd = spec.model_copy(update={"qc": spec.qc.model_copy(update={
        "review": spec.qc.review.model_copy(update={"skill": "conductor"})})})
    with pytest.raises(DataError, match="skill 'conductor'.*What would fix it"):
        reviewer_shortlist(odd, state, exclude=[], n=2)


def test_items_still_unsure_after_their_extra_judgments_go_to_review() -> None:
    """Adjudication ends in review: the items the one rule for extra judgments still finds
    under qc.min_item_agreement (gold never) join the review whether sampled or not."""
    from types import SimpleNamespace

    from qc.pipeline import Agreement
    from tasks.review import unsure_of
    spec = spec_for("pairwise_preference")
    spec = spec.model_copy(update={"qc": spec.qc.model_copy(update={"min_item_agreement": 0.6})})
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3", "g1"],
                          "is_gold": [False, False, False, True]})
    agreement = Agreement(fleiss=0.5, fleiss_by_field={}, cohen=pd.DataFrame(),
                          alpha_without=pd.Series(dtype=float),
                          items=pd.Series({"i1": 1.0, "i2": 1 / 3, "i3": 0.5, "g1": 0.0}))
    result = SimpleNamespace(outcome=pd.DataFrame({"task": ["i1", "i2", "i3"], "field": "preference",
                                                   "label": "a", "confidence": 0.9}),
                             agreement=agreement)
    camp = SimpleNamespace(spec=spec, items=items)
    assert sorted(unsure_of(camp, result)) == ["i2", "i3"]

