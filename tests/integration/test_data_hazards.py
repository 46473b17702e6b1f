"""A campaign never gets stuck on data (issue 9, items 1 and 2), against the real services.

Label Studio is made to hold what it accepts but annoflow used to choke on: an annotation
whose rating does not parse (the issue's ``{"rating": "x"}``), and two annotations by one
expert on one item (as when an annotation is deleted and submitted again). Both are stored
through Label Studio's own API with a manager's token, then the simulated experts finish
the campaign by logging in as themselves.
"""
from __future__ import annotations

import json

from annoflow.layout import RawZone
from annoflow.spec import load_spec
from annoflow.tasktypes import get_task_type
from simulation.workforce import assign_behaviours, load_profile
from tasks.production import read_synced
from tests.integration.conftest import (annoflow, campaign_project, last_json, unique_id,
                                        wait_for, write_spec)

SIM = "configs/simulation/rubric_grading.yaml"
BAD = [{"type": "rating", "from_name": "correctness", "to_name": "response",
        "value": {"rating": "x"}}]


def test_unreadable_and_repeated_judgments_are_set_aside_and_the_campaign_delivers(
        tmp_path, ls, s3, settings) -> None:
    rid = unique_id("it-hazard")
    out = f"s3://annoflow-it/hazards/{rid}/"
    spec_path = write_spec(tmp_path, base="configs/requests/rubric_grading.yaml", request_id=rid,
                           delivery__uri="s3://annoflow-it/hazards/")
    proc = annoflow("run", str(spec_path), "--wait-timeout", "1", "--poll-interval", "1", "--json")
    assert proc.returncode == 4, proc.stderr[-2000:]  # submitted, nobody has worked yet
    project = wait_for("the first tick", lambda: campaign_project(ls, settings, rid))
    raw = RawZone(settings.raw_zone_uri, rid)
    items = s3.get_parquet(uri=raw.items).to_pandas()
    work = set(items.loc[~items["is_gold"], "ref"])
    # the project's id is recorded as soon as it is made, before its tasks are imported
    tasks = wait_for("the tasks", lambda: [
        t for t in ls.iter_tasks(project_id=project.id, with_annotations=False)
        if t.meta.get("ref") in work])
    roster = s3.get_parquet(uri=raw.roster).to_pandas()  # (onboarded before the project)
    x, y = tasks[0], tasks[1]
    # two of the experts the simulator keeps honest: a spammer's judgments are excluded by
    # live QC, which would take the planted later answer out of the trusted ones below
    good = [e.ls_user_id for e in assign_behaviours(roster, load_profile(SIM)) if not e.spammer]
    u1, u2 = good[:2]
    tt = get_task_type("rubric_grading")
    spec = load_spec(spec_path)
    first = tt.make_result(spec.task, {c.name: "1" for c in spec.task.criteria})
    later = tt.make_result(spec.task, {c.name: "5" for c in spec.task.criteria})
    bad_id = ls.create_annotation(task_id=x.id, user_id=u1, result=BAD, lead_time=30.0)
    first_id = ls.create_annotation(task_id=y.id, user_id=u2, result=first, lead_time=30.0)
    later_id = ls.create_annotation(task_id=y.id, user_id=u2, result=later, lead_time=20.0)

    proc = annoflow("run", str(spec_path), "--simulate", SIM,
                    "--poll-interval", "1", "--wait-timeout", "300", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]  # used to stop as "a bug in annoflow"
    done = last_json(proc)
    assert done["status"] == "delivered"

    # the raw zone keeps all three as Label Studio had them, the bad one flagged
    synced = read_synced(s3, raw).set_index("annotation_id")
    assert {bad_id, first_id, later_id} <= set(synced.index)
    assert "correctness" in synced.loc[bad_id, "quarantine"]
    assert json.loads(synced.loc[bad_id, "result_json"])[0]["value"] == {"rating": "x"}
    assert synced.loc[[first_id, later_id], "quarantine"].isna().all()

    # QC and the client's files: the latest of u2's two counts, and both are accounted for
    manifest = json.loads(s3.get_bytes(uri=done["manifest_uri"]))
    check = next(c for c in manifest["lineage"]["checks"] if c["name"] == "judgments_set_aside")
    assert check["metrics"]["superseded"] == 1 and check["metrics"]["unreadable"] == 1
    reasons = {e["annotation_id"]: e["reason"] for e in check["metrics"]["examples"]}
    assert reasons[first_id].startswith(f"superseded by the same expert's later annotation {later_id}")
    assert reasons[bad_id].startswith("unreadable: correctness")
    judged = s3.get_parquet(uri=out + "v1/annotations.parquet").to_pandas()
    y_item = items.set_index("ref").loc[y.meta["ref"], "item_id"]
    on_y = judged[judged["item_id"] == y_item]
    assert on_y.groupby("annotator").size().eq(len(spec.task.criteria)).all()  # one judgment each
    # three trusted judgments (the spammer's, when live QC removed them, stay flagged beside)
    trusted = on_y[~on_y["excluded"]]
    assert "5" in set(trusted["label"]) and len(trusted) == 3 * len(spec.task.criteria)
    report = s3.get_bytes(uri=out + "v1/qc_report.html").decode()
    assert "set aside" in report

    st = last_json(annoflow("status", rid, "--json"))
    assert st["progress"]["set_aside"]["superseded"] == 1
    assert st["progress"]["set_aside"]["unreadable"] == 1
