"""The qualification gate (issue 8) without services: the spec and its qualification set,
how many are shortlisted, and the round's ticks on the in-memory fakes (Label Studio and S3;
the state store is the embedded SQLite on a temporary file). The answers arrive in the fake
Label Studio between ticks, as candidates would submit them."""
from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime, timezone
from itertools import count

import pandas as pd
import pytest
import yaml

from annoflow.errors import DataError, SpecError
from annoflow.items import prepare_qualification
from annoflow.records import ROW
from annoflow.roster import PASS_PRIOR, candidates_for, expected_pass_rate
from annoflow.spec import parse_spec
from annoflow.tasktypes import get_task_type
from connectors.label_studio import LSAnnotation
from connectors.pool_registry import PoolRegistry
from flows.campaign import tick
from tasks.submission import submit_campaign
from tests.conftest import REPO
from tests.unit.test_setup_stages import _services

QUAL = {"uri": "data/demo/qualification.jsonl", "items": 10, "pass_mark": 0.8}


def qualified_spec(qualification: dict | None = None, **workforce):
    doc = yaml.safe_load((REPO / "configs/requests/demo.yaml").read_text())
    doc["workforce"].update(qualification=qualification or QUAL, **workforce)
    return parse_spec(doc, base_dir=REPO)


def _read(path) -> pd.DataFrame:
    df = pd.read_json(path, lines=True, dtype=False)
    return df.assign(**{ROW: range(1, len(df) + 1)})


# -- the spec and its set --------------------------------------------------------------
def test_a_qualification_is_refused_on_free_text_work() -> None:
    doc = yaml.safe_load((REPO / "configs/requests/solution_authoring.yaml").read_text())
    doc["workforce"]["qualification"] = QUAL
    with pytest.raises(SpecError, match="workforce.qualification: task type solution_authoring"):
        parse_spec(doc, base_dir=REPO)


def test_the_set_is_read_picked_per_request_and_resolved_like_the_other_files() -> None:
    spec = qualified_spec()
    assert spec.workforce.qualification.uri == str(REPO / QUAL["uri"])
    items, problems = prepare_qualification(spec, _read(REPO / QUAL["uri"]),
                                            gold=_read(REPO / "data/demo/gold.jsonl"), ref_key=b"k")
    assert problems.empty and len(items) == 10 and items["item_id"].is_unique
    assert {json.loads(a)["preference"] for a in items["gold_answer"]} <= {"a", "b"}
    other = qualified_spec().model_copy(update={"request_id": "another-request"})
    items2, _ = prepare_qualification(other, _read(REPO / QUAL["uri"]), gold=None, ref_key=b"k")
    assert set(items2["ref"]).isdisjoint(items["ref"])  # refs say nothing across requests


@pytest.mark.parametrize("how", ["id", "content"])
def test_a_set_that_reuses_production_gold_is_refused_with_its_row(how) -> None:
    spec = qualified_spec()
    table, gold = _read(REPO / QUAL["uri"]), _read(REPO / "data/demo/gold.jsonl")
    if how == "id":
        table.loc[3, "item_id"] = gold.loc[0, "item_id"]
    else:
        for col in ("prompt", "response_a", "response_b"):
            table.loc[3, col] = gold.loc[5, col]
    _, problems = prepare_qualification(spec, table, gold=gold, ref_key=b"k")
    assert len(problems) == 1
    p = problems.iloc[0]
    assert p["row"] == 4 and p["field"] == "item_id" and "kept apart from the production gold" in p["problem"]


def test_too_few_or_bad_rows_are_named() -> None:
    spec = qualified_spec({**QUAL, "items": 50})
    table = _read(REPO / QUAL["uri"])
    _, problems = prepare_qualification(spec, table, gold=None, ref_key=b"k")
    assert problems.iloc[0]["problem"] == "the file has 12 item(s); the round needs 50"
    table.loc[2, "answer"] = "c"
    _, problems = prepare_qualification(qualified_spec(), table, gold=None, ref_key=b"k")
    assert list(problems[["row", "field"]].iloc[0]) == [3, "answer"]


def test_scoping_refuses_a_set_that_reuses_gold_and_records_nothing(tmp_path) -> None:
    table = _read(REPO / QUAL["uri"]).drop(columns=[ROW])
    gold = _read(REPO / "data/demo/gold.jsonl").drop(columns=[ROW])
    mixed = tmp_path / "qual.jsonl"
    pd.concat([table, gold.head(1)]).to_json(mixed, orient="records", lines=True)
    spec = qualified_spec({**QUAL, "uri": str(mixed)})
    svc = _services(tmp_path, spec)
    with pytest.raises(DataError, match=r"qual.jsonl: row 13, field item_id: its id is a "
                                        r"production gold item's"):
        submit_campaign(spec, svc=svc)
    assert svc.state.campaign(spec.request_id) is None and not svc.store.objects


def test_the_shortlist_covers_the_expected_failures() -> None:
    assert expected_pass_rate(0, 0) == PASS_PRIOR
    assert candidates_for(8, expected_pass_rate(0, 0)) == math.ceil(8 / PASS_PRIOR) == 12
    # a domain where most fail asks for more; one where all pass, for fewer (never < 1 each)
    assert expected_pass_rate(10, 90) < 0.3 and candidates_for(8, expected_pass_rate(10, 90)) > 24
    assert expected_pass_rate(200, 0) > 0.98 and candidates_for(8, expected_pass_rate(200, 0)) == 9
    assert expected_pass_rate(0, 10_000) == 0.2  # the floor: at most 5 per place
    assert candidates_for(0, 0.5) == 0


# -- the round on fakes -----------------------------------------------------------------
_ids = count(50_000)


def answer(svc, spec, *, user: int, right: int) -> None:
    """``user`` answers every qualification task, the first ``right`` of them correctly."""
    ls, tt = svc.ls, get_task_type(spec.task.type)
    qid = svc.state.campaign(spec.request_id).qualification_project_id
    items = svc.store.get_parquet(uri=svc.raw(spec.request_id).qualification).to_pandas()
    truth = dict(zip(items["ref"], items["gold_answer"].map(json.loads)))
    swapped = dict(zip(items["ref"], items["swapped"]))  # shown B left: clicked as seen
    now = datetime.now(timezone.utc)
    tasks = sorted((t for t in ls.tasks.values() if ls.task_project[t.id] == qid), key=lambda t: t.id)
    for n, t in enumerate(tasks):
        given = truth[t.meta["ref"]]
        if n >= right:
            given = {"preference": "b" if given["preference"] == "a" else "a"}
        if swapped[t.meta["ref"]]:
            given = tt.swap_answer(spec.task, given)
        a = LSAnnotation(id=next(_ids), completed_by=user, result=tt.make_result(spec.task, given),
                         lead_time=40.0, was_cancelled=False, created_at=now, updated_at=now)
        ls.tasks[t.id] = dataclasses.replace(t, annotations=(*t.annotations, a), updated_at=now)


def _users(svc, rid) -> dict[str, int]:
    ids = [e.expert_id for e in svc.state.roster_entries(rid)]
    return {e: r.ls_user_id for e, r in svc.state.experts(ids).items()}


def _status(svc, rid) -> dict[str, str]:
    return {e.expert_id: e.status for e in svc.state.roster_entries(rid)}


def test_candidates_qualify_in_a_project_of_their_own_and_only_passers_are_rostered(tmp_path) -> None:
    spec = qualified_spec(max_experts=4)
    svc = _services(tmp_path, spec)
    rid = spec.request_id
    scoped = submit_campaign(spec, svc=svc)
    n = len(scoped.candidates)
    assert n == math.ceil(4 / PASS_PRIOR) and scoped.plan.qualification.candidates == n
    assert set(_status(svc, rid).values()) == {"qualifying"}
    held = sum(e.booked_hours for e in svc.state.roster_entries(rid))
    assert held > 0  # the candidates hold their hours while they qualify
    first = tick(rid, svc)
    assert first.stage == "qualifying" and svc.state.campaign(rid).stage == "qualifying"
    rec = svc.state.campaign(rid)
    assert rec.ls_project_id is None and rec.qualification_project_id is not None
    qid = rec.qualification_project_id
    assert sum(p == qid for p in svc.ls.task_project.values()) == 10
    users = _users(svc, rid)
    assert len(users) == n and svc.ls.accesses[qid]["members"] == sorted(users.values())
    # everyone gets their login, pointing at the qualification project
    ranked = list(scoped.candidates["expert_id"])
    weak = ranked[:2]  # the two best-ranked are the weak ones: rank is no proof
    for e in ranked[2:5]:
        answer(svc, spec, user=users[e], right=9)
    for e in weak:
        answer(svc, spec, user=users[e], right=5)
    answer(svc, spec, user=users[ranked[5]], right=8)  # exactly the pass mark
    tick(rid, svc)
    status = _status(svc, rid)
    assert [status[e] for e in weak] == ["failed", "failed"]
    assert all(status[e] == "active" for e in ranked[2:6])
    # the roster is full: the one still answering is let go, and production starts
    assert all(status[e] == "released" for e in ranked[6:])
    rec = svc.state.campaign(rid)
    assert rec.stage == "producing" and rec.ls_project_id is not None
    assert svc.ls.accesses[rec.ls_project_id]["members"] == sorted(users[e] for e in ranked[2:6])
    assert svc.ls.accesses[qid]["members"] == []  # the round is closed
    # failures are in the pool with their score; their hours are free again
    recorded = PoolRegistry(svc.state).campaign_quality(rid).set_index("expert_id")
    assert list(recorded.loc[weak, "outcome"]) == ["qualification_failed"] * 2
    assert list(recorded.loc[weak, "qualification_score"]) == [0.5, 0.5]
    assert recorded.loc[ranked[5], "qualified"] and recorded.loc[ranked[5], "qualification_score"] == 0.8
    booked = {e.expert_id: e.booked_hours for e in svc.state.roster_entries(rid)}
    assert all(booked[e] == 0 for e in weak + ranked[6:]) and all(booked[e] > 0 for e in ranked[2:6])
    history = PoolRegistry(svc.state).quality(weak[0])[spec.domain]
    assert (history["gold_judged"], history["gold_right"]) == (10, 5)
    # recorded once: another tick changes nothing in the pool
    tick(rid, svc)
    assert PoolRegistry(svc.state).quality(weak[0])[spec.domain] == history


def test_when_too_many_fail_the_next_in_rank_are_shortlisted(tmp_path) -> None:
    spec = qualified_spec(max_experts=3)
    svc = _services(tmp_path, spec)
    rid = spec.request_id
    scoped = submit_campaign(spec, svc=svc)
    tick(rid, svc)
    users = _users(svc, rid)
    first = list(scoped.candidates["expert_id"])
    for i, e in enumerate(first):
        answer(svc, spec, user=users[e], right=9 if i == 0 else 3)
    tick(rid, svc)  # one passed, the rest failed: more are shortlisted
    status = _status(svc, rid)
    more = [e for e in status if e not in first]
    assert more and all(status[e] == "qualifying" for e in more)
    assert svc.state.campaign(rid).stage == "qualifying"
    tick(rid, svc)  # the new ones are onboarded and let in
    users = _users(svc, rid)
    qid = svc.state.campaign(rid).qualification_project_id
    assert set(svc.ls.accesses[qid]["members"]) >= {users[e] for e in more}
    for e in more:
        answer(svc, spec, user=users[e], right=10)
    tick(rid, svc)
    rec = svc.state.campaign(rid)
    assert rec.stage == "producing"
    assert len([s for s in _status(svc, rid).values() if s == "active"]) == 3


def test_planted_simulated_experts_are_the_ones_named_whatever_the_roster() -> None:
    """A planted group is the same people however many candidates are on the roster, so
    that bursts of the simulation agree on who is weak as the shortlist grows."""
    from simulation.workforce import GroupBehaviour, SimulationProfile, assign_behaviours
    profile = SimulationProfile(truth="t.jsonl", groups=[GroupBehaviour(
        name="weak", count=2, accuracy=0.3, expert_ids=["ex-0009", "ex-0002"])])
    for n in (5, 12, 30):
        roster = pd.DataFrame({"expert_id": [f"ex-{i:04d}" for i in range(1, n + 1)],
                               "ls_user_id": range(n)})
        weak = sorted(e.expert_id for e in assign_behaviours(roster, profile) if e.kind == "weak")
        # the named ones when on the roster; one drawn at random for the one who is not
        assert "ex-0002" in weak and len(weak) == 2
        assert (weak == ["ex-0002", "ex-0009"]) == (n >= 9)
