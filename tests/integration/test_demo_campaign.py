"""The demo campaign end to end on the real Label Studio, S3 and Prefect, read back from S3."""
from __future__ import annotations

import hashlib
import io
import json
import re

import pandas as pd
import pyarrow.parquet as pq
import pytest

from annoflow.delivery import pseudonym
from annoflow.layout import RawZone
from annoflow.uris import split_uri
from simulation.workforce import assign_behaviours, load_profile
from tests.integration.conftest import REPO, annoflow, campaign_project, last_json, unique_id, write_spec

DELIVERY = "s3://annoflow-it/preferences/"
PROFILE = "configs/simulation/demo.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    rid = unique_id("it-pref")
    spec = write_spec(tmp_path_factory.mktemp("spec"), request_id=rid, delivery__uri=DELIVERY)
    proc = annoflow("run", str(spec), "--simulate", PROFILE, "--poll-interval", "1",
                    "--wait-timeout", "400", "--json")
    return {"rid": rid, "spec": spec, "proc": proc}


@pytest.fixture(scope="module")
def result(run) -> dict:
    assert run["proc"].returncode == 0, run["proc"].stderr[-3000:]
    return last_json(run["proc"])


def test_run_reports_in_words_and_json(run, result) -> None:
    out = run["proc"].stdout + run["proc"].stderr
    assert "Traceback" not in out
    assert f"Campaign {run['rid']} delivered" in out
    assert "Krippendorff's alpha" in out and "Label Studio http://127.0.0.1:8080/projects/" in out
    assert "Prefect run  http://127.0.0.1:4200/runs/flow-run/" in out
    assert f"QC report    {DELIVERY}{run['rid']}/v1/qc_report.html" in out
    for key in ("request_id", "status", "delivery_uri", "manifest_uri", "items", "annotations"):
        assert key in result
    assert result["status"] == "delivered"
    assert result["delivery_uri"] == f"{DELIVERY}{run['rid']}/v1/"
    assert result["items"] == 200
    # 200 items x 3 experts, plus hidden gold probes at the gold rate (0.25) in every
    # expert's stream: about a third as many again; the campaign waits for none of them
    gold = result["annotations"] - 200 * 3
    assert 200 * 3 * 0.25 / 0.75 / 2 <= gold <= 200 * 3 * 0.25 / 0.75 * 2, gold


#: the charts of the demo's QC report (pairwise, with gold, times and agreement)
CHARTS = ["Accuracy on hidden gold items, with 95% Wilson intervals",
          "Accuracy from gold and agreement with the others", "Accuracy against speed",
          "Median seconds per judgment", "Position bias: share of picks on the left response",
          "Agreement per item (share of agreeing pairs)", "Alpha without each annotator",
          "kappa between annotators", "Confusion per annotator",
          "Bradley–Terry ranking of the models compared", "Confidence of the delivered labels"]


def test_the_report_renders_in_chromium_with_every_chart(s3, result, tmp_path) -> None:
    """Issue 10: the delivered page, opened as a client would, in headless Chromium: each
    chart is drawn (on the page, with a size, and with its marks), nothing fails to load."""
    import shutil

    from playwright.sync_api import sync_playwright
    path = tmp_path / "qc_report.html"
    path.write_bytes(s3.get_bytes(uri=result["delivery_uri"] + "qc_report.html"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "no chromium: `make browser` (part of `make test`) installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("pageerror", lambda e: failed.append(str(e)))
        page.goto(path.as_uri())
        charts = page.locator("svg[role=img]")
        assert charts.count() == len(CHARTS)
        for i in range(charts.count()):
            chart = charts.nth(i)
            label = chart.get_attribute("aria-label")
            box = chart.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 40, (label, box)
            marks = chart.locator("rect, circle, path").count()
            assert marks >= 2, (label, marks)
            assert any(c in label for c in CHARTS), label
        page.screenshot(path=str(tmp_path / "qc_report.png"), full_page=True)
        browser.close()
    assert not failed, failed  # self-contained: nothing fetched, no script errors


def test_delivery_read_back_matches_manifest(s3, result) -> None:
    manifest = json.loads(s3.get_bytes(uri=result["manifest_uri"]))
    paths = {f["path"] for f in manifest["files"]}
    assert {"data/train-00000-of-00001.parquet", "kto/train-00000-of-00001.parquet",
            "rankings/train-00000-of-00001.parquet",
            "annotations.parquet", "qc_report.html", "README.md"} <= paths
    # the models ranked from the delivered preferences: on the simulator's truth the order is
    # a, b, c, d (strengths 2, 1, 0.5, 0.25), the outer two clearly apart
    ranked = pq.read_table(io.BytesIO(s3.get_bytes(
        uri=result["delivery_uri"] + "rankings/train-00000-of-00001.parquet"))).to_pandas()
    assert ranked["model"].iloc[0] == "model-a" and ranked["model"].iloc[-1] == "model-d"
    assert ranked["comparisons"].sum() == 2 * 200 and ranked["rank"].tolist() == [1, 2, 3, 4]
    assert [r["model"] for r in manifest["qc"]["rankings"]] == ranked["model"].tolist()
    report = s3.get_bytes(uri=result["delivery_uri"] + "qc_report.html").decode()
    labels = re.findall(r'<svg [^>]*aria-label="([^"]*)"', report)
    assert len(labels) == len(CHARTS) and all(any(c in x for x in labels) for c in CHARTS), labels
    assert report.count('class="interval"') >= 6  # each annotator's gold interval
    assert "ex-0" not in report  # annotators appear under pseudonyms only
    for f in manifest["files"]:
        data = s3.get_bytes(uri=result["delivery_uri"] + f["path"])
        assert len(data) == f["bytes"]
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        if f["path"].endswith(".parquet"):
            assert pq.read_table(io.BytesIO(data)).num_rows == f["rows"]
    assert manifest["qc"]["items_delivered"] == 200


def test_model_ready_view_is_trl_preference_and_mostly_right(s3, result) -> None:
    df = pq.read_table(io.BytesIO(s3.get_bytes(
        uri=result["delivery_uri"] + "data/train-00000-of-00001.parquet"))).to_pandas()
    assert list(df.columns) == ["prompt", "chosen", "rejected", "item_id", "confidence"]
    assert len(df) == 200 and df["item_id"].is_unique
    assert not df["item_id"].str.startswith("gold-").any()  # hidden gold is not delivered
    assert df["confidence"].between(0.5, 1.0).all()
    items = pd.read_json(REPO / "data/demo/items.jsonl", lines=True).set_index("item_id")
    truth = pd.read_json(REPO / "data/demo/truth.jsonl", lines=True).set_index("item_id")["answer"].str["preference"]
    better = [items.at[i, f"response_{truth[i]}"] for i in df["item_id"]]
    agree = (df["chosen"].to_numpy() == pd.Series(better).to_numpy()).mean()
    assert agree >= 0.85, f"chosen agrees with the known better response on only {agree:.0%}"
    assert (df["chosen"] != df["rejected"]).all()
    kto = pq.read_table(io.BytesIO(s3.get_bytes(
        uri=result["delivery_uri"] + "kto/train-00000-of-00001.parquet"))).to_pandas()
    assert list(kto.columns) == ["prompt", "completion", "label", "item_id"]
    assert len(kto) == 400 and kto["label"].sum() == 200
    wins = kto[kto["label"]].set_index("item_id")["completion"]
    assert (wins[df["item_id"]].to_numpy() == df["chosen"].to_numpy()).all()


def test_planted_spammer_is_excluded(s3, settings, run, result) -> None:
    raw = RawZone(settings.raw_zone_uri, run["rid"])
    roster = s3.get_parquet(uri=raw.roster).to_pandas()
    assert not {"name", "email"} & set(roster.columns)  # contact details stay in the pool
    sim = assign_behaviours(roster, load_profile(REPO / PROFILE))
    spammers = [e.expert_id for e in sim if e.spammer]
    assert len(spammers) == 1
    assert spammers[0] in {e["expert_id"] for e in result["excluded_experts"]}
    key = settings.pseudonym_key.get_secret_value().encode()
    alias = pseudonym(spammers[0], client="demo-lab", key=key)
    manifest = json.loads(s3.get_bytes(uri=result["manifest_uri"]))
    assert alias in {e["annotator"] for e in manifest["excluded_annotators"]}
    ann = pq.read_table(io.BytesIO(s3.get_bytes(
        uri=result["delivery_uri"] + "annotations.parquet"))).to_pandas()
    assert ann.loc[ann["annotator"] == alias, "excluded"].all()
    assert (~ann.loc[ann["annotator"] != alias, "excluded"]).mean() > 0.7


def test_judgments_are_pseudonymous(s3, run, result) -> None:
    data = s3.get_bytes(uri=result["delivery_uri"] + "annotations.parquet")
    ann = pq.read_table(io.BytesIO(data)).to_pandas()
    assert ann["annotator"].str.fullmatch(r"ann-[0-9a-f]{12}").all()
    assert ann["lead_time_s"].notna().all()
    assert set(ann["label"]) == {"a", "b"}


def test_nothing_delivered_names_an_expert_or_an_internal_system(s3, settings, run, result) -> None:
    """Every delivered byte (parquet read cell by cell) is searched for every talent-pool
    id, name and email, and for the addresses of the raw zone and Label Studio."""
    pool = pd.read_csv(REPO / "data/talent_pool.csv")
    uris = s3.list_uris(prefix_uri=f"{DELIVERY}{run['rid']}/")
    assert len(uris) >= 6
    texts = []
    for uri in uris:
        data = s3.get_bytes(uri=uri)
        if uri.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            texts.append(table.to_pandas().to_csv() + str(table.schema.metadata))
        else:
            texts.append(data.decode())
    text = "\n".join(texts)
    for col in ("expert_id", "email", "name"):
        leaked = [v for v in pool[col] if v in text]
        assert not leaked, f"talent-pool {col}s delivered: {leaked[:5]}"
    manifest = json.loads(s3.get_bytes(uri=result["manifest_uri"]))
    assert set(manifest["lineage"]) == {"spec_sha256", "checks"}
    for internal in (settings.raw_zone_uri, split_uri(settings.raw_zone_uri)[0] + "/",
                     settings.label_studio_url, "label_studio_project"):
        assert internal not in text, internal
    # annotators named in QC's findings and exclusions (the spammer among them: see
    # test_spammer_is_excluded) are named under their pseudonym only, with a reason
    named = {a for c in manifest["lineage"]["checks"] for v in c["metrics"].values()
             if isinstance(v, list) for a in v}
    named |= {e["annotator"] for e in manifest["excluded_annotators"]}
    assert named and all(a.startswith("ann-") for a in named)
    assert all(e["reason"] for e in manifest["excluded_annotators"])


def test_status_reads_back_the_campaign(run, result) -> None:
    proc = annoflow("status", run["rid"], "--json")
    assert proc.returncode == 0, proc.stderr
    st = last_json(proc)
    assert st["stage"] == "delivered"
    assert st["manifest_uri"] == result["manifest_uri"]
    assert st["result"]["items"] == 200 and st["result"]["annotations"] == result["annotations"]
    assert st["progress"]["tasks_complete"] == 200
    # (a run the worker had already picked up may still be finding the campaign delivered)
    assert st["last_tick_state"] in ("Completed", "Running")
    # the spammer was removed while the campaign ran, and the status says so
    removed = [x for x in st["progress"]["experts"] if x["state"] == "removed"]
    assert [x["expert_id"] for x in removed] == [e["expert_id"] for e in result["excluded_experts"]]
    assert removed[0]["reason"]
    assert any(a["action"] == "removed" for a in st["audit"])


def _inventory(ls, s3, settings, rid: str) -> dict:
    project = campaign_project(ls, settings, rid)
    tasks = list(ls.iter_tasks(project_id=project.id))
    raw_bucket = split_uri(settings.raw_zone_uri)[0]
    objs = s3.list_uris(prefix_uri=f"s3://{raw_bucket}/{rid}/") + \
        s3.list_uris(prefix_uri=f"{DELIVERY}{rid}/")
    return {
        "projects": [p.id for p in ls._sdk.projects.list() if (p.title or "").startswith(rid)],
        "tasks": sorted(t.id for t in tasks),
        "annotations": sum(len(t.annotations) for t in tasks),
        "users": sorted(u.username for u in ls._sdk.users.list()),
        "objects": objs,
    }


def test_rerun_duplicates_nothing(ls, s3, settings, run, result) -> None:
    rid = run["rid"]
    before = _inventory(ls, s3, settings, rid)
    manifest_before = s3.get_bytes(uri=result["manifest_uri"])
    proc = annoflow("run", str(run["spec"]), "--simulate", PROFILE, "--poll-interval", "1",
                    "--wait-timeout", "120", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = last_json(proc)
    after = _inventory(ls, s3, settings, rid)
    assert after == before
    assert len(before["projects"]) == 1
    assert s3.get_bytes(uri=result["manifest_uri"]) == manifest_before
    assert again["reused_delivery"] is True
    assert again["manifest_uri"] == result["manifest_uri"] and again["items"] == 200
