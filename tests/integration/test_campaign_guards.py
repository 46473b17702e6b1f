"""One campaign, one client, one spec, one run at a time (issue 9, items 4 and 5).

Two runs of one campaign at once used to make two Label Studio projects; a request id
reused by another client, or with an edited spec, silently mixed two campaigns."""
from __future__ import annotations

import json
import subprocess

from annoflow.layout import RawZone
from connectors.state import StateStore
from tests.integration.conftest import (ANNOFLOW, REPO, annoflow, campaign_project, last_json,
                                        unique_id, wait_for, write_spec)


def _projects(ls, rid: str) -> list[int]:
    return [p.id for p in ls._sdk.projects.list() if (p.title or "").startswith(rid)]


def test_two_runs_at_once_make_one_campaign_and_both_follow_it(tmp_path, ls, s3, settings) -> None:
    """Submission holds the campaign's lock: the second `annoflow run` waits for the first
    to submit, finds the campaign submitted, and follows the same one."""
    rid = unique_id("it-twice")
    spec = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                      delivery__uri="s3://annoflow-it/guards/")
    cmd = [ANNOFLOW, "run", str(spec), "--wait-timeout", "15", "--poll-interval", "1", "--json"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [4, 4], [(p.returncode, e[-1500:]) for p, (_, e) in zip(procs, outs)]
    assert all("Traceback" not in e and "goes on by itself" in e for _, e in outs)
    assert len(_projects(ls, rid)) == 1
    assert StateStore(settings.state_url).campaign(rid).stage == "producing"
    assert [h["reason"] for h in StateStore(settings.state_url).spec_history(rid)] == ["first run"]
    tasks = list(ls.iter_tasks(project_id=campaign_project(ls, settings, rid).id,
                               with_annotations=False))
    assert len(tasks) == len({t.meta["ref"] for t in tasks}) == 48
    # a third run later follows the same campaign again
    again = annoflow("run", str(spec), "--wait-timeout", "1", "--poll-interval", "1", "--json")
    assert again.returncode == 4, again.stderr[-1500:]
    assert len(_projects(ls, rid)) == 1


def test_a_request_id_is_bound_to_its_client_and_its_spec(tmp_path, ls, s3, settings) -> None:
    rid = unique_id("it-bind")
    base = dict(base="configs/requests/classification.yaml", request_id=rid,
                delivery__uri="s3://annoflow-it/guards/")
    spec = write_spec(tmp_path, **base)
    first = annoflow("run", str(spec), "--wait-timeout", "1", "--poll-interval", "1", "--json")
    assert first.returncode == 4, first.stderr[-1500:]
    raw = RawZone(settings.raw_zone_uri, rid)
    spec_before = s3.get_bytes(uri=raw.spec)

    other = tmp_path / "other"
    other.mkdir()
    # another client, with a bucket of its own, picks the same request id
    owners = json.dumps({"demo-lab": ["s3://annoflow-it/"], "another-lab": ["s3://annoflow-it/other/"]})
    proc = annoflow("run", str(write_spec(other, **{**base, "delivery__uri": "s3://annoflow-it/other/"},
                                          client="another-lab")), "--json",
                    env={"ANNOFLOW_CLIENT_BUCKETS": owners})
    assert proc.returncode == 2
    assert f"request_id '{rid}' is a campaign of client 'demo-lab', not 'another-lab'" in proc.stderr
    edited = tmp_path / "edited"
    edited.mkdir()
    changed = write_spec(edited, **base, task__instructions="Something else entirely.",
                         workforce__annotators_per_item=2)
    proc = annoflow("run", str(changed), "--json")
    assert proc.returncode == 2
    assert f"campaign '{rid}' was started with a different spec; changed: task.instructions, " \
           "workforce.annotators_per_item" in proc.stderr
    assert "--spec-change" in proc.stderr and "Traceback" not in proc.stderr
    assert s3.get_bytes(uri=raw.spec) == spec_before  # nothing was overwritten
    # (the project is made by the campaign's first tick, whenever the worker runs it)
    assert len(_projects(ls, rid)) <= 1

    proc = annoflow("run", str(changed), "--spec-change", "the client asked for 2 per item",
                    "--wait-timeout", "1", "--poll-interval", "1", "--json")
    assert proc.returncode == 4, proc.stderr[-1500:]
    history = StateStore(settings.state_url).spec_history(rid)
    assert [h["reason"] for h in history] == ["first run", "the client asked for 2 per item"]
    wait_for("the campaign's first tick to make its project", lambda: _projects(ls, rid),
             timeout_s=300)
    assert len(_projects(ls, rid)) == 1
    assert last_json(proc)["status"] == "failed"  # (stopped following: nobody works on it)


def test_a_campaign_unknown_to_this_state_store_is_not_mixed_into(tmp_path, ls, s3, settings) -> None:
    """Another checkout sharing the services, or a lost state file: the raw zone holds the
    campaign, this state store does not know it. Refused, rather than a second project
    feeding the same raw zone."""
    rid = unique_id("it-state")
    spec = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                      delivery__uri="s3://annoflow-it/guards/")
    assert annoflow("run", str(spec), "--wait-timeout", "1", "--poll-interval", "1").returncode == 4
    wait_for("the first tick to make the project", lambda: campaign_project(ls, settings, rid))
    other_state = f"sqlite:///{tmp_path / 'other-checkout-state.db'}"
    # (the other checkout's `make services` imported the demo pool into its store)
    assert annoflow("pool", "import", str(REPO / "data/talent_pool.csv"),
                    env={"ANNOFLOW_STATE_URL": other_state}).returncode == 0
    proc = annoflow("run", str(spec), "--json", env={"ANNOFLOW_STATE_URL": other_state})
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert f"already holds a campaign '{rid}', but annoflow's state store" in proc.stderr
    assert len(_projects(ls, rid)) == 1


def _schedule_active(rid: str) -> bool:
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(f"campaign-tick/{rid}")
        return not dep.paused


def test_a_tick_with_nothing_to_do_switches_its_schedule_off(tmp_path, settings) -> None:
    """Ticks of a campaign that is stopped behind the schedule's back (its stage changed in
    the state store alone), or that this state store does not know (a deleted checkout's
    campaign), would otherwise start a process every few seconds forever."""
    from tasks.stages import TICK_FLOW, deploy, run_now
    rid = unique_id("it-halt")
    spec = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                      delivery__uri="s3://annoflow-it/guards/")
    assert annoflow("run", str(spec), "--wait-timeout", "1", "--poll-interval", "1").returncode == 4
    assert _schedule_active(rid)
    StateStore(settings.state_url).set_stage(request_id=rid, stage="cancelled", actor="test")
    wait_for("the tick to switch its schedule off", lambda: not _schedule_active(rid), 90)

    ghost = unique_id("it-ghost")  # deployed, never submitted
    deploy(ghost, flow_name=TICK_FLOW, entrypoint="flows/campaign.py:campaign_tick",
           interval_s=3600, parameters={"request_id": ghost})
    assert _schedule_active(ghost)
    run_now(ghost)
    wait_for("the ghost's tick to switch its schedule off", lambda: not _schedule_active(ghost), 90)
