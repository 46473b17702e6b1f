"""Campaigns that run by themselves and fix their quality while experts work (issue 7),
against the real services: simulated experts log in as themselves; the campaigns run as
Prefect deployments on the worker `make services` starts.

Three seeds of one pairwise campaign run at once, each with two bad experts from the
start (a fast random clicker and a random clicker who takes normal time) and, in one of
them, an expert who vanishes holding a task. Halfway, the worker is killed with SIGKILL
in the middle of a tick and started again: nobody retypes a command.

How early the fast clicker goes does not hang on how fast ticks come: the speed rule needs
``qc.min_judgments_for_speed`` judgments (6 here) and a crowd of two others with three
each, and Label Studio serves an expert at most ``qc.review_window`` (10, the default)
judgments past what live QC has vouched for, a clicker never being vouched for. So the
clicker waits at 10 judgments for the tick that removes them, however late it comes (the
simulated clock runs about 7x real time here: a judgment every half second).
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from crowdkit.aggregation import DawidSkene

from annoflow.layout import RawZone
from annoflow.spec import load_spec
from connectors.state import StateStore
from tasks.operations import load_campaign
from tasks.production import read_synced
from tasks.quality import assess
from tests.integration.conftest import (REPO, annoflow, campaign_project, last_json, unique_id,
                                        write_spec)

DELIVERY = "s3://annoflow-it/operations/"
SEEDS = (3, 5, 8)
ITEMS = 90
TRUTH = pd.read_json(REPO / "data/demo/truth.jsonl", lines=True).set_index("item_id")


def _profile(tmp: Path, seed: int, quitter: bool) -> Path:
    groups = [{"name": "slow-clicker", "count": 1, "random": True, "accuracy": 0.5,
               "lead_time_s": {"median": 16, "sigma": 0.3}}]
    if quitter:
        groups.append({"name": "quitter", "count": 1, "accuracy": 0.9, "quits_after": 4,
                       "lead_time_s": {"median": 16, "sigma": 0.3}})
    doc = {"seed": seed, "truth": str(REPO / "data/demo/truth.jsonl"), "time_scale": 0.15,
           "experts": {"accuracy": [0.85, 0.97], "lead_time_s": {"median": 16, "sigma": 0.3}},
           "spammers": {"count": 1, "accuracy": 0.5, "lead_time_s": {"median": 1, "sigma": 0.2}},
           "groups": groups}
    path = tmp / f"profile-{seed}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _items(tmp: Path) -> Path:
    rows = pd.read_json(REPO / "data/demo/items.jsonl", lines=True).head(ITEMS)
    path = tmp / "items.jsonl"
    rows.to_json(path, orient="records", lines=True)
    return path


def _worker_pid() -> int:
    """The worker serving the pool (perhaps started by another checkout sharing the
    services, so not by its pid file)."""
    found = subprocess.run(["pgrep", "-o", "-f", "prefect worker start --pool annoflow"],
                           capture_output=True, text=True).stdout.split()
    assert found, "no Prefect worker is running"
    return int(found[0])


def _running_tick(rids: list[str]) -> bool:
    """Whether one of the campaigns' ticks is running now."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterName,
                                                FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    with get_client(sync_client=True) as c:
        runs = c.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=rids),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))))
    return bool(runs)


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory, settings):
    tmp = tmp_path_factory.mktemp("ops")
    items = _items(tmp)
    runs = []
    for i, seed in enumerate(SEEDS):
        rid = unique_id(f"it-ops{seed}")
        spec = write_spec(tmp, request_id=rid, delivery__uri=DELIVERY, source__uri=str(items),
                          gold__fraction=0.5, qc__min_judgments_for_speed=6,
                          operations__tick_seconds=2, operations__idle_release_hours=0.01)
        profile = _profile(tmp, seed, quitter=i == 0)
        proc = annoflow("run", str(spec), "--simulate", str(profile), "--detach", "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert last_json(proc) == {"request_id": rid, "status": "submitted"}
        runs.append({"rid": rid, "spec": spec, "profile": profile, "seed": seed})
    state = StateStore(settings.state_url)
    # status while they run: progress, ETA, cost, and a removed expert with the reason
    seen_status, deadline = None, time.monotonic() + 600
    while time.monotonic() < deadline and seen_status is None:
        st = json.loads(annoflow("status", runs[0]["rid"], "--json").stdout)
        p = st.get("progress") or {}
        if st["stage"] == "producing" and any(x["state"] == "removed" for x in p.get("experts", [])):
            seen_status = st
        time.sleep(2)
    # SIGKILL the worker (its whole process group: the runs it started too) mid-tick
    deadline = time.monotonic() + 120
    while not _running_tick([r["rid"] for r in runs]) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(os.getpgid(_worker_pid()), signal.SIGKILL)
    killed_at = time.monotonic()
    subprocess.run([sys.executable, str(REPO / "scripts/services.py"), "start"], check=True,
                   stdout=subprocess.DEVNULL)
    for r in runs:  # follow each to the end (the same command: it follows, submits nothing new)
        proc = annoflow("run", str(r["spec"]), "--simulate", str(r["profile"]), "--json",
                        "--wait-timeout", "900", timeout=1000)
        assert proc.returncode == 0, proc.stderr[-3000:]
        r["result"] = last_json(proc)
        r["roster"] = {e.expert_id: e for e in state.roster_entries(r["rid"])}
    return {"runs": runs, "status": seen_status, "killed_at": killed_at}


def _behaviours(run) -> dict[str, str]:
    from simulation.workforce import assign_behaviours, load_profile
    from connectors.s3 import S3Store
    from annoflow.settings import Settings
    s = Settings()
    roster = S3Store(s).get_parquet(uri=RawZone(s.raw_zone_uri, run["rid"]).roster).to_pandas()
    return {e.expert_id: e.kind for e in assign_behaviours(roster, load_profile(run["profile"]))}


def test_status_shows_progress_eta_cost_and_the_removed_expert(campaigns) -> None:
    st = campaigns["status"]
    assert st is not None, "no status with a removed expert was seen while the campaign ran"
    p = st["progress"]
    assert p["tasks"] == ITEMS and 0 <= p["tasks_complete"] <= ITEMS and p["judgments"] > 0
    assert p["cost_usd"] > 0 and "throughput_per_hour" in p and "eta" in p
    removed = [x for x in p["experts"] if x["state"] == "removed"]
    assert removed and all(x["reason"] and x["since"] for x in removed)
    assert any(a.startswith("expert removed") for a in p["alerts"])


def _gold_crossing(run, expert: str, s3, settings) -> tuple[int | None, int]:
    """When the live gold rule could first remove ``expert`` (their gold judgments in
    submission order: the first count, from qc.min_gold_judgments on, whose 95% Wilson
    interval lies wholly under min_gold_accuracy; None: never), and how many gold
    judgments they made. A random clicker gets lucky on gold now and then (25 of 38 in one
    run), and no live rule can then be sure of them: the end-of-campaign rules, which weigh
    all their work, remove them instead."""
    from qc.gold import wilson_interval
    camp = load_campaign(run["rid"])
    answers = camp.items.set_index("item_id")["gold_answer"].dropna().map(json.loads)
    synced = read_synced(s3, RawZone(settings.raw_zone_uri, run["rid"]))
    mine = synced[(synced["expert_id"] == expert) & synced["is_gold"].astype(bool)
                  & synced["answer_json"].notna()].sort_values("created_at")
    right = [json.loads(a) == answers[i] for i, a in zip(mine["item_id"], mine["answer_json"])]
    n = pd.Series(range(1, len(right) + 1), dtype=float).to_numpy()
    _, high = wilson_interval(pd.Series(right, dtype=float).cumsum().to_numpy(), n)
    q = camp.spec.qc
    crossed = [int(k) for k, h in zip(n, high) if k >= q.min_gold_judgments and h < q.min_gold_accuracy]
    return (crossed[0] if crossed else None), len(right)


def test_both_bad_experts_are_removed_live_and_no_good_one(campaigns, s3, settings) -> None:
    for run in campaigns["runs"]:
        kinds = _behaviours(run)
        removed = {e: r for e, r in run["roster"].items() if r.status == "removed"}
        bad = {e for e, k in kinds.items() if k in ("spammer", "slow-clicker")}
        assert set(removed) == bad, (run["seed"], {e: r.reason for e, r in removed.items()})
        excluded = {x["expert_id"]: x["reason"] for x in run["result"]["excluded_experts"]}
        for e in bad:  # removed while the campaign ran, by the rule for their kind (the fast
            # clicker's gold may be damning before a crowd is there to time them against: the
            # bound on their judgments, in test_removal_is_early_and_final, holds either way)
            rules = ("median", "gold accuracy") if kinds[e] == "spammer" else ("gold accuracy",)
            if kinds[e] == "slow-clicker":
                crossed, made = _gold_crossing(run, e, s3, settings)
                if crossed is None or crossed == made:  # lucky on gold: removed at the end
                    rules = ("gold accuracy", "end-of-campaign rules")
            assert removed[e].reason.startswith(rules), (run["seed"], removed[e].reason)
            # the delivery names them as removed during the campaign, or at its end
            assert excluded[e].startswith(("removed during the campaign", "end-of-campaign")
                                          if "end-of-campaign rules" in rules else
                                          "removed during the campaign"), excluded[e]


def test_removal_is_early_and_final(campaigns, ls, settings, s3) -> None:
    for run in campaigns["runs"]:
        kinds = _behaviours(run)
        project = campaign_project(ls, settings, run["rid"])
        users = s3.get_parquet(uri=RawZone(settings.raw_zone_uri, run["rid"]).roster).to_pandas()
        uid = dict(zip(users["expert_id"], users["ls_user_id"]))
        anns = [(a, t) for t in ls.iter_tasks(project_id=project.id) for a in t.annotations]
        synced = read_synced(s3, RawZone(settings.raw_zone_uri, run["rid"]))
        for e, kind in kinds.items():
            if kind not in ("spammer", "slow-clicker"):
                continue
            at = run["roster"][e].changed_at
            theirs = [a for a, _ in anns if a.completed_by == uid[e]]
            # no submission after the removal was accepted
            assert all(a.created_at <= at for a in theirs), (e, at)
            mine = synced[synced["expert_id"] == e]
            if kind == "spammer":
                assert len(theirs) <= 15, (run["seed"], len(theirs))  # see the module doc
            else:  # at most a review window's judgments after the gold rule could tell
                crossed, made = _gold_crossing(run, e, s3, settings)
                window = load_campaign(run["rid"]).spec.qc.review_window
                assert crossed is None or made <= crossed + window, (run["seed"], crossed, made)


def test_every_item_ends_with_its_full_overlap_of_trusted_judgments(campaigns, s3) -> None:
    for run in campaigns["runs"]:
        base = run["result"]["delivery_uri"]
        judged = pq.read_table(io.BytesIO(s3.get_bytes(uri=base + "annotations.parquet"))).to_pandas()
        work = judged[~judged["is_gold"] & ~judged["excluded"]]
        per_item = work.groupby("item_id")["annotator"].nunique()
        assert len(per_item) == ITEMS and (per_item >= 3).all(), per_item.describe()


def test_delivered_accuracy_beats_the_bar_and_dawid_skene(campaigns, s3, settings) -> None:
    """Over the 3 seeds (all their items together): delivered accuracy against the
    simulator's truth is at least 0.90, and within 3 items (of 270) of crowd-kit's
    Dawid-Skene on the same judgments (those the delivery counts: not the removed experts').
    Ours also learns from the gold answers (clamped), which on the campaigns of earlier
    runs put it 1 to 3 items ahead over three seeds; but two sound estimators settle the
    few near-ties of 270 items apart by chance (seen: 2 items behind on one seed, 3 ahead
    on another), so a one-item margin fails by luck. Whether ours is at least as accurate
    is measured where it can be told: 20 seeds of 300 items offline
    (tests/unit/test_bad_actors.py)."""
    truth = TRUTH["answer"].str["preference"]
    ours, theirs = [], []
    for run in campaigns["runs"]:
        base = run["result"]["delivery_uri"]
        data = pq.read_table(io.BytesIO(s3.get_bytes(
            uri=base + "data/train-00000-of-00001.parquet"))).to_pandas()
        items = pd.read_json(REPO / "data/demo/items.jsonl", lines=True).set_index("item_id")
        picked = ["a" if c == items.at[i, "response_a"] else "b"
                  for i, c in zip(data["item_id"], data["chosen"])]
        ours.append(pd.Series(picked, index=data["item_id"]) == truth.reindex(data["item_id"]))
        synced = read_synced(s3, RawZone(settings.raw_zone_uri, run["rid"]))
        work = synced[~synced["is_gold"] & synced["answer_json"].notna()]
        labels = work.assign(task=work["item_id"], worker=work["expert_id"],
                             label=work["answer_json"].map(lambda j: json.loads(j)["preference"]))
        removed = {e for e, r in run["roster"].items() if r.status == "removed"}
        same = labels[~labels["worker"].isin(removed)]
        ds = DawidSkene(n_iter=100).fit_predict(same[["task", "worker", "label"]])
        theirs.append(ds == truth.reindex(ds.index))
        assert len(data) == ITEMS and (ours[-1].mean() >= 0.9), (run["seed"], ours[-1].mean())
    ours_all, theirs_all = pd.concat(ours).mean(), pd.concat(theirs).mean()
    n_items = sum(len(o) for o in ours)
    assert ours_all >= 0.90 and ours_all >= theirs_all - 3 / n_items - 1e-9, (ours_all, theirs_all)


def test_an_expert_who_vanishes_is_released_and_the_campaign_completes(campaigns) -> None:
    run = campaigns["runs"][0]
    kinds = _behaviours(run)
    quitter = next(e for e, k in kinds.items() if k == "quitter")
    entry = run["roster"][quitter]
    assert entry.status == "released" and "without submitting" in entry.reason
    assert run["result"]["status"] == "delivered"


def test_nothing_is_duplicated_after_the_kill(campaigns, ls, s3, settings) -> None:
    from tasks.delivery import delivered_versions
    from tasks.production import VERSION_KEY
    for run in campaigns["runs"]:
        rid = run["rid"]
        assert [p.id for p in ls._sdk.projects.list() if (p.title or "").startswith(rid)] == \
            [campaign_project(ls, settings, rid).id]
        project = campaign_project(ls, settings, rid)
        tasks = list(ls.iter_tasks(project_id=project.id))
        refs = [t.meta["ref"] for t in tasks]
        assert len(refs) == len(set(refs)) == len(s3.get_parquet(
            uri=RawZone(settings.raw_zone_uri, rid).items))
        anns = [(t.id, a.completed_by, a.id) for t in tasks for a in t.annotations]
        assert len({(t, u) for t, u, _ in anns}) == len(anns)  # one per expert and task
        raw = RawZone(settings.raw_zone_uri, rid)
        rows = pd.concat([s3.get_parquet(uri=u).to_pandas() for u in
                          s3.list_uris(prefix_uri=raw.annotations_prefix)], ignore_index=True)
        versions = rows.reindex(columns=VERSION_KEY).astype(str)
        assert not versions.duplicated().any()  # each version of an annotation once
        assert set(rows["annotation_id"]) >= {a for _, _, a in anns}  # every one synced
        latest = read_synced(s3, raw)
        assert latest["annotation_id"].is_unique
        assert delivered_versions(s3, load_spec(run["spec"])) == [1]
        ids = s3.get_parquet(uri=raw.roster).to_pandas()["ls_user_id"]
        assert ids.is_unique and ids.notna().all()


def test_the_delivery_rebuilds_byte_identical_from_the_raw_zone(campaigns, s3, settings) -> None:
    from tasks.delivery import build_delivery
    for run in campaigns["runs"]:
        camp = load_campaign(run["rid"])
        synced = read_synced(s3, RawZone(settings.raw_zone_uri, run["rid"]))
        qc = assess(camp.spec, camp.items, synced, camp.removed)
        built = build_delivery(camp.spec, camp.items, synced, qc, version=1,
                               key=settings.pseudonym_key.get_secret_value().encode())
        delivered = json.loads(s3.get_bytes(uri=run["result"]["manifest_uri"]))
        for path, data, _ in built.files:
            if path.endswith(".parquet"):
                assert s3.get_bytes(uri=run["result"]["delivery_uri"] + path) == data, path
        again = {k: v for k, v in json.loads(built.manifest.to_json()).items() if k != "created_at"}
        assert again == {k: v for k, v in delivered.items() if k != "created_at"}


def test_three_campaigns_at_once_each_to_its_own_bucket(tmp_path, s3, settings) -> None:
    """Three clients, three task types, one worker, one pool: each campaign is delivered
    correctly and only to its own client's bucket, and no expert is booked past their
    weekly hours."""
    clients = {"classification": ("acme-labs", "annoflow-it-acme"),
               "likert_rating": ("globex", "annoflow-it-globex"),
               "pairwise_graded": ("demo-lab", "annoflow-it")}
    owners = {c: [f"s3://{b}/"] for c, b in clients.values()}
    for _, bucket in clients.values():  # the clients' buckets (annoflow never makes one)
        s3.ensure_bucket(bucket=bucket)
    env = {"ANNOFLOW_CLIENT_BUCKETS": json.dumps(owners)}
    runs = {}
    for task_type, (client, bucket) in clients.items():
        rid = unique_id(f"it-multi-{task_type[:5]}")
        spec = write_spec(tmp_path, base=f"configs/requests/{task_type}.yaml", request_id=rid,
                          client=client, delivery__uri=f"s3://{bucket}/multi/")
        proc = annoflow("run", str(spec), "--simulate", f"configs/simulation/{task_type}.yaml",
                        "--detach", "--json", env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[task_type] = (rid, spec, bucket)
    for task_type, (rid, spec, bucket) in runs.items():
        proc = annoflow("run", str(spec), "--simulate", f"configs/simulation/{task_type}.yaml",
                        "--wait-timeout", "600", "--json", env=env, timeout=700)
        assert proc.returncode == 0, (task_type, proc.stderr[-3000:])
        done = last_json(proc)
        assert done["delivery_uri"] == f"s3://{bucket}/multi/{rid}/v1/"
        # every item the client asked for has a row, but one whose judges came out even
        # (pairwise_graded's ties carry no preference, and how many there are depends on
        # who judged what)
        camp = load_campaign(rid)
        qc = assess(camp.spec, camp.items, read_synced(s3, RawZone(settings.raw_zone_uri, rid)),
                    camp.removed)
        asked = set(camp.items.loc[~camp.items["is_gold"], "item_id"])
        tied = (set(qc.outcome.loc[qc.outcome["label"].astype(str) == "0", "task"]) & asked
                if task_type == "pairwise_graded" else set())
        assert done["items"] == len(asked) - len(tied) > 0, (task_type, len(tied))
        assert len(tied) <= len(asked) // 4, (task_type, len(tied))
    for task_type, (rid, _, bucket) in runs.items():  # nothing of a campaign in another bucket
        for _, other in clients.values():
            found = [u for u in s3.list_uris(prefix_uri=f"s3://{other}/multi/{rid}/")]
            assert bool(found) == (other == bucket), (rid, other)
    state = StateStore(settings.state_url)
    pool = pd.read_csv(REPO / "data/talent_pool.csv").set_index("expert_id")["weekly_hours"]
    booked: dict[str, float] = {}
    for rid, _, _ in runs.values():
        for e in state.roster_entries(rid):
            booked[e.expert_id] = booked.get(e.expert_id, 0.0) + e.booked_hours
    assert booked and all(h <= pool[e] + 1e-9 for e, h in booked.items()), booked
