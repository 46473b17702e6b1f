"""A service that goes away (issue 9, item 16): within the retry budget
(ANNOFLOW_RETRY_BUDGET_S, 60 s by default) the run recovers by itself; past it, the error
names the service. The outage is made by a proxy in front of the real server
(tests/support/faulty_proxy.py): every connection is closed unanswered while it lasts."""
from __future__ import annotations

import json
import time
from urllib.parse import urlparse

import pytest

from annoflow.errors import ConnectorError
from connectors.s3 import S3Store
from tests.integration.conftest import annoflow, last_json, unique_id, wait_for, write_spec
from tests.support.faulty_proxy import FaultyProxy, Rule

OUTAGE_S = 30


@pytest.fixture()
def s3_proxy(settings):
    u = urlparse(settings.s3_endpoint_url)
    with FaultyProxy((u.hostname, u.port)) as p:
        yield p


def test_s3_away_for_30_s_during_a_delivery_and_the_run_delivers(tmp_path, s3, s3_proxy) -> None:
    rid = unique_id("it-outage")
    spec = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                      delivery__uri="s3://annoflow-it/outage/")
    # S3 goes away at the first write of the delivery, for 30 s
    s3_proxy.rules.append(Rule("PUT", rf"^/annoflow-it/outage/{rid}/v1/", "down",
                               seconds=OUTAGE_S))
    started = time.monotonic()
    proc = annoflow("run", str(spec), "--simulate", "configs/simulation/classification.yaml",
                    "--poll-interval", "1", "--wait-timeout", "300", "--json",
                    env={"ANNOFLOW_S3_ENDPOINT_URL": s3_proxy.url})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(s3_proxy.outages) == 1 and time.monotonic() - started > OUTAGE_S
    refused = [p for m, p, o in s3_proxy.seen if o == "down"]
    assert len(refused) >= 3  # it was really away, and retried while it was
    done = last_json(proc)
    assert done["status"] == "delivered"
    manifest = json.loads(s3.get_bytes(uri=done["manifest_uri"]))
    for f in manifest["files"]:  # every file is there, whole
        assert len(s3.get_bytes(uri=done["delivery_uri"] + f["path"])) == f["bytes"]


def test_past_the_budget_the_error_names_s3(settings, s3_proxy) -> None:
    s3_proxy.rules.append(Rule("GET", r".", "down", seconds=600))
    store = S3Store(settings.model_copy(update={"s3_endpoint_url": s3_proxy.url,
                                                "retry_budget_s": 2}))
    started = time.monotonic()
    with pytest.raises(ConnectorError) as err:
        store.get_bytes(uri="s3://annoflow-raw/anything.json")
    assert time.monotonic() - started < 10
    assert f"S3 at {s3_proxy.url} is unreachable while trying to read s3://annoflow-raw/anything.json" \
        in str(err.value)
    assert "ANNOFLOW_RETRY_BUDGET_S" in str(err.value) and "nothing is lost" in str(err.value)


def test_a_campaign_whose_ticks_fail_says_so_in_status(tmp_path, settings) -> None:
    """Label Studio goes away for good after the campaign is submitted: the campaign cannot
    advance, and `status` says why instead of showing a campaign that merely looks slow;
    `cancel` still gets through."""
    u = urlparse(settings.label_studio_url)
    with FaultyProxy((u.hostname, u.port)) as proxy:
        rid = unique_id("it-gone")
        spec = write_spec(tmp_path, base="configs/requests/classification.yaml", request_id=rid,
                          delivery__uri="s3://annoflow-it/outage/")
        env = {"ANNOFLOW_LABEL_STUDIO_URL": proxy.url, "ANNOFLOW_RETRY_BUDGET_S": "2"}
        # away from the first write on (the first tick onboarding the experts); `run` itself
        # only checks that Label Studio answers
        proxy.rules.append(Rule("POST", r"^/api/", "down", seconds=900))
        proc = annoflow("run", str(spec), "--wait-timeout", "1", "--poll-interval", "1",
                        "--json", env=env)
        assert proc.returncode == 4, proc.stderr[-2000:]  # submitted; ticks run on the worker
        st = wait_for("a failed tick in status", lambda: (lambda st: st.get("tick_alert") and st)(
            last_json(annoflow("status", rid, "--json", env=env))), 240, every_s=3)
        assert st["last_tick_state"] in ("Failed", "Crashed")
        assert "tick run(s) failed; the campaign does not advance" in st["tick_alert"]
        assert f"Label Studio at {proxy.url} is unreachable" in st["tick_alert"]
        shown = annoflow("status", rid, env=env)
        assert "Alert" in shown.stdout and "is unreachable" in shown.stdout
        cancel = annoflow("cancel", rid, env=env)
        assert cancel.returncode == 0, cancel.stderr[-2000:]
