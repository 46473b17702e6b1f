"""Bad input gets a clear error naming file, row and field; nothing is created anywhere."""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

from annoflow.layout import RawZone
from tests.integration.conftest import (ANNOFLOW, REPO, annoflow, last_json, nothing_created,
                                       unique_id, write_spec)


def _nothing_created(ls, s3, settings, rid: str) -> None:
    nothing_created(ls, s3, settings, rid)


def test_bad_rows_are_named_and_nothing_is_created(tmp_path: Path, ls, s3, settings) -> None:
    rows = [json.loads(line) for line in (REPO / "data/demo/items.jsonl").read_text().splitlines()]
    rows[4]["response_b"] = "   "
    rows[9]["item_id"] = rows[8]["item_id"]
    del rows[11]["prompt"]
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    gold = [json.loads(line) for line in (REPO / "data/demo/gold.jsonl").read_text().splitlines()]
    gold[2]["answer"] = "left"
    gpath = tmp_path / "gold.jsonl"
    gpath.write_text("\n".join(json.dumps(r) for r in gold) + "\n")
    rid = unique_id("it-bad")
    spec = write_spec(tmp_path, request_id=rid, source__uri=str(items), gold__uri=str(gpath))
    proc = annoflow("run", str(spec), "--json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    err = proc.stderr
    assert "4 problem(s) in the request's data (1.7% of rows bad, source.max_bad_share allows 0.0%); nothing was created" in err
    assert f"{items}: row 5, field response_b: is empty (input 'response_b')" in err
    assert f"{items}: row 10, field item_id: duplicate id (first kept)" in err
    assert f"{items}: row 12, field prompt: is empty (input 'prompt')" in err
    assert f"{gpath}: row 3, field answer: answer 'left' is not a legal label; expected one of ['a', 'b']" in err
    assert last_json(proc)["status"] == "failed"
    _nothing_created(ls, s3, settings, rid)


def test_bad_spec_field_is_named(tmp_path: Path, ls, s3, settings) -> None:
    rid = unique_id("it-bad")
    spec = write_spec(tmp_path, request_id=rid, workforce__annotators_per_item=0)
    proc = annoflow("run", str(spec))
    assert proc.returncode == 2
    assert "workforce.annotators_per_item: Input should be greater than or equal to 1 (got 0)" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    _nothing_created(ls, s3, settings, rid)


def test_non_utf8_source_names_the_line(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    good = (REPO / "data/demo/items.jsonl").read_bytes().splitlines()
    items.write_bytes(b"\n".join(good[:2] + [good[2][:30] + b"\xff" + good[2][30:]] + good[3:]))
    spec = write_spec(tmp_path, request_id=unique_id("it-bad"), source__uri=str(items))
    proc = annoflow("validate", str(spec))
    assert proc.returncode == 2
    assert f"{items}: line 3 is not valid UTF-8" in proc.stderr


def test_unreachable_label_studio_is_a_clear_error(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, request_id=unique_id("it-bad"))
    env = {**os.environ, "ANNOFLOW_LABEL_STUDIO_URL": "http://127.0.0.1:9"}
    proc = subprocess.run([ANNOFLOW, "run", str(spec)], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 3
    assert "Label Studio is not reachable at http://127.0.0.1:9/health" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_status_of_unknown_campaign() -> None:
    proc = annoflow("status", "no-such-campaign-xyz", "--json")
    assert proc.returncode == 2
    assert "no campaign 'no-such-campaign-xyz' in annoflow's state store" in proc.stderr
    assert last_json(proc)["status"] == "failed"


def test_validate_prints_the_plan_as_json() -> None:
    proc = annoflow("validate", "configs/requests/demo.yaml", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = last_json(proc)
    assert plan["items"] == 200 and plan["gold_items"] == 39
    # hidden gold rides in every expert's stream at the gold rate
    assert 0 < plan["gold_rate"] <= 0.5
    assert plan["judgments"] == math.ceil(200 * 3 / (1 - plan["gold_rate"]))
    assert plan["roster_size"] == 8


def test_bad_rows_under_the_allowed_share_are_quarantined(tmp_path: Path, s3, settings) -> None:
    rows = [json.loads(line) for line in
            (REPO / "data/demo/classification/items.jsonl").read_text().splitlines()]
    rows[7]["text"] = ""
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    rid = unique_id("it-quar")
    spec = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                      source__uri=str(items), source__max_bad_share=0.05,
                      delivery__uri="s3://annoflow-it/quarantine/")
    proc = annoflow("run", str(spec), "--simulate", "configs/simulation/classification.yaml",
                    "--poll-interval", "1", "--wait-timeout", "300", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 bad row(s) quarantined" in proc.stderr
    result = last_json(proc)
    assert result["items"] == 39 and result["plan"]["quarantined_rows"] == 1
    report = s3.get_bytes(uri=RawZone(settings.raw_zone_uri, rid).quarantine).decode()
    assert report.splitlines() == ["file,row,field,problem",
                                   f"{items},8,text,is empty (input 'text')"]


def test_the_public_pseudonym_key_is_refused_before_anything_is_made(tmp_path: Path, ls, s3,
                                                                     settings) -> None:
    rid = unique_id("it-key")
    spec = write_spec(tmp_path, request_id=rid)
    # a non-local S3 (never contacted: the key is checked first) with the public dev key
    env = {**os.environ, "ANNOFLOW_S3_ENDPOINT_URL": "https://s3.example.invalid"}
    env.pop("ANNOFLOW_PSEUDONYM_KEY", None)
    proc = subprocess.run([ANNOFLOW, "run", str(spec), "--json"], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "ANNOFLOW_PSEUDONYM_KEY is the public development default" in proc.stderr
    assert "Traceback" not in proc.stderr
    nothing_created(ls, s3, settings, rid)


def test_a_delivery_target_the_client_does_not_own_is_refused(tmp_path: Path, ls, s3, settings) -> None:
    rid = unique_id("it-target")
    for uri, expected in [
            ("s3://annoflow-raw/stolen/", "is in the raw zone's bucket (annoflow-raw)"),
            ("s3://another-clients-bucket/x/", "is not under a prefix client 'demo-lab' owns")]:
        proc = annoflow("run", str(write_spec(tmp_path, request_id=rid, delivery__uri=uri)), "--json")
        assert proc.returncode == 2, proc.stderr[-1500:]
        assert expected in proc.stderr and "Traceback" not in proc.stderr
        proc = annoflow("validate", str(write_spec(tmp_path, request_id=rid, delivery__uri=uri)))
        assert proc.returncode == 2 and expected in proc.stderr
    nothing_created(ls, s3, settings, rid)


def test_a_clients_bucket_is_never_created(tmp_path: Path, ls, s3, settings) -> None:
    rid = unique_id("it-nobucket")
    spec = write_spec(tmp_path, request_id=rid, delivery__uri="s3://annoflow-it-missing/x/")
    env = {**os.environ, "ANNOFLOW_CLIENT_BUCKETS": '{"demo-lab": ["s3://annoflow-it-missing/"]}'}
    proc = subprocess.run([ANNOFLOW, "run", str(spec), "--json"], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 3, proc.stderr[-1500:]
    assert "the client's bucket annoflow-it-missing" in proc.stderr
    assert "annoflow never creates a client's bucket" in proc.stderr
    assert not s3.bucket_exists(bucket="annoflow-it-missing")
    nothing_created(ls, s3, settings, rid)
