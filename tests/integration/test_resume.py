"""Following a campaign: a timeout stops following, not the campaign; status shows where
it stands; the same command follows it again, and nothing is duplicated."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from annoflow.layout import RawZone
from connectors.annotator import ExpertSession, LoginFailed
from tests.integration.conftest import (REPO, annoflow, campaign_project, last_json, unique_id,
                                        wait_for, write_spec)


def _log_offsets() -> dict[Path, int]:
    return {f: f.stat().st_size for f in (REPO / ".local").glob("*.log")}


def _prefect_records(rid: str) -> list[bytes]:
    """Everything the Prefect API holds about the campaign's runs: parameters, states,
    logs and artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterKey, FlowRunFilter,
                                                FlowRunFilterName, LogFilter, LogFilterFlowRunId)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[rid])))
        logs, page = [], None
        while runs and page != []:
            page = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(
                any_=[r.id for r in runs])), limit=200, offset=len(logs))
            logs += page
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(like_=rid)))
    assert runs and logs and artifacts  # (what is searched is really there)
    return [r.model_dump_json().encode() for r in [*runs, *logs, *artifacts]]


def _s3_objects_since(s3, started: float) -> list[bytes]:
    client = s3._client
    out = []
    for b in client.list_buckets()["Buckets"]:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=b["Name"]):
            for o in page.get("Contents", []):
                if o["LastModified"].timestamp() >= started - 2:
                    out.append(client.get_object(Bucket=b["Name"], Key=o["Key"])["Body"].read())
    return out


def test_timeout_then_status_then_resume(tmp_path, ls, s3, settings) -> None:
    started = time.time()
    offsets = _log_offsets()
    outputs = []
    rid = unique_id("it-resume")
    spec = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                      delivery__uri="s3://annoflow-it/resume/")
    # no workforce: nobody annotates, so following times out; the campaign goes on
    proc = annoflow("run", str(spec), "--wait-timeout", "2", "--poll-interval", "1", "--json")
    outputs.append(proc)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "stopped following after 2 s" in proc.stderr
    assert "The campaign goes on by itself" in proc.stderr
    failed = last_json(proc)
    assert failed["status"] == "failed" and failed["error"] == "CampaignTimeout"
    assert "Traceback" not in proc.stdout + proc.stderr

    st = wait_for("a tick", lambda: (lambda st: st["progress"] and st)(
        last_json(annoflow("status", rid, "--json"))))
    assert st["stage"] == "producing" and st["progress"]["tasks"] == 40
    assert st["progress"]["judgments"] == 0 and st["progress"]["tasks_complete"] == 0
    assert st["last_tick_state"] in ("Completed", "Running")
    assert all(x["state"] == "idle" for x in st["progress"]["experts"])
    project = campaign_project(ls, settings, rid)

    # the delivery manager hands out the logins before anyone has worked (an expert who
    # signed in for an earlier campaign keeps their password: it is reset here)
    logins = last_json(annoflow("experts", rid, "--json"))["experts"]
    assert len(logins) >= 3
    for row in [r for r in logins if r["password"] is None]:
        assert row["password_state"] == "in use"
        logins = last_json(annoflow("experts", rid, "--reset-password", row["expert_id"],
                                    "--json"))["experts"]
    for row in logins:
        assert row["login"].endswith("@experts.annoflow.invalid")  # an alias, no real email
        assert row["annotator_url"].startswith(f"{settings.expert_url}/user/login/")
        assert row["password"] and row["password_state"] == "issued, not used yet"
    again = last_json(annoflow("experts", rid, "--json"))["experts"]
    assert [r["password"] for r in again] == [r["password"] for r in logins]  # until first use
    passwords = [r["password"] for r in logins]
    old = {r["expert_id"]: r["password"] for r in logins}

    proc = annoflow("run", str(spec), "--simulate", "configs/simulation/classification.yaml",
                    "--poll-interval", "1", "--wait-timeout", "300", "--json")
    outputs.append(proc)
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = last_json(proc)
    assert done["status"] == "delivered" and done["items"] == 40
    assert campaign_project(ls, settings, rid).id == project.id
    assert len(list(ls.iter_tasks(project_id=project.id, with_annotations=False))) == 48
    st = last_json(annoflow("status", rid, "--json"))
    assert st["stage"] == "delivered" and st["progress"]["tasks_complete"] == 40
    assert st["delivery_uri"] == done["delivery_uri"]
    assert s3.exists(uri=RawZone(settings.raw_zone_uri, rid).progress)

    # the simulated experts signed in with those passwords: none is shown any more ...
    after = last_json(annoflow("experts", rid, "--json"))["experts"]
    assert all(r["password"] is None and r["password_state"] == "in use" for r in after)
    # ... and no secret (the passwords, the Label Studio token, the S3 secret key, the
    # pseudonym key) was kept in clear anywhere: the local services' logs, the Prefect API's
    # runs, logs and artifacts, every S3 object written, annoflow's state, Prefect's home
    # and the run's own output
    written = _s3_objects_since(s3, started)
    assert len(written) > 5
    written += _prefect_records(rid)
    for log, offset in offsets.items():
        with log.open("rb") as f:
            f.seek(offset)
            written.append(f.read())
    stores = [REPO / ".local" / "annoflow-state.db", REPO / ".local" / "prefect",
              Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect"))]
    written += [f.read_bytes() for root in stores if root.exists()
                for f in ([root] if root.is_file() else root.rglob("*"))
                if f.is_file() and f.stat().st_mtime >= started and f.stat().st_size < 200_000_000]
    written += [p.stdout.encode() + p.stderr.encode() for p in outputs]
    secrets = {**{f"password {i}": pw for i, pw in enumerate(passwords)},
               "Label Studio token": settings.label_studio_token.get_secret_value(),
               "S3 secret key": settings.aws_secret_access_key.get_secret_value(),
               "pseudonym key": settings.pseudonym_key.get_secret_value()}
    leaks = [(name, i) for i, blob in enumerate(written) for name, value in secrets.items()
             if value.encode() in blob]
    assert not leaks, leaks

    # a reset issues a new one-time password; the old one stops working
    who = after[0]
    fresh = last_json(annoflow("experts", rid, "--reset-password", who["expert_id"], "--json"))
    new = next(r for r in fresh["experts"] if r["expert_id"] == who["expert_id"])
    assert new["password"] and new["password"] not in passwords
    with pytest.raises(LoginFailed):
        ExpertSession(settings.expert_url).login(email=who["login"], password=old[who["expert_id"]])
    with ExpertSession(settings.expert_url) as s:
        s.login(email=who["login"], password=new["password"])
        assert s.request("GET", "/api/projects/").json()["results"][0]["id"] == project.id
    bad = annoflow("experts", rid, "--reset-password", "nobody-at-all")
    assert bad.returncode != 0 and "not on the roster" in bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
