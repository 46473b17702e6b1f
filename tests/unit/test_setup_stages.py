"""Submission and the first tick on injected clients (``tasks.services``), without services:
scoping and recording a campaign (``submit_campaign``), onboarding its experts
(``onboard_experts``) and making its project (``setup_project``), then the whole way to
a delivery. Label Studio and S3 are the in-memory fakes of ``tests/support/fakes.py``, the
state store the embedded SQLite on a temporary file."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pandas as pd
import pytest

from annoflow.errors import ConnectorError, SpecError
from annoflow.settings import Settings
from annoflow.tasktypes import get_task_type
from connectors.pool_registry import PoolRegistry
from connectors.state import StateStore
from flows.campaign import tick
from simulation.workforce import load_profile
from tasks.production import read_synced
from tasks.services import Services
from tasks.submission import submit_campaign
from tests.conftest import REPO
from tests.support.fakes import FakeLabelStudio, Lock, MemoryStore, Published, Schedules
from tests.unit.test_good_campaigns import _good_judgments
from tests.unit.test_task_types import spec_for
from tests.unit.test_tick_stages import _tasks


def _services(tmp_path, spec, *, buckets: set[str] | None = None) -> Services:
    settings = Settings(state_url=f"sqlite:///{tmp_path / 'state.db'}",
                        raw_zone_uri="s3://raw-unit")
    state = StateStore(settings.state_url)
    PoolRegistry(state).import_file(str(REPO / "data/talent_pool.csv"))
    return Services(settings=settings, ls=FakeLabelStudio(),
                    store=MemoryStore(buckets={spec.delivery.bucket} if buckets is None else buckets),
                    state=state, publish=(published := Published()),
                    publish_table=published.table, lock=Lock(), stop_schedules=Schedules())


@pytest.fixture()
def spec():
    return spec_for("pairwise_preference")


def test_submission_records_the_campaign_and_books_its_roster_once(spec, tmp_path) -> None:
    svc = _services(tmp_path, spec)
    rid, raw = spec.request_id, svc.raw(spec.request_id)
    scoped = submit_campaign(spec, svc=svc)
    assert svc.lock.taken == ["bookings:pool"]  # the pool's hours are booked under its lock
    assert {raw.spec, raw.plan, raw.items, raw.roster} <= set(svc.store.objects)
    assert len(svc.store.get_parquet(uri=raw.items)) == len(scoped.items)
    roster = sorted(scoped.roster["expert_id"])
    assert sorted(svc.state.roster(rid)) == roster and svc.state.campaign(rid).stage == "submitted"
    booked = {e.expert_id: e.booked_hours for e in svc.state.roster_entries(rid)}
    assert set(booked) == set(roster) and sum(booked.values()) > 0
    on_file = svc.store.get_parquet(uri=raw.roster).to_pandas()
    assert not {"name", "email"} & set(on_file.columns)  # the raw zone holds no contact details
    assert [a["key"] for a in svc.publish.items] == [f"{rid}-plan", f"{rid}-staffing"]
    table = svc.publish.items[1]["table"]
    assert [r["expert_id"] for r in table] == list(scoped.roster["expert_id"])
    assert {"rank", "score", "domain_fit", "quality", "vetting", "cost", "availability"} <= set(table[0])
    # submitted again (the same spec): the roster and its bookings stay as recorded
    submit_campaign(spec, svc=svc)
    assert sorted(svc.state.roster(rid)) == roster
    assert {e.expert_id: e.booked_hours for e in svc.state.roster_entries(rid)} == booked


def test_submission_to_a_client_bucket_that_does_not_exist_records_nothing(spec, tmp_path) -> None:
    svc = _services(tmp_path, spec, buckets=set())
    with pytest.raises(ConnectorError, match="annoflow never creates a client's bucket"):
        submit_campaign(spec, svc=svc)
    assert svc.store.objects == {} and svc.state.campaign(spec.request_id) is None
    assert svc.store.buckets == set()


def test_an_edited_spec_needs_a_stated_change(spec, tmp_path) -> None:
    svc = _services(tmp_path, spec)
    submit_campaign(spec, svc=svc)
    edited = spec.model_copy(update={"title": spec.title + " (edited)"})
    with pytest.raises(SpecError, match="changed: title"):
        submit_campaign(edited, svc=svc)
    submit_campaign(edited, "a clearer title", svc=svc)
    stored = svc.store.get_bytes(uri=svc.raw(spec.request_id).spec)
    assert b"(edited)" in stored


def test_the_first_tick_onboards_the_experts_and_makes_the_project_once(spec, tmp_path) -> None:
    svc = _services(tmp_path, spec)
    rid, raw = spec.request_id, svc.raw(spec.request_id)
    scoped = submit_campaign(spec, svc=svc)
    result = tick(rid, svc)
    assert result.stage == "producing" and result.tasks_complete == 0
    ls = svc.ls
    assert ls.calls.count("create_project") == 1 and len(ls.projects) == 1
    (pid,) = ls.projects
    assert svc.state.campaign(rid).ls_project_id == pid
    # every item (gold among them) once, carrying only its inputs and its opaque ref
    items = scoped.items
    assert sorted(t.meta["ref"] for t in ls.tasks.values()) == sorted(items["ref"])
    inputs = set(get_task_type(spec.task.type).inputs)
    assert all(set(t.data) == inputs for t in ls.tasks.values())
    # the roster's experts are users and the project's members; gold are its probes
    experts = svc.state.experts(list(scoped.roster["expert_id"]))
    users = sorted(r.ls_user_id for r in experts.values())
    assert sorted(u.id for u in ls.users.values()) == users == ls.access["members"]
    by_ref = {t.meta["ref"]: t.id for t in ls.tasks.values()}
    assert ls.access["probes"] == sorted(by_ref[r] for r in items.loc[items["is_gold"], "ref"])
    on_file = svc.store.get_parquet(uri=raw.roster).to_pandas()
    assert sorted(on_file["ls_user_id"]) == users
    # the next tick makes nothing again
    calls = {c: ls.calls.count(c) for c in ("create_project", "import_tasks", "ensure_expert")}
    again = tick(rid, svc)
    assert again.stage == "producing" and len(ls.tasks) == len(items)
    assert {c: ls.calls.count(c) for c in calls} == calls


def test_a_project_made_just_before_a_crash_is_found_by_its_key(spec, tmp_path) -> None:
    svc = _services(tmp_path, spec)
    rid = spec.request_id
    submit_campaign(spec, svc=svc)
    # the last tick made the project and died before recording its id
    camp = svc.state.begin_campaign(request_id=rid, client=spec.client)
    made = svc.ls.create_project(key=camp.project_key, request_id=rid, title=spec.title,
                                 label_config="<View/>", overlap=2, description="made before")
    assert svc.state.campaign(rid).ls_project_id is None
    tick(rid, svc)
    assert svc.state.campaign(rid).ls_project_id == made.id and len(svc.ls.projects) == 1


def _judged_on_fakes(spec, svc: Services, repo):
    """Submit the campaign, make its project (first tick), and let good experts' judgments
    of every item arrive in the fake Label Studio, as people would submit them. Returns
    the scope, the experts' user ids and the judgments."""
    scoped = submit_campaign(spec, svc=svc)
    tick(spec.request_id, svc)
    experts = svc.state.experts(list(scoped.roster["expert_id"]))
    users = {e: r.ls_user_id for e, r in experts.items()}
    truth = pd.read_json(repo / load_profile(repo / "configs/simulation/demo.yaml").truth,
                         lines=True).set_index("item_id").to_dict("index")
    judged = _good_judgments(spec, scoped.items, scoped.roster, truth)
    done = {t.meta["ref"]: t for t in _tasks(spec, scoped.items, judged, users).values()}
    now = datetime.now(timezone.utc)
    for tid, t in list(svc.ls.tasks.items()):  # (a task changes when a judgment comes in)
        svc.ls.tasks[tid] = dataclasses.replace(t, annotations=done[t.meta["ref"]].annotations,
                                                updated_at=now)
    return scoped, users, judged


def test_a_campaign_on_fakes_goes_from_submission_to_its_delivery(spec, tmp_path, repo) -> None:
    """The experts' judgments arrive in (fake) Label Studio between ticks, as people would
    submit them: the campaign is delivered with every one of them, and stops."""
    svc = _services(tmp_path, spec)
    rid = spec.request_id
    scoped, users, judged = _judged_on_fakes(spec, svc, repo)
    result = tick(rid, svc)
    assert result.stage == "delivered" and result.synced == len(judged)
    assert svc.stop_schedules.stopped == [rid]
    synced = read_synced(svc.store, svc.raw(rid))
    assert len(synced) == len(judged) and set(synced["expert_id"]) == set(users)
    assert [u for u in svc.store.objects if u.endswith("manifest.json")] == \
        [f"{spec.delivery.uri}{rid}/v1/manifest.json"]
    # what QC measured of each expert went into their history in the pool, once
    pool = PoolRegistry(svc.state)
    history = {e: pool.quality(e)[spec.domain] for e in users}
    assert sum(h["judgments"] for h in history.values()) == len(judged)
    assert all(h["campaigns"] == 1 and h["gold_judged"] > 0 for h in history.values())
    from tasks.sourcing import record_feedback
    from tasks.operations import load_campaign
    from tasks.quality import assess
    camp = load_campaign(rid, svc)
    assert record_feedback.fn(camp, assess(spec, camp.items, synced, camp.removed), svc) == 0
    assert {e: pool.quality(e)[spec.domain] for e in users} == history


def test_the_manifest_has_every_figure_under_pseudonyms_checkable_from_the_delivery(
        spec, tmp_path, repo) -> None:
    """What a client can check: the manifest's qc section names annotators only by their
    pseudonyms, and its figures equal what the peers compute from the delivered judgments
    (``annotations.parquet``, kept ones): Krippendorff's alpha, Cohen's kappa for every
    pair, and each annotator's gold accuracy with its Wilson interval."""
    import io
    import json

    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.proportion import proportion_confint

    svc = _services(tmp_path, spec)
    rid = spec.request_id
    scoped, users, _ = _judged_on_fakes(spec, svc, repo)
    assert tick(rid, svc).stage == "delivered"
    base = f"{spec.delivery.uri}{rid}/v1/"
    raw_manifest = svc.store.objects[base + "manifest.json"].decode()
    assert not any(e in raw_manifest for e in users)  # no pool id anywhere
    qc = json.loads(raw_manifest)["qc"]
    ann = pd.read_parquet(io.BytesIO(svc.store.objects[base + "annotations.parquet"]))
    kept = ann[~ann["excluded"]]
    detail = {a["annotator"]: a for a in qc["annotators_detail"]}
    assert set(detail) == set(ann["annotator"])
    wide = kept.pivot(index="item_id", columns="annotator", values="label")
    codes = {v: i for i, v in enumerate(sorted(kept["label"].unique()))}
    assert abs(qc["krippendorff_alpha"] - krippendorff.alpha(
        reliability_data=wide.T.replace(codes).to_numpy(dtype=float),
        level_of_measurement="nominal")) < 1e-9
    pairs = 0
    for a, row in qc["cohen_kappa"].items():
        for b, k in row.items():
            both = wide[[a, b]].dropna()
            assert abs(k - cohen_kappa_score(both[a], both[b])) < 1e-9
            pairs += 1
    assert pairs >= 2
    gold = scoped.items[scoped.items["is_gold"]]
    answer = dict(zip(gold["item_id"], gold["gold_answer"].map(lambda a: json.loads(a)["preference"])))
    on_gold = ann[ann["is_gold"]]
    for a, g in on_gold.groupby("annotator"):
        right = int((g["label"] == g["item_id"].map(answer)).sum())
        lo, hi = proportion_confint(right, len(g), method="wilson")
        d = detail[a]
        assert (d["gold_judged"], d["gold_right"]) == (len(g), right)
        assert np.allclose(d["gold_accuracy_ci"], [lo, hi], atol=1e-9)
