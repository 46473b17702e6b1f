"""Every task type end to end on the real Label Studio, S3 and Prefect, with a simulated
workforce suited to the type; the delivered views are read back from S3 and checked.
(pairwise_preference, the demo, is covered in test_demo_campaign.py.)

Campaigns run by themselves on the worker, so each group is submitted at once
(``--detach``) and then followed one by one with the same command, as a delivery manager
running several campaigns would: they run side by side."""
from __future__ import annotations

import hashlib
import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from annoflow.layout import RawZone
from simulation.workforce import assign_behaviours, load_profile
from tests.integration.conftest import REPO, annoflow, last_json, unique_id, write_spec

TYPES = ["pairwise_graded", "rubric_grading", "likert_rating", "classification",
         "solution_authoring", "rubric_authoring"]


def truth(task_type: str) -> pd.DataFrame:
    return pd.read_json(REPO / f"data/demo/{task_type}/truth.jsonl", lines=True).set_index("item_id")


def _submit(spec, profile) -> None:
    proc = annoflow("run", str(spec), "--simulate", str(profile), "--detach", "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert last_json(proc)["status"] == "submitted"


def _follow(spec, profile) -> dict:
    """Follow a submitted campaign to its end (the same command: it submits nothing new)."""
    proc = annoflow("run", str(spec), "--simulate", str(profile), "--poll-interval", "2",
                    "--wait-timeout", "1200", "--json", timeout=1300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    return last_json(proc)


@pytest.fixture(scope="module")
def submitted(tmp_path_factory) -> dict[str, tuple]:
    """Every type's campaign (with its spammer), submitted side by side."""
    out = {}
    for t in TYPES:
        rid = unique_id(f"it-{t.replace('_', '-')[:12]}")
        spec = write_spec(tmp_path_factory.mktemp(t), base=f"configs/requests/{t}.yaml",
                          request_id=rid, delivery__uri=f"s3://annoflow-it/{t}/")
        profile = REPO / f"configs/simulation/{t}.yaml"
        _submit(spec, profile)
        out[t] = (rid, spec, profile)
    return out


@pytest.fixture(scope="module", params=TYPES)
def delivered(request, submitted, s3):
    t = request.param
    rid, spec, profile = submitted[t]
    result = _follow(spec, profile)
    manifest = json.loads(s3.get_bytes(uri=result["manifest_uri"]))
    files = {}
    for f in manifest["files"]:
        data = s3.get_bytes(uri=result["delivery_uri"] + f["path"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
        if f["path"].endswith(".parquet"):
            files[f["view"] or f["path"]] = pq.read_table(io.BytesIO(data)).to_pandas()
    return {"type": t, "rid": rid, "result": result, "manifest": manifest, "views": files}


def test_delivered_and_spammer_excluded(delivered, s3, settings) -> None:
    r, t = delivered["result"], delivered["type"]
    assert r["status"] == "delivered"
    roster = s3.get_parquet(uri=RawZone(settings.raw_zone_uri, delivered["rid"]).roster).to_pandas()
    sim = assign_behaviours(roster, load_profile(REPO / f"configs/simulation/{t}.yaml"))
    spammer = next(e.expert_id for e in sim if e.spammer)
    assert spammer in {e["expert_id"] for e in r["excluded_experts"]}
    ann = delivered["views"]["annotations.parquet"]
    assert ann["annotator"].str.fullmatch(r"ann-[0-9a-f]{12}").all()


def test_view_contents(delivered) -> None:
    t, views, tr = delivered["type"], delivered["views"], truth(delivered["type"])
    if t == "pairwise_graded":  # pairwise_preference on a strength scale with ties
        v = views["preference"]
        assert list(v.columns) == ["prompt", "chosen", "rejected", "item_id", "confidence", "margin"]
        grade = tr["answer"].str["preference"].astype(int)
        ties = set(grade.index[grade == 0]) & {f"swe-{i:04d}" for i in range(1, 41)}
        assert len(ties) == 4 and 33 <= len(v) <= 40  # ties carry no preference
        assert len(set(v["item_id"]) & ties) <= 2
        items = pd.read_json(REPO / "data/demo/pairwise_graded/items.jsonl", lines=True).set_index("item_id")
        better = [items.at[i, "response_a" if grade[i] < 0 else "response_b"] for i in v["item_id"]]
        assert (v["chosen"].to_numpy() == pd.Series(better).to_numpy()).mean() >= 0.9
        assert v["margin"].isin([1, 2]).all()
        assert ((v["margin"] - v["item_id"].map(grade.abs())).abs() == 0).mean() >= 0.6
        assert len(views["kto"]) == 2 * len(v)
    elif t == "rubric_grading":
        v = views["scores"]
        crit = ["correctness", "clarity", "completeness"]
        assert list(v.columns) == ["item_id", "prompt", "response",
                                   *[c for k in crit for c in (k, f"{k}_confidence")],
                                   "overall_score", "confidence"]
        assert len(v) == 40
        for c in crit:
            expected = v["item_id"].map(lambda i: int(tr.at[i, "answer"][c]))
            assert ((v[c] - expected).abs() <= 1).mean() >= 0.85, c
        assert v["overall_score"].between(0, 1).all()
        reward = views["reward"]
        assert list(reward.columns) == ["prompt", "completion", "reward", "item_id"]
        assert (reward["reward"].to_numpy() == v["overall_score"].to_numpy()).all()
    elif t == "likert_rating":
        v = views["ratings"]
        assert list(v.columns) == ["item_id", "prompt", "response", "rating", "confidence"]
        expected = v["item_id"].map(lambda i: int(tr.at[i, "answer"]["rating"]))
        assert len(v) == 40 and v["rating"].between(1, 5).all()
        # which experts rate which item varies run to run; the bounds hold with margin
        assert (v["rating"] == expected).mean() >= 0.75
        assert ((v["rating"] - expected).abs() <= 1).mean() >= 0.95
    elif t == "classification":
        v = views["labels"]
        assert list(v.columns) == ["item_id", "text", "label", "confidence"]
        expected = v["item_id"].map(lambda i: tr.at[i, "answer"]["label"])
        assert len(v) == 40 and (v["label"] == expected).mean() >= 0.8
        assert v["text"].str.contains("<b>Please help</b>", regex=False).any()  # kept as text
        # dynamic overlap (target 0.7, at most 4): a split item got a fourth judgment, and
        # an item still under the target has all four (majority vote: an item's confidence
        # is its own votes' share, so this holds whatever the others got)
        ann = views["annotations.parquet"]
        kept = ann[~ann["excluded"] & ~ann["is_gold"]].groupby("item_id")["annotator"].nunique()
        n = v["item_id"].map(kept)
        assert n.between(3, 4).all() and (n == 4).any()
        assert (n[v["confidence"] < 0.7] == 4).all()
    elif t == "solution_authoring":
        v = views["completions"]
        assert list(v.columns) == ["prompt", "completion", "item_id", "annotator"]
        assert v["item_id"].nunique() >= 29 and (v["completion"].str.len() >= 80).all()
        for i, c in zip(v["item_id"], v["completion"]):
            assert tr.at[i, "text"] in c  # the expert's text, not a spammer's
        m = views["messages"]
        assert list(m.columns) == ["messages", "item_id", "annotator"] and len(m) == len(v)
        first = list(m["messages"].iloc[0])
        assert [x["role"] for x in first] == ["user", "assistant"]
        assert first[1]["content"] == v["completion"].iloc[0]
    elif t == "rubric_authoring":
        v = views["rubrics"]
        assert list(v.columns) == ["item_id", "prompt", "rubric", "annotator"]
        assert v["item_id"].nunique() >= 29
        for rubric in v["rubric"]:
            assert 3 <= len(rubric) <= 8
            assert all(set(c) == {"name", "description", "weight"} and c["weight"] > 0
                       for c in rubric)
    else:  # pragma: no cover
        pytest.fail(f"no view check for {t}")


ALL_TYPES = ["demo", *TYPES]


@pytest.fixture(scope="module")
def good_campaigns(tmp_path_factory) -> dict[str, tuple]:
    """20 items, no spammer, for every type, submitted side by side."""
    out = {}
    for name in ALL_TYPES:
        tmp = tmp_path_factory.mktemp(f"good-{name}")
        base = yaml.safe_load((REPO / f"configs/requests/{name}.yaml").read_text())
        items = pd.read_json(REPO / base["source"]["uri"], lines=True).head(20)
        items.to_json(tmp / "items.jsonl", orient="records", lines=True)
        profile = yaml.safe_load((REPO / f"configs/simulation/{name}.yaml").read_text())
        profile["spammers"]["count"] = 0
        profile["truth"] = str(REPO / profile["truth"])
        (tmp / "profile.yaml").write_text(yaml.safe_dump(profile))
        rid = unique_id(f"good-{name.replace('_', '-')[:10]}")
        changes = {"request_id": rid, "source__uri": str(tmp / "items.jsonl"),
                   "delivery__uri": f"s3://annoflow-it/good/{name}/", "workforce__max_experts": 4}
        if "gold" in base:
            changes["gold__uri"] = str(REPO / base["gold"]["uri"])
        spec = write_spec(tmp, base=f"configs/requests/{name}.yaml", **changes)
        _submit(spec, tmp / "profile.yaml")
        out[name] = (spec, tmp / "profile.yaml")
    return out


@pytest.mark.parametrize("name", ALL_TYPES)
def test_a_campaign_of_only_good_experts_delivers(name: str, good_campaigns, s3) -> None:
    """20 items, no spammer: nobody is excluded, and nothing crashes (every type)."""
    result = _follow(*good_campaigns[name])
    assert result["status"] == "delivered" and result["excluded_experts"] == []
    assert result["items"] >= 16  # graded pairwise leaves its ties out
    manifest = json.loads(s3.get_bytes(uri=result["manifest_uri"]))
    assert manifest["qc"]["annotators_excluded"] == 0
