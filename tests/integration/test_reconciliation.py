"""Label Studio changed behind the sync's back (issue 9, item 17): a full reconciliation,
at a campaign's first tick, every few minutes, and at the next tick after `annoflow run`
is typed again, records each difference (deleted, edited, reassigned) in the raw zone and
in the status, and nothing that was synced is lost."""
from __future__ import annotations

import json

from annoflow.judgments import counted
from annoflow.layout import RawZone
from annoflow.spec import load_spec
from annoflow.tasktypes import get_task_type
from tasks.production import read_synced
from tests.integration.conftest import (annoflow, campaign_project, last_json, unique_id,
                                        wait_for, write_spec)


def test_deleted_edited_and_reassigned_annotations_are_recorded(tmp_path, ls, s3, settings) -> None:
    rid = unique_id("it-recon")
    spec_path = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                           delivery__uri="s3://annoflow-it/recon/")
    wait = ("--wait-timeout", "1", "--poll-interval", "1", "--json")
    assert annoflow("run", str(spec_path), *wait).returncode == 4  # submitted
    raw = RawZone(settings.raw_zone_uri, rid)
    wait_for("the first tick", lambda: s3.exists(uri=raw.progress))  # set up; nobody worked yet
    project = campaign_project(ls, settings, rid)
    roster = s3.get_parquet(uri=raw.roster).to_pandas()
    u1, u2, u3 = (int(u) for u in roster["ls_user_id"].iloc[:3])
    spec = load_spec(spec_path)
    tt = get_task_type("classification")
    labels = list(spec.task.labels)
    tasks = list(ls.iter_tasks(project_id=project.id, with_annotations=False))[:4]
    made = [ls.create_annotation(task_id=t.id, user_id=u1, result=tt.make_result(
        spec.task, {"label": labels[0]}), lead_time=20.0) for t in tasks]
    wait_for("a tick to sync them", lambda: set(made) <= set(read_synced(s3, raw)["annotation_id"]))
    before = read_synced(s3, raw).set_index("annotation_id")
    # paused first: an edit moves its task's updated_at, so a tick between the edits and
    # the full reconciliation would sync the edited and reassigned ones as plain new
    # versions (the race a fresh-clone run lost)
    assert annoflow("pause", rid).returncode == 0

    # behind the sync's back: one deleted, one edited, one given to another roster expert,
    # one given to a user outside the roster (the admin)
    deleted, edited, moved, outside = made
    ls._sdk.annotations.delete(id=deleted)
    ls._sdk.annotations.update(id=edited, result=tt.make_result(spec.task, {"label": labels[1]}))
    ls._sdk.annotations.update(id=moved, completed_by=u2)
    admin = ls._sdk.users.whoami().id
    ls._sdk.annotations.update(id=outside, completed_by=admin)

    proc = annoflow("run", str(spec_path), *wait)  # the next tick reconciles in full
    assert proc.returncode == 7 and "paused" in proc.stderr, proc.stderr[-2000:]
    assert annoflow("resume", rid).returncode == 0

    # the differences, in the raw zone (append-only) and in the status
    def found() -> dict:
        logs = [json.loads(s3.get_bytes(uri=u)) for u in
                s3.list_uris(prefix_uri=raw.base + "/reconciliation/")]
        return {e["annotation_id"]: e["change"] for log in logs for e in log["events"]}
    events = wait_for("the reconciliation", lambda: len(found()) == 4 and found())
    assert events == {deleted: "deleted in Label Studio", edited: "edited in Label Studio",
                      moved: "reassigned in Label Studio to another roster expert",
                      outside: "reassigned in Label Studio to a user outside the roster"}
    st = wait_for("the status to show it", lambda: (lambda st: st["progress"]["set_aside"].get(
        "withdrawn") == 2 and st)(last_json(annoflow("status", rid, "--json"))))
    assert st["progress"]["reconciliation"]["differences"] == 4

    # nothing synced was lost: every earlier version is still in the raw zone's snapshots
    versions = {}
    for uri in s3.list_uris(prefix_uri=raw.annotations_prefix):
        for r in s3.get_parquet(uri=uri).to_pylist():
            versions.setdefault(r["annotation_id"], []).append(r)
    assert all(len(versions[a]) == 2 for a in made), {a: len(versions[a]) for a in made}
    now = read_synced(s3, raw).set_index("annotation_id")
    assert now.loc[deleted, "withdrawn"] == "deleted in Label Studio"
    assert now.loc[deleted, "answer_json"] == before.loc[deleted, "answer_json"]  # kept
    assert json.loads(now.loc[edited, "answer_json"]) == {"label": labels[1]}
    u2_expert = roster.set_index("ls_user_id").loc[u2, "expert_id"]
    assert now.loc[moved, "expert_id"] == u2_expert
    judged, aside = counted(now.reset_index())
    assert {deleted, outside} == set(aside.loc[aside["set_aside"].str.startswith("withdrawn"),
                                               "annotation_id"])
    assert {edited, moved} <= set(judged["annotation_id"])

    # a rerun with nothing changed, and the ticks after it, write nothing new
    n = len(s3.list_uris(prefix_uri=raw.base + "/"))
    assert annoflow("run", str(spec_path), "--wait-timeout", "12", "--json").returncode == 4
    assert len(s3.list_uris(prefix_uri=raw.base + "/")) == n
