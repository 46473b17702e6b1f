"""annoflow's state store on a SQLite file: Alembic migrations (from nothing, and of a
database made before Alembic), stages, rosters, booked hours and the audit log."""
from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from annoflow.errors import AnnoflowError, ConnectorError
from connectors import state as st
from connectors.state import CampaignRecord, RosterEntry, StateStore


@pytest.fixture()
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'annoflow-state.db'}"


@pytest.fixture()
def store(url) -> StateStore:
    return StateStore(url)


def _columns(engine: sa.Engine, table: str) -> dict[str, dict]:
    return {c["name"]: c for c in sa.inspect(engine).get_columns(table)}


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as c:
        return st.schema_revision(c)


# -- migrations ----------------------------------------------------------------------
def test_migrations_from_nothing_make_the_schema_of_the_code(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert _revision(store.engine) == st.schema_head() == "0005"
    assert set(sa.inspect(store.engine).get_table_names()) == {
        "alembic_version", "campaigns", "experts", "campaign_specs", "rosters", "audit_log",
        "pool_experts", "pool_domains", "pool_quality", "pool_campaign_quality"}
    with store.engine.connect() as c:
        ctx = MigrationContext.configure(c, opts={"compare_type": True,
                                                  "compare_server_default": True})
        assert compare_metadata(ctx, st.META) == []
    assert "ix_audit_log_request_id" in {
        i["name"] for i in sa.inspect(store.engine).get_indexes("audit_log")}


def test_the_head_the_store_checks_is_the_scripts_head():
    from alembic.script import ScriptDirectory
    scripts = ScriptDirectory(str(st.MIGRATIONS_DIR))
    assert scripts.get_heads() == [st.SCHEMA_HEAD]
    assert [s.revision for s in scripts.walk_revisions()][-1] == st.BASELINE_REVISION


def test_opening_at_head_does_not_run_alembic(url, monkeypatch):
    StateStore(url)

    def boom(*_a, **_k):
        raise AssertionError("alembic ran on a database at head")
    monkeypatch.setattr(st, "_upgrade", boom)
    again = StateStore(url)
    assert again.campaigns() == []


def _old_tables(meta: sa.MetaData, *, with_specs: bool = True) -> None:
    """The tables as ``create_all`` made them before Alembic."""
    sa.Table("campaigns", meta,
             sa.Column("request_id", sa.String(200), primary_key=True),
             sa.Column("client", sa.String(200), nullable=False),
             sa.Column("project_key", sa.String(64), nullable=False),
             sa.Column("ls_project_id", sa.Integer, nullable=True),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
    sa.Table("experts", meta,
             sa.Column("expert_id", sa.String(200), primary_key=True),
             sa.Column("ls_user_id", sa.Integer, nullable=False, unique=True),
             sa.Column("login", sa.String(254), nullable=False, unique=True),
             sa.Column("handle", sa.String(100), nullable=False),
             sa.Column("password_enc", sa.Text, nullable=True),
             sa.Column("password_issued_at", sa.DateTime(timezone=True), nullable=True))
    if with_specs:
        sa.Table("campaign_specs", meta,
                 sa.Column("request_id", sa.String(200), primary_key=True),
                 sa.Column("seq", sa.Integer, primary_key=True),
                 sa.Column("spec_sha256", sa.String(64), nullable=False),
                 sa.Column("spec_json", sa.Text, nullable=False),
                 sa.Column("reason", sa.Text, nullable=False),
                 sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False))
    sa.Table("rosters", meta,
             sa.Column("request_id", sa.String(200), primary_key=True),
             sa.Column("expert_id", sa.String(200), primary_key=True))


@pytest.mark.parametrize("with_specs", [True, False], ids=["baseline", "older-than-specs"])
def test_a_database_made_before_alembic_keeps_its_data(tmp_path, with_specs):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    _old_tables(meta, with_specs=with_specs)
    meta.create_all(engine)
    created = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    with engine.begin() as c:
        c.execute(meta.tables["campaigns"].insert().values(
            request_id="r1", client="Acme", project_key="k" * 32, ls_project_id=7,
            created_at=created))
        c.execute(meta.tables["rosters"].insert(), [
            {"request_id": "r1", "expert_id": "e2"}, {"request_id": "r1", "expert_id": "e1"}])
        c.execute(meta.tables["experts"].insert().values(
            expert_id="e1", ls_user_id=11, login="e1@x", handle="E1", password_enc="sealed",
            password_issued_at=created))
    engine.dispose()

    store = StateStore(url)
    assert _revision(store.engine) == st.schema_head()
    assert {"stage", "stage_reason", "stage_at", "result_json"} <= set(_columns(store.engine, "campaigns"))
    assert {"status", "reason", "changed_at", "booked_hours"} <= set(_columns(store.engine, "rosters"))
    assert sa.inspect(store.engine).has_table("audit_log")
    assert sa.inspect(store.engine).has_table("campaign_specs")
    assert store.campaign("r1") == CampaignRecord("r1", "Acme", "k" * 32, 7, stage="scoped")
    assert store.roster("r1") == ["e1", "e2"]
    assert store.roster_entries("r1") == [RosterEntry("e1"), RosterEntry("e2")]
    assert store.experts()["e1"].password_issued_at == created   # read back UTC-aware
    assert store.booked_hours() == {"e1": 0.0, "e2": 0.0}
    # and the store works on it as on a new one
    assert store.set_stage(request_id="r1", stage="submitted")
    assert store.bind_campaign(request_id="r1", client="Acme", spec_json='{"a": 1}').stage == "submitted"
    assert StateStore(url).campaign("r1").stage == "submitted"


def test_a_database_newer_than_the_code_is_refused(url):
    store = StateStore(url)
    with store.engine.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(ConnectorError, match="0999"):
        StateStore(url)


def test_an_unopenable_store_is_a_connector_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConnectorError, match="cannot be opened"):
        StateStore(f"sqlite:///{blocker / 'state.db'}")      # its directory cannot be made
    with pytest.raises(ConnectorError, match="cannot be opened"):
        StateStore(f"sqlite:///{tmp_path}")                   # a directory, not a database


def test_two_threads_open_one_new_file_at_once(url):
    barrier, errors, stores = threading.Barrier(4), [], []

    def open_it() -> None:
        barrier.wait()
        try:
            stores.append(StateStore(url))
        except Exception as err:  # noqa: BLE001 - the test reports it
            errors.append(err)
    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(stores) == 4
    assert _revision(stores[0].engine) == st.schema_head()


def _open_in_process(url: str, barrier, results) -> None:
    barrier.wait()
    try:
        StateStore(url).begin_campaign(request_id="r", client="c")
        results.put("ok")
    except Exception as err:  # noqa: BLE001 - reported to the parent
        results.put(f"{type(err).__name__}: {err}")


def test_two_processes_open_one_new_file_at_once(url):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_open_in_process, args=(url, barrier, results)) for _ in range(3)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert outcomes == ["ok"] * 3
    store = StateStore(url)
    assert [c.request_id for c in store.campaigns()] == ["r"]


# -- campaigns and stages ------------------------------------------------------------
def test_stage_changes_are_audited(store):
    rec = store.begin_campaign(request_id="r1", client="Acme")
    assert (rec.stage, rec.stage_reason, rec.stage_at, rec.result_json) == ("scoped", None, None, None)

    assert store.set_stage(request_id="r1", stage="submitted") is True
    assert store.set_stage(request_id="r1", stage="submitted", reason="again") is False
    assert store.set_stage(request_id="r1", stage="paused", reason="by the manager", actor="tick")
    rec = store.campaign("r1")
    assert (rec.stage, rec.stage_reason) == ("paused", "by the manager")
    assert rec.stage_at.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - rec.stage_at).total_seconds()) < 60

    log = store.audit_log("r1")
    assert [(a["action"], a["actor"], a["detail"]) for a in log] == [
        ("stage", "cli", {"stage": "submitted", "reason": None, "from": "scoped"}),
        ("stage", "tick", {"stage": "paused", "reason": "by the manager", "from": "submitted"})]
    assert log[0]["id"] < log[1]["id"]
    assert datetime.fromisoformat(log[0]["at"]).tzinfo is not None
    assert store.audit_log("r1", since_id=log[0]["id"]) == log[1:]
    assert store.audit_log("other") == []

    with pytest.raises(AnnoflowError):
        store.set_stage(request_id="nope", stage="submitted")


def test_campaigns_and_results(store):
    for rid in ("r2", "r1"):
        store.begin_campaign(request_id=rid, client="Acme")
    store.save_result(request_id="r1", result_json='{"ok": true}')
    assert [c.request_id for c in store.campaigns()] == ["r1", "r2"]
    assert store.campaign("r1").result_json == '{"ok": true}'
    assert store.campaign("r2").result_json is None
    with pytest.raises(AnnoflowError):
        store.save_result(request_id="nope", result_json="{}")


def test_bind_campaign_still_refuses_a_changed_spec(store):
    from annoflow.errors import SpecError
    store.bind_campaign(request_id="r1", client="Acme", spec_json='{"a": 1}')
    with pytest.raises(SpecError, match="different spec"):
        store.bind_campaign(request_id="r1", client="Acme", spec_json='{"a": 2}')
    store.bind_campaign(request_id="r1", client="Acme", spec_json='{"a": 2}', change_reason="why")
    history = store.spec_history("r1")
    assert [h["reason"] for h in history] == ["first run", "why"]
    assert all(h["recorded_at"].tzinfo is not None for h in history)


# -- rosters -------------------------------------------------------------------------
def test_adding_to_a_roster_is_idempotent(store):
    store.begin_campaign(request_id="r1", client="Acme")
    assert store.set_roster(request_id="r1", expert_ids=["e2", "e1", "e2"],
                            booked_hours={"e1": 5.0, "e2": 2.5}) == ["e2", "e1"]
    assert store.set_roster(request_id="r1", expert_ids=["e1", "e2"],
                            booked_hours={"e1": 40.0}) == []
    assert store.set_roster(request_id="r1", expert_ids=["e3", "e1"], actor="tick") == ["e3"]
    entries = store.roster_entries("r1")
    assert [(e.expert_id, e.status, e.booked_hours) for e in entries] == [
        ("e1", "active", 5.0), ("e2", "active", 2.5), ("e3", "active", 0.0)]
    assert all(e.changed_at.tzinfo is not None for e in entries)
    assert store.roster("r1") == ["e1", "e2", "e3"]
    log = store.audit_log("r1")
    assert [(a["action"], a["actor"], a["expert_id"], a["detail"]) for a in log] == [
        ("roster_add", "cli", "e2", {"booked_hours": 2.5, "status": "active"}),
        ("roster_add", "cli", "e1", {"booked_hours": 5.0, "status": "active"}),
        ("roster_add", "tick", "e3", {"booked_hours": 0.0, "status": "active"})]


def test_change_roster_frees_hours_and_audits(store):
    store.begin_campaign(request_id="r1", client="Acme")
    store.set_roster(request_id="r1", expert_ids=["e1", "e2", "e3"],
                     booked_hours={"e1": 4.0, "e2": 6.0, "e3": 1.0})
    since = store.audit_log("r1")[-1]["id"]

    assert store.change_roster(request_id="r1", expert_id="e1", status="removed",
                               reason="spammer", actor="tick", detail={"rule": "gold"}) is True
    assert store.change_roster(request_id="r1", expert_id="e1", status="removed",
                               reason="again", actor="tick") is False
    assert store.change_roster(request_id="r1", expert_id="e2", status="released",
                               reason="idle 3 days", actor="tick") is True
    assert store.roster("r1") == ["e1", "e2", "e3"]
    assert store.roster("r1", status="active") == ["e3"]
    assert store.roster("r1", status="removed") == ["e1"]
    e1, e2, e3 = store.roster_entries("r1")
    assert (e1.status, e1.reason, e1.booked_hours) == ("removed", "spammer", 0.0)
    assert (e2.status, e2.reason, e2.booked_hours) == ("released", "idle 3 days", 0.0)
    assert (e3.status, e3.booked_hours) == ("active", 1.0)
    assert store.booked_hours() == {"e3": 1.0}

    log = store.audit_log("r1", since_id=since)
    assert [(a["action"], a["expert_id"], a["actor"]) for a in log] == [
        ("removed", "e1", "tick"), ("released", "e2", "tick")]
    assert log[0]["detail"] == {"rule": "gold", "reason": "spammer", "from": "active",
                                "freed_hours": 4.0}
    assert log[1]["detail"]["reason"] == "idle 3 days"

    # back to active: audited, the hours stay freed (nothing re-derives them)
    assert store.change_roster(request_id="r1", expert_id="e2", status="active",
                               reason="back", actor="cli")
    assert store.roster_entries("r1")[1] == RosterEntry(
        "e2", "active", "back", store.roster_entries("r1")[1].changed_at, 0.0)
    assert store.audit_log("r1")[-1]["action"] == "active"

    with pytest.raises(AnnoflowError):
        store.change_roster(request_id="r1", expert_id="nobody", status="removed",
                            reason="x", actor="cli")
    with pytest.raises(ValueError):
        store.change_roster(request_id="r1", expert_id="e3", status="fired", reason="x",
                            actor="cli")


def test_booked_hours_across_campaigns(store):
    for rid in ("a", "b", "done", "gone"):
        store.begin_campaign(request_id=rid, client="Acme")
    store.set_roster(request_id="a", expert_ids=["e1", "e2"], booked_hours={"e1": 10, "e2": 3})
    store.set_roster(request_id="b", expert_ids=["e1", "e3"], booked_hours={"e1": 5, "e3": 7})
    store.set_roster(request_id="done", expert_ids=["e1", "e2"], booked_hours={"e1": 20, "e2": 20})
    store.set_roster(request_id="gone", expert_ids=["e3"], booked_hours={"e3": 9})
    store.set_stage(request_id="b", stage="producing")
    store.set_stage(request_id="done", stage="delivered")
    store.set_stage(request_id="gone", stage="cancelled")

    assert store.booked_hours() == {"e1": 15.0, "e2": 3.0, "e3": 7.0}
    assert store.booked_hours(exclude_request_id="a") == {"e1": 5.0, "e3": 7.0}
    assert store.booked_hours(["e1", "e4"]) == {"e1": 15.0, "e4": 0.0}
    assert store.booked_hours(["e2"], exclude_request_id="a") == {"e2": 0.0}
    store.set_stage(request_id="a", stage="failed")
    assert store.booked_hours() == {"e1": 5.0, "e3": 7.0}


def test_the_audit_log_is_append_only(store):
    store.audit(request_id="r1", action="note", actor="cli", detail={"x": [1, 2]})
    store.audit(request_id="r1", action="access", actor="tick", expert_id="e1")
    log = store.audit_log("r1")
    assert [(a["action"], a["actor"], a["expert_id"], a["detail"]) for a in log] == [
        ("note", "cli", None, {"x": [1, 2]}), ("access", "tick", "e1", {})]
    assert set(log[0]) == {"id", "at", "actor", "action", "expert_id", "detail"}
    json.dumps(log)  # plain JSON all through
    assert not any(hasattr(store, n) for n in ("delete_audit", "update_audit", "clear_audit"))
