"""Crash anywhere, lose nothing (issue 9, item 15): one campaign is driven tick by tick,
each tick a process of its own, and every failpoint (``annoflow.failpoints``: inside the
bulk import, after a snapshot, between Label Studio and the roster, between the files of
a version and its manifest, …) kills a tick with SIGKILL the first time it is reached.
The next tick simply runs, as the campaign's schedule would start it. Simulated experts
work through Label Studio all along.

At the end: every failpoint was hit; no project, task, annotation, snapshot row, roster
entry or version is duplicated; every Label Studio annotation is in the raw zone; the
one version is whole (every file as its manifest says); and building the delivery again
from the raw zone gives the same bytes.

The campaign is submitted without deployments (``submit_campaign``), so that only this
test's ticks move it. A killed tick leaves the campaign's lock to its lease (60 s, the
shortest Prefect allows); the test frees it at once instead, as `prefect gcl delete`
would, so that ten crashes do not cost ten minutes: the lease's own expiry is what the
worker kill in test_operations.py relies on."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from annoflow.failpoints import POINTS
from annoflow.layout import RawZone
from annoflow.spec import load_spec
from connectors.state import StateStore
from simulation.workforce import SimulatedWorkforce, load_profile
from tasks.locks import lock_name
from tasks.production import VERSION_KEY, read_synced
from tests.integration.conftest import REPO, campaign_project, unique_id, write_spec

#: a tick, as the campaign's deployment runs it; imports go in batches of 10 here (1,000 in
#: production), so that the crash inside the bulk import leaves most tasks not imported yet
TICK = ("import sys; import connectors.label_studio as ls; ls.IMPORT_BATCH = 10; "
        "from flows.campaign import tick; print(tick(sys.argv[1]).model_dump_json())")
MAX_TICKS = 150


def _free_lock(rid: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    with get_client(sync_client=True) as client:
        try:
            client.delete_global_concurrency_limit_by_name(lock_name(rid))
        except ObjectNotFound:
            pass


def _tick(rid: str, armed: list[str]) -> tuple[str | None, dict | None]:
    """One tick in a process of its own: (the failpoint it died at, or None; its result)."""
    env = {**os.environ, "ANNOFLOW_FAILPOINTS": ",".join(armed)}
    proc = subprocess.run([sys.executable, "-c", TICK, rid], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode == -9:
        hit = [ln.split(": ", 1)[1] for ln in proc.stderr.splitlines()
               if ln.startswith("annoflow failpoint: ")]
        assert len(hit) == 1, proc.stderr[-2000:]
        return hit[0], None
    assert proc.returncode == 0, proc.stderr[-3000:]
    return None, json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def crashed(tmp_path_factory, settings):
    from tasks.submission import submit_campaign
    tmp = tmp_path_factory.mktemp("crash")
    items = pd.read_json(REPO / "data/demo/items.jsonl", lines=True).head(30)
    items.to_json(tmp / "items.jsonl", orient="records", lines=True)
    rid = unique_id("it-crash")
    spec_path = write_spec(
        tmp, request_id=rid, source__uri=str(tmp / "items.jsonl"),
        delivery__uri="s3://annoflow-it/crash/", gold__fraction=0.4,
        workforce__annotators_per_item=2, workforce__max_annotators_per_item=3,
        workforce__max_experts=5, qc__aggregation="majority_vote", qc__target_confidence=0.75,
        qc__min_judgments_for_speed=4)
    profile = {"seed": 4, "truth": str(REPO / "data/demo/truth.jsonl"), "time_scale": 0.1,
               "experts": {"accuracy": [0.8, 0.95], "lead_time_s": {"median": 16, "sigma": 0.3}},
               "spammers": {"count": 1, "accuracy": 0.5,
                            "lead_time_s": {"median": 1, "sigma": 0.2}}}
    (tmp / "profile.yaml").write_text(yaml.safe_dump(profile))
    spec = load_spec(spec_path)
    submit_campaign(spec)
    sim = SimulatedWorkforce(spec, load_profile(tmp / "profile.yaml")).start()
    armed, hit, result = list(POINTS), [], None
    try:
        for _ in range(MAX_TICKS):
            point, out = _tick(rid, armed)
            if point is not None:
                armed.remove(point)
                hit.append(point)
                _free_lock(rid)
                continue
            if out["stage"] == "delivered":
                result = out
                break
            assert sim.error is None, sim.error
            time.sleep(1.0)
    finally:
        sim.stop()
    state = StateStore(settings.state_url)
    return {"rid": rid, "spec": spec, "hit": hit, "result": result,
            "stage": state.campaign(rid).stage}


def test_every_failpoint_killed_a_tick_and_the_campaign_was_delivered(crashed) -> None:
    assert crashed["stage"] == "delivered", crashed
    assert sorted(crashed["hit"]) == sorted(POINTS)
    assert crashed["hit"][:2] == ["import:batch-sent", "setup:tasks-imported"]
    assert crashed["hit"][-4:] == ["finish:qc-done", "deliver:file-written",
                                   "deliver:files-written", "deliver:manifest-written"]


def test_nothing_is_duplicated_or_lost(crashed, ls, s3, settings) -> None:
    rid = crashed["rid"]
    project = campaign_project(ls, settings, rid)
    assert [p.id for p in ls._sdk.projects.list() if (p.title or "").startswith(rid)] == [project.id]
    raw = RawZone(settings.raw_zone_uri, rid)
    tasks = list(ls.iter_tasks(project_id=project.id))
    refs = [t.meta["ref"] for t in tasks]
    assert len(refs) == len(set(refs)) == len(s3.get_parquet(uri=raw.items))
    anns = [(t.id, a.completed_by, a.id) for t in tasks for a in t.annotations]
    assert anns and len({(t, u) for t, u, _ in anns}) == len(anns)
    rows = pd.concat([s3.get_parquet(uri=u).to_pandas() for u in
                      s3.list_uris(prefix_uri=raw.annotations_prefix)], ignore_index=True)
    assert not rows.reindex(columns=VERSION_KEY).astype(str).duplicated().any()
    synced = read_synced(s3, raw)
    assert set(synced["annotation_id"]) == {a for _, _, a in anns}  # each once, none lost
    ids = s3.get_parquet(uri=raw.roster).to_pandas()["ls_user_id"]
    assert ids.is_unique and ids.notna().all()
    assert sorted(e.expert_id for e in StateStore(settings.state_url).roster_entries(rid)) == \
        sorted(s3.get_parquet(uri=raw.roster).to_pandas()["expert_id"])


def test_the_one_version_is_whole_and_rebuilds_byte_identical(crashed, ls, s3, settings) -> None:
    import hashlib
    from tasks.delivery import build_delivery, delivered_versions
    from tasks.operations import load_campaign
    from tasks.quality import assess
    rid = crashed["rid"]
    assert delivered_versions(s3, crashed["spec"]) == [1]
    base = crashed["result"] and f"{crashed['spec'].delivery.uri}{rid}/v1/"
    manifest = json.loads(s3.get_bytes(uri=base + "manifest.json"))
    for f in manifest["files"]:
        data = s3.get_bytes(uri=base + f["path"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    camp = load_campaign(rid)
    synced = read_synced(s3, RawZone(settings.raw_zone_uri, rid))
    built = build_delivery(camp.spec, camp.items, synced,
                           assess(camp.spec, camp.items, synced, camp.removed), version=1,
                           key=settings.pseudonym_key.get_secret_value().encode())
    for path, data, _ in built.files:
        if path.endswith(".parquet"):
            assert s3.get_bytes(uri=base + path) == data, path
    again = json.loads(built.manifest.to_json())
    assert {k: v for k, v in again.items() if k != "created_at"} == \
        {k: v for k, v in manifest.items() if k != "created_at"}
    # extra judgments were asked for (the crash at extra:overlaps-set came after Label Studio
    # was told); each raise is on record, or, when the extra judgment came in before a tick
    # could record it, the item has it: Label Studio never asks more than the record says
    # of an item left waiting
    assert set(camp.overlaps.values()) <= {3}
    k = camp.spec.workforce.annotators_per_item
    item_of = dict(zip(camp.items["ref"], camp.items["item_id"]))
    tasks = list(ls.iter_tasks(project_id=campaign_project(ls, settings, rid).id))
    assert any(t.overlap == 3 for t in tasks)
    for t in tasks:
        if t.overlap > camp.overlaps.get(item_of[t.meta["ref"]], k):
            judges = {a.completed_by for a in t.annotations if not a.was_cancelled}
            assert len(judges) >= t.overlap, (t.id, t.overlap, judges)


def _label_studio_pid() -> int:
    found = subprocess.run(["pgrep", "-o", "-f", "label-studio start"], capture_output=True,
                           text=True).stdout.split()
    assert found, "Label Studio is not running"
    return int(found[0])


def _how_it_runs(pid: int) -> dict:
    """The running server's command line, environment, directory and log: what starts the
    same server again (whichever checkout's `make services` started it)."""
    proc = Path(f"/proc/{pid}")
    env = dict(kv.split("=", 1) for kv in (proc / "environ").read_bytes().decode().split("\0")
               if "=" in kv)
    return {"args": (proc / "cmdline").read_bytes().decode().split("\0")[:-1], "env": env,
            "cwd": os.readlink(proc / "cwd"), "log": os.readlink(proc / "fd" / "1")}


def _start_again(how: dict, url: str) -> None:
    import httpx
    with open(how["log"], "ab") as log:
        proc = subprocess.Popen(how["args"], env=how["env"], cwd=how["cwd"], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    pidfile = Path(how["cwd"]) / "label-studio.pid"  # where `make services` looks for it
    if pidfile.exists():
        pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url.rstrip('/')}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"Label Studio exited while starting again (see {how['log']})"
        assert time.monotonic() < deadline, "Label Studio did not come back"
        time.sleep(0.5)


def test_label_studio_restarted_during_a_sync(tmp_path, settings, ls, s3) -> None:
    """Label Studio stops (SIGTERM, as a restart does) with judgments not synced yet; a tick
    starts its sync while it is down and retries; the same server is started again (its own
    command line, environment and data, as `make services` would) well within the retry
    budget, and the tick syncs every judgment, once (issue 9, item 16)."""
    import signal
    from tasks.submission import submit_campaign
    rid = unique_id("it-lsrestart")
    spec_path = write_spec(tmp_path, base="configs/requests/classification.yaml",
                           request_id=rid, delivery__uri="s3://annoflow-it/lsrestart/")
    spec = load_spec(spec_path)
    submit_campaign(spec)
    point, out = _tick(rid, [])  # set up: project, tasks, access
    assert point is None and out["stage"] == "producing", out
    profile = load_profile(REPO / "configs/simulation/classification.yaml")
    sim = SimulatedWorkforce(spec, profile).start()
    project = campaign_project(ls, settings, rid)
    try:
        deadline = time.monotonic() + 120
        while sum(len(t.annotations) for t in ls.iter_tasks(project_id=project.id)) < 20:
            assert time.monotonic() < deadline, "the simulated experts did not get going"
            time.sleep(1)
    finally:
        sim.stop()
    judged = {a.id for t in ls.iter_tasks(project_id=project.id) for a in t.annotations}
    pid = _label_studio_pid()
    how = _how_it_runs(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", "label-studio start"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "Label Studio did not stop"
        time.sleep(0.5)
    env = {**os.environ, "ANNOFLOW_FAILPOINTS": ""}
    tick = subprocess.Popen([sys.executable, "-c", TICK, rid], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # the tick is retrying against a Label Studio that is not there
    assert tick.poll() is None, tick.communicate()[1][-2000:]
    started = time.monotonic()
    _start_again(how, settings.label_studio_url)
    restart_s = time.monotonic() - started
    stdout, stderr = tick.communicate(timeout=300)
    assert tick.returncode == 0, (restart_s, stderr[-3000:])
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["synced"] >= len(judged)
    synced = read_synced(s3, RawZone(settings.raw_zone_uri, rid))
    assert judged <= set(synced["annotation_id"]) and synced["annotation_id"].is_unique
