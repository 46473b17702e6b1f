"""Waiting for annotators: a timeout keeps everything, status shows where the campaign
stands, and the same command resumes it without duplicating anything."""
from __future__ import annotations

from annoflow.layout import RawZone
from tests.integration.conftest import annoflow, campaign_project, last_json, unique_id, write_spec


def test_timeout_then_status_then_resume(tmp_path, ls, s3, settings) -> None:
    rid = unique_id("it-resume")
    spec = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                      delivery__uri="s3://annoflow-it/resume/")
    # no workforce: nobody annotates, so the wait times out
    proc = annoflow("run", str(spec), "--wait-timeout", "2", "--poll-interval", "1", "--json")
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "annotators have finished 0 of 40 items after waiting 2 s" in proc.stderr
    assert "Run the same command again to resume waiting" in proc.stderr
    failed = last_json(proc)
    assert failed["status"] == "failed" and failed["tasks_total"] == 40
    assert "Traceback" not in proc.stdout + proc.stderr

    st = last_json(annoflow("status", rid, "--json"))
    assert st["status"] == "in_production" and st["items"] == 48 and st["annotations"] == 0
    assert st["last_sync"]["tasks_complete"] == 0 and st["last_run_state"] == "Failed"
    project = campaign_project(ls, settings, rid)

    proc = annoflow("run", str(spec), "--simulate", "configs/simulation/classification.yaml",
                    "--poll-interval", "1", "--wait-timeout", "300", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = last_json(proc)
    assert done["status"] == "delivered" and done["items"] == 40
    assert campaign_project(ls, settings, rid).id == project.id
    assert len(list(ls.iter_tasks(project_id=project.id, with_annotations=False))) == 48
    st = last_json(annoflow("status", rid, "--json"))
    assert st["status"] == "delivered" and st["last_sync"]["tasks_complete"] == 40
    assert s3.exists(uri=RawZone(settings.raw_zone_uri, rid).progress)
