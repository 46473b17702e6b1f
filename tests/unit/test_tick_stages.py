"""The tick's stages on injected clients (``tasks.services``), without services: Label
Studio and S3 are the in-memory fakes of ``tests/support/fakes.py``, the state store is
the embedded SQLite on a temporary file. Each stage is called as the tick calls it (its
function, without Prefect's task run around it)."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest

from annoflow.results import Progress
from annoflow.settings import Settings
from annoflow.tasktypes import get_task_type
from connectors.label_studio import LSAnnotation, LSTask
from connectors.state import StateStore
from tasks.extra_judgments import ask_for_more
from tasks.operations import act_on_quality, load_campaign, record_progress
from tasks.production import read_synced, sync_annotations
from tasks.services import Services
from tests.support.fakes import FakeLabelStudio, Lock, MemoryStore, Published, Schedules
from tests.unit.test_extra_judgments import _dynamic
from tests.unit.test_judgments import _campaign
from tests.unit.test_ticks import _spam

PROJECT = 1


def _tasks(spec, items: pd.DataFrame, synced: pd.DataFrame, users: dict[str, int]
           ) -> dict[int, LSTask]:
    """Label Studio's view of the judgments: one task per item, its annotations made from
    the answers as the labeling UI would store them (clicked on what was shown: an item
    shown the other way round gets the answer swapped)."""
    tt = get_task_type(spec.task.type)

    def clicked(r, answer_json: str) -> dict:
        given = json.loads(answer_json)
        return tt.swap_answer(spec.task, given) if getattr(r, "swapped", False) else given
    by_item = {i: g for i, g in synced.groupby("item_id")}
    out = {}
    for n, r in enumerate(items.itertuples(), start=1):
        rows = by_item.get(r.item_id, synced.iloc[:0])
        anns = tuple(LSAnnotation(
            id=int(a.annotation_id), completed_by=users[a.expert_id],
            result=tt.make_result(spec.task, clicked(r, a.answer_json)),
            lead_time=float(a.lead_time_s), was_cancelled=False,
            created_at=a.created_at.to_pydatetime(), updated_at=a.updated_at.to_pydatetime())
            for a in rows.itertuples())
        updated = max([a.updated_at for a in anns], default=pd.Timestamp("2026-11-01", tz="UTC"))
        out[n] = LSTask(id=n, data={}, meta={"ref": r.ref}, overlap=spec.workforce.annotators_per_item,
                        updated_at=updated, annotations=anns)
    return out


def _world(repo, tmp_path, *, dynamic: bool) -> dict:
    if dynamic:
        spec, sc, synced = _dynamic("pairwise_preference", repo, target=0.9, top=4)
    else:
        spec, sc, synced = _campaign("pairwise_preference", repo)
    roster = sc.roster.assign(ls_user_id=range(100, 100 + len(sc.roster)))
    users = dict(zip(roster["expert_id"], roster["ls_user_id"].astype(int)))
    settings = Settings(state_url=f"sqlite:///{tmp_path / 'state.db'}",
                        raw_zone_uri="s3://raw-unit")
    svc = Services(settings=settings, ls=FakeLabelStudio(tasks=_tasks(spec, sc.items, synced, users)),
                   store=MemoryStore(buckets={spec.delivery.bucket}),
                   state=StateStore(settings.state_url), publish=(published := Published()),
                   publish_table=published.table, lock=Lock(),
                   stop_schedules=Schedules())
    rid, raw = spec.request_id, svc.raw(spec.request_id)
    svc.state.begin_campaign(request_id=rid, client=spec.client)
    svc.state.set_project(request_id=rid, project_id=PROJECT)
    svc.state.set_roster(request_id=rid, expert_ids=list(roster["expert_id"]), actor="test")
    svc.state.set_stage(request_id=rid, stage="producing", actor="test")
    svc.store.put_bytes(uri=raw.spec, data=spec.model_dump_json().encode())
    svc.store.put_parquet(uri=raw.items, table=pa.Table.from_pandas(sc.items, preserve_index=False))
    svc.store.put_parquet(uri=raw.roster, table=pa.Table.from_pandas(roster, preserve_index=False))
    return {"spec": spec, "svc": svc, "synced": synced, "users": users}


@pytest.fixture()
def world(repo, tmp_path):
    """A campaign with every judgment in (fake) Label Studio, and dynamic overlap on."""
    return _world(repo, tmp_path, dynamic=True)


def test_load_campaign_reads_back_what_was_recorded(world) -> None:
    camp = load_campaign(world["spec"].request_id, world["svc"])
    assert camp.project_id == PROJECT and camp.stage == "producing" and camp.overlaps == {}
    assert set(camp.entries) == set(world["users"])
    assert all(e.status == "active" for e in camp.entries.values())


def test_sync_writes_each_annotation_once_and_then_only_what_changed(world) -> None:
    svc, spec = world["svc"], world["spec"]
    camp = load_campaign(spec.request_id, svc)
    first = sync_annotations.fn(spec, PROJECT, camp.items, camp.roster, full=True, svc=svc)
    assert first.fresh == len(world["synced"]) and first.reconciled is not None
    snapshots = svc.store.list_uris(prefix_uri=svc.raw(spec.request_id).annotations_prefix)
    assert len(snapshots) == 1
    again = sync_annotations.fn(spec, PROJECT, camp.items, camp.roster, full=False,
                                watermark=first.watermark, svc=svc)
    assert again.fresh == 0  # nothing changed: nothing written
    assert svc.store.list_uris(prefix_uri=svc.raw(spec.request_id).annotations_prefix) == snapshots
    # an expert changes one answer later: only that version is synced, as a new snapshot
    ls = svc.ls
    tid, task = next((i, t) for i, t in ls.tasks.items() if t.annotations)
    a = task.annotations[0]
    later = first.watermark + timedelta(minutes=5)
    edited = replace(a, result=get_task_type(spec.task.type).make_result(
        spec.task, {"preference": "a" if "left" not in json.dumps(a.result) else "b"}),
        updated_at=later)
    ls.tasks[tid] = replace(task, annotations=(edited, *task.annotations[1:]), updated_at=later)
    third = sync_annotations.fn(spec, PROJECT, camp.items, camp.roster, full=False,
                                watermark=again.watermark, svc=svc)
    assert third.fresh == 1
    latest = read_synced(svc.store, svc.raw(spec.request_id))
    assert latest["annotation_id"].is_unique and len(latest) == len(world["synced"])
    assert latest.set_index("annotation_id").at[a.id, "updated_at"] == pd.Timestamp(later)


def test_live_qc_shuts_a_spammer_out_in_label_studio_then_records_it(world) -> None:
    svc, spec = world["svc"], world["spec"]
    camp = load_campaign(spec.request_id, svc)
    synced = world["synced"]
    bad = synced.loc[synced["is_gold"], "expert_id"].value_counts().index[0]
    spammed = _spam(synced, bad, camp.items)
    camp, actions = act_on_quality.fn(camp, spammed, svc)
    assert [(a["action"], a["expert_id"], a["rule"]) for a in actions] == [("removed", bad, "gold")]
    assert svc.ls.access["removed"] == [world["users"][bad]]
    assert world["users"][bad] not in svc.ls.access["members"]
    assert camp.entries[bad].status == "removed"
    assert svc.state.roster_entries(spec.request_id) and \
        {e.expert_id: e.status for e in svc.state.roster_entries(spec.request_id)}[bad] == "removed"
    audit = svc.store.list_uris(prefix_uri=svc.raw(spec.request_id).base + "/audit/")
    assert len(audit) == 1 and json.loads(svc.store.get_bytes(uri=audit[0]))[0]["expert_id"] == bad
    assert svc.ls.calls.index("set_access") < svc.ls.calls.index("set_review")
    assert world["users"][bad] not in svc.ls.reviewed  # a removed expert is vouched for by nobody
    # the next tick, on the same evidence, does nothing again
    _, again = act_on_quality.fn(camp, spammed, svc)
    assert again == [] and len(svc.store.list_uris(
        prefix_uri=svc.raw(spec.request_id).base + "/audit/")) == 1


def test_extra_judgments_tell_label_studio_then_record(world) -> None:
    svc, spec = world["svc"], world["spec"]
    camp = load_campaign(spec.request_id, svc)
    synced = sync_annotations.fn(spec, PROJECT, camp.items, camp.roster, full=True,
                                 svc=svc).synced  # (Label Studio's task ids, as a tick has)
    camp, actions = ask_for_more.fn(camp, synced, svc)
    raised = {a["item_id"]: a["judgments"] for a in actions}
    assert raised and set(raised.values()) == {spec.workforce.annotators_per_item + 1}
    assert camp.overlaps == raised
    recorded = json.loads(svc.store.get_bytes(uri=svc.raw(spec.request_id).overlaps))
    assert recorded == raised and load_campaign(spec.request_id, svc).overlaps == raised
    by_ref = {t.meta["ref"]: t for t in svc.ls.tasks.values()}
    refs = camp.items.set_index("item_id")["ref"]
    assert all(by_ref[refs[i]].overlap == n for i, n in raised.items())
    untouched = set(camp.items["item_id"]) - set(raised)
    assert all(by_ref[refs[i]].overlap == spec.workforce.annotators_per_item for i in untouched)
    _, again = ask_for_more.fn(camp, synced, svc)
    assert again == [] and svc.ls.calls.count("set_overlaps") == 1
    snap = record_progress.fn(camp, synced, None, None, None, svc)
    assert snap.items_with_extra == len(raised) and snap.extra_judgments == len(raised)
    assert snap.tasks_complete == snap.tasks - len(raised)  # each waits for its extra one


def test_progress_is_written_where_status_reads_it_and_published(world) -> None:
    svc, spec = world["svc"], world["spec"]
    camp = load_campaign(spec.request_id, svc)
    snap = record_progress.fn(camp, world["synced"], None, None, None, svc)
    stored = Progress.model_validate_json(svc.store.get_bytes(uri=svc.raw(spec.request_id).progress))
    assert stored == snap and snap.tasks_complete == snap.tasks and not snap.alerts
    (art,) = svc.publish.items
    assert art["key"] == f"{spec.request_id}-status"
    assert f"**{snap.tasks}/{snap.tasks}** items complete" in art["markdown"]


def test_at_the_end_an_expert_the_end_rules_exclude_is_removed_unless_it_strands_the_campaign(
        world) -> None:
    svc, spec = world["svc"], world["spec"]
    camp = load_campaign(spec.request_id, svc)
    synced = sync_annotations.fn(spec, PROJECT, camp.items, camp.roster, full=True, svc=svc).synced
    bad = synced.loc[synced["is_gold"], "expert_id"].value_counts().index[0]
    spammed = _spam(synced, bad, camp.items)
    # every item judged, live QC kept them: the end rules take them off, Label Studio first
    after, actions = ask_for_more.fn(camp, spammed, svc)
    assert [(a["expert_id"], a["rule"]) for a in actions] == [(bad, "end")]
    assert actions[0]["reason"].startswith("end-of-campaign rules: estimated accuracy")
    assert after.entries[bad].status == "removed" and svc.ls.access["removed"] == [world["users"][bad]]
    # with too few experts left to judge their items again, nobody is taken off
    k = spec.workforce.annotators_per_item
    others = [e for e in camp.entries if e != bad]
    for e in others[k - 1:]:
        svc.state.change_roster(request_id=spec.request_id, expert_id=e, status="released",
                                reason="test", actor="test")
    svc.state.change_roster(request_id=spec.request_id, expert_id=bad, status="active",
                            reason=None, actor="test")
    few = load_campaign(spec.request_id, svc)
    assert len(few.with_status("active")) == k
    kept, more = ask_for_more.fn(few, spammed, svc)
    assert not [a for a in more if a["action"] == "removed"]
    assert kept.entries[bad].status == "active"  # excluded at delivery instead


# -- the tick itself, on the same fakes ---------------------------------------------------
def test_a_tick_syncs_and_delivers_once_every_item_is_judged(repo, tmp_path) -> None:
    from flows.campaign import tick
    w = _world(repo, tmp_path, dynamic=False)
    svc, rid = w["svc"], w["spec"].request_id
    result = tick(rid, svc)
    assert result.stage == "delivered" and result.synced == len(w["synced"])
    assert result.tasks_complete == result.tasks > 0
    assert svc.lock.taken == [rid] and svc.stop_schedules.stopped == [rid]
    assert svc.state.campaign(rid).stage == "delivered"
    manifests = [u for u in svc.store.objects if u.endswith("/v1/manifest.json")]
    assert manifests == [f"{w['spec'].delivery.uri}{rid}/v1/manifest.json"]
    assert {a["key"] for a in svc.publish.items} == {f"{rid}-status", f"{rid}-qc", f"{rid}-delivery"}
    # the next tick finds it delivered: nothing more is done, its schedules stay off
    again = tick(rid, svc)
    assert again.skipped == "stopped" and svc.lock.taken == [rid]
    assert [u for u in svc.store.objects if u.endswith("manifest.json")] == manifests


def test_a_tick_that_finds_the_lock_taken_does_nothing(world) -> None:
    from flows.campaign import tick
    svc, rid = world["svc"], world["spec"].request_id
    svc.lock.busy = True
    result = tick(rid, svc)
    assert result.stage == "busy" and result.skipped
    assert not svc.store.list_uris(prefix_uri=svc.raw(rid).annotations_prefix)


def test_a_tick_asks_for_more_judgments_and_does_not_deliver_before_they_come(world) -> None:
    from flows.campaign import tick
    svc, rid = world["svc"], world["spec"].request_id
    result = tick(rid, svc)
    raised = [a for a in result.actions if a["action"] == "overlap_raised"]
    assert raised and result.stage == "producing"
    assert result.tasks_complete == result.tasks - len(raised)
    assert not [u for u in svc.store.objects if u.endswith("manifest.json")]
