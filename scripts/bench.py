"""`make bench`: measured figures, each beside its floor or baseline from the same run.

* Label Studio floors: annotation submits (one connection and four), bulk import, paging
  tasks with annotations.
* The demo campaign end to end (target: under 3 minutes once the services are up), beside
  the time the simulated workforce needs just to submit its annotations at the measured rate.
* QC on one million judgments beside crowd-kit's Dawid-Skene alone on the same data.

Results go to bench/out/results.json; BENCHMARKS.md quotes them.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annoflow.settings import Settings  # noqa: E402
from connectors.label_studio import LabelStudioClient  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def label_studio_floors(ls: LabelStudioClient) -> dict:
    title = f"bench-{uuid.uuid4().hex[:6]}"
    config = '<View><Text name="t" value="$t"/><Choices name="c" toName="t"><Choice value="x"/></Choices></View>'
    p = ls._sdk.projects.create(title=title, label_config=config, maximum_annotations=1)
    n_import = 2000
    t_imp, _ = timed(lambda: ls.import_tasks(project_id=p.id, tasks=[
        {"data": {"t": f"text {i}"}, "meta": {"ref": str(i)}} for i in range(n_import)]))
    tasks = [t.id for t in ls.iter_tasks(project_id=p.id, with_annotations=False)]
    user = ls._sdk.users.whoami().id  # the manager, straight to Label Studio
    result = [{"from_name": "c", "to_name": "t", "type": "choices", "value": {"choices": ["x"]}}]
    n = 100
    t_seq, _ = timed(lambda: [ls.create_annotation(task_id=t, user_id=user, result=result,
                                                   lead_time=1.0) for t in tasks[:n]])
    with ThreadPoolExecutor(4) as pool:
        t_par, _ = timed(lambda: list(pool.map(
            lambda t: ls.create_annotation(task_id=t, user_id=user, result=result, lead_time=1.0),
            tasks[n:3 * n])))
    t_page, paged = timed(lambda: list(ls.iter_tasks(project_id=p.id)))
    ls._sdk.projects.delete(id=p.id)
    return {"import_tasks_per_s": round(n_import / t_imp),
            "annotate_ms_one_connection": round(1000 * t_seq / n, 1),
            "annotate_per_s_four_connections": round(2 * n / t_par, 1),
            "page_tasks_with_annotations_per_s": round(len(paged) / t_page)}


def demo_campaign() -> dict:
    rid = f"bench-demo-{uuid.uuid4().hex[:6]}"
    spec = ROOT / "bench/out" / f"{rid}.yaml"
    text = (ROOT / "configs/requests/demo.yaml").read_text()
    spec.write_text(text.replace("request_id: demo-pref-001", f"request_id: {rid}")
                    .replace("s3://demo-deliveries/preferences/", "s3://annoflow-bench/preferences/"))
    t, proc = timed(lambda: subprocess.run(
        [str(ROOT / ".venv/bin/annoflow"), "run", str(spec), "--simulate",
         "configs/simulation/demo.yaml", "--poll-interval", "2", "--json"],
        cwd=ROOT, capture_output=True, text=True))
    if proc.returncode != 0:
        raise SystemExit(f"demo campaign failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"seconds": round(t, 1), "annotations": result["annotations"]}


def _million_judgments() -> tuple[pd.DataFrame, pd.DataFrame]:
    """200,000 binary tasks x 5 of 500 workers (accuracies 0.6-0.95), each judgment with a
    lead time and a submission time (``created_at``, as the campaigns' judgments have,
    uniform over one day), and the first 2,000 tasks' answers as gold."""
    rng = np.random.default_rng(0)
    n_tasks, k, n_workers = 200_000, 5, 500
    truth = rng.integers(0, 2, n_tasks)
    tasks = np.repeat(np.arange(n_tasks), k)
    workers = np.concatenate([rng.choice(n_workers, k, replace=False) for _ in range(n_tasks)])
    acc = rng.uniform(0.6, 0.95, n_workers)[workers]
    labels = np.where(rng.random(len(tasks)) < acc, truth[tasks], 1 - truth[tasks])
    data = pd.DataFrame({"task": tasks.astype(str), "worker": workers.astype(str),
                         "label": labels.astype(str), "lead_time_s": rng.uniform(20, 90, len(tasks)),
                         "created_at": pd.Timestamp("2026-11-01", tz="UTC")
                         + pd.to_timedelta(rng.uniform(0, 86400, len(tasks)), unit="s")})
    gold = pd.DataFrame({"task": np.arange(2000).astype(str), "label": truth[:2000].astype(str)})
    return data, gold


def _qc_pass() -> None:
    """(In a fresh process: ``bench.py --qc-pass``.) The million judgments through the whole
    QC pass; prints the process's peak resident memory (MB) while the judgments were built,
    and during the pass (the peak reset in between through /proc/self/clear_refs: the pass's
    figure includes Python, the libraries and the judgments it was given). Read from VmHWM:
    getrusage's ru_maxrss also counts the parent's peak, inherited at exec."""
    from qc.pipeline import QCConfig, run_layers

    def peak_mb() -> int:
        status = Path("/proc/self/status").read_text()
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024)  # (kB)

    data, gold = _million_judgments()
    built = peak_mb()
    Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak to the current RSS
    run_layers(data, gold, QCConfig(min_gold_accuracy=0.5))
    print(json.dumps({"peak_rss_building_judgments_mb": built, "peak_rss_qc_pass_mb": peak_mb()}))


def qc_million() -> dict:
    """The whole QC pass (``run_layers``: every layer but human review, copy detection
    included, as the judgments have submission times) beside crowd-kit's Dawid-Skene alone
    on the same judgments, in the same run; the layers added in issue 10 alone; and the
    pass's peak memory, measured in a fresh process (its peak RSS: Python, the libraries,
    the judgments and the pass)."""
    from crowdkit.aggregation import DawidSkene as CKDawidSkene

    from qc.aggregation import DawidSkene
    from qc.copying import copy_pairs
    from qc.pipeline import QCConfig, _units, agreement, run_layers

    data, gold = _million_judgments()
    t_ck, _ = timed(lambda: CKDawidSkene(n_iter=100).fit(data[["task", "worker", "label"]]))
    t_ds, _ = timed(lambda: DawidSkene(n_iter=100).fit(data[["task", "worker", "label"]]))
    t_all, res = timed(lambda: run_layers(data, gold, QCConfig(min_gold_accuracy=0.5)))
    units = _units(data)
    t_l3, _ = timed(lambda: agreement(units, "nominal"))
    t_copy, _ = timed(lambda: copy_pairs(units.assign(task=units["unit"], item=units["task"])))
    proc = subprocess.run([sys.executable, __file__, "--qc-pass"], capture_output=True,
                          text=True, check=True)
    memory = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"judgments": len(data), "crowdkit_dawid_skene_s": round(t_ck, 2),
            "annoflow_dawid_skene_s": round(t_ds, 2), "annoflow_all_layers_s": round(t_all, 2),
            "of_which_l3_agreement_s": round(t_l3, 2), "of_which_copy_detection_s": round(t_copy, 2),
            "excluded_workers": int(res.workers["excluded"].sum()), **memory}


def tick_cost(n_tasks: int = 10_000, k: int = 3, changed_share: float = 0.01) -> dict:
    """The campaign's own tick (``flows.campaign.tick``: incremental sync, live QC, extra
    judgments, progress) on a campaign of ``n_tasks`` tasks x ``k`` judgments when 1 % of
    the tasks changed, beside a full sync of the same project, in the same run. Label
    Studio and S3 are the real services; the state store is a SQLite file of its own, and
    the Prefect lock and artifacts are left out (called in-process, so the figures leave
    out the worker's process start too, measured separately)."""
    import tempfile
    from contextlib import nullcontext

    import pyarrow as pa

    from annoflow.spec import load_spec
    from annoflow.tasktypes import get_task_type
    from connectors.s3 import S3Store
    from connectors.state import StateStore
    from flows.campaign import tick
    from tasks.production import SYNC_MARGIN, read_synced, sync_annotations
    from tasks.services import Services

    settings = Settings(state_url=f"sqlite:///{tempfile.mkdtemp(prefix='bench-tick-')}/state.db")
    ls, store = LabelStudioClient(settings), S3Store(settings)
    svc = Services(settings=settings, ls=ls, store=store, state=StateStore(settings.state_url),
                   publish=lambda **_: None, lock=lambda *a, **kw: nullcontext(),
                   stop_schedules=lambda _: None)
    rid = f"bench-tick-{uuid.uuid4().hex[:6]}"
    base = load_spec(ROOT / "configs/requests/classification.yaml")
    # k judgments in, one more asked of each task: the campaign is still producing
    spec = base.model_copy(update={"request_id": rid, "workforce": base.workforce.model_copy(
        update={"annotators_per_item": k + 1, "max_annotators_per_item": k + 2,
                "max_experts": k + 2})})
    tt = get_task_type("classification")
    experts = [f"ex-b{i}" for i in range(k + 1)]
    users = [ls.ensure_expert(login=f"{rid}-{i}@experts.annoflow.invalid", handle=f"{rid}-{i}").id
             for i in range(k + 1)]
    roster = pd.DataFrame({"expert_id": experts, "ls_user_id": users,
                           "hourly_rate_usd": 50.0, "weekly_hours": 20.0})
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_tasks)],
                          "ref": [f"r{i}" for i in range(n_tasks)], "is_gold": False,
                          "text": [f"ticket {i}" for i in range(n_tasks)], "gold_answer": None})
    labels = list(spec.task.labels)
    p = ls._sdk.projects.create(title=rid, label_config=tt.label_config(spec),
                                maximum_annotations=k + 1)
    tasks = [{"data": {"text": r.text}, "meta": {"ref": r.ref}, "annotations": [
        {"result": tt.make_result(spec.task, {"label": labels[i % len(labels)]}),
         "completed_by": users[j], "lead_time": 30.0} for j in range(k)]}
        for i, r in enumerate(items.itertuples())]
    ls.import_tasks(project_id=p.id, tasks=tasks)
    # the campaign as submission and its first tick record it
    svc.state.begin_campaign(request_id=rid, client=spec.client)
    svc.state.set_project(request_id=rid, project_id=p.id)
    svc.state.set_roster(request_id=rid, expert_ids=experts, actor="bench")
    svc.state.set_stage(request_id=rid, stage="producing", actor="bench")
    raw = svc.raw(rid)
    store.ensure_bucket(bucket=raw.base.removeprefix("s3://").split("/")[0])
    store.put_bytes(uri=raw.spec, data=spec.model_dump_json().encode())
    store.put_parquet(uri=raw.items, table=pa.Table.from_pandas(items, preserve_index=False))
    store.put_parquet(uri=raw.roster, table=pa.Table.from_pandas(roster, preserve_index=False))
    time.sleep(15)  # Label Studio touches every imported task once more, seconds after an import
    first = tick(rid, svc)  # a full sync (and reconciliation): the raw zone gets them all
    assert first.stage == "producing" and first.synced == n_tasks * k, first
    t_full, _ = timed(lambda: sync_annotations.fn(spec, p.id, items, roster, full=True, svc=svc))
    # 1 % of the tasks change, later (past the sync's safety margin): a fourth expert judges them
    time.sleep(SYNC_MARGIN.total_seconds() + 1)
    ids = [t.id for t in ls.iter_tasks(project_id=p.id, with_annotations=False)]
    changed = ids[:int(n_tasks * changed_share)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda t: ls.create_annotation(
            task_id=t, user_id=users[k], result=tt.make_result(spec.task, {"label": labels[0]}),
            lead_time=30.0), changed))
    t_tick, result = timed(lambda: tick(rid, svc))
    assert result.stage == "producing" and result.synced == len(changed), result
    t_read, synced = timed(lambda: read_synced(store, raw))
    ls._sdk.projects.delete(id=p.id)
    return {"tasks": n_tasks, "judgments": int(len(synced)), "changed_tasks": len(changed),
            "full_sync_s": round(t_full, 2), "tick_s": round(t_tick, 2),
            "tick_over_full_sync": round(t_tick / t_full, 3), "tick_new_rows": result.synced,
            "tick_complete_items": result.tasks_complete, "raw_zone_read_s": round(t_read, 2)}


def real_datasets() -> dict:
    """Accuracy against ground truth on the five truth-inference datasets: annoflow's
    default aggregation beside crowd-kit's methods in the same run (GLAD and MACE only on
    the smaller sets: minutes on d_jn_product); on F_Emotion, MAE and RMSE of the
    reliability-weighted mean beside the plain mean and median."""
    from crowdkit.aggregation import GLAD, MACE
    from crowdkit.aggregation import DawidSkene as CKDawidSkene
    from crowdkit.aggregation import MajorityVote as CKMajorityVote

    from annoflow.spec import QCSpec
    from qc.aggregation import WeightedMean, aggregator

    fix = ROOT / "tests/fixtures/truth_inference"
    out: dict = {}
    for name in ("d_duck_identification", "d_jn_product", "s_dog",
                 "s_face_sentiment_identification"):
        ans = pd.read_csv(fix / name / "answer.csv", dtype=str)
        truth = pd.read_csv(fix / name / "truth.csv", dtype=str).set_index("question")["truth"]
        data = ans.rename(columns={"question": "task", "answer": "label"})
        data = data.drop_duplicates(["task", "worker"])[["task", "worker", "label"]]

        def acc(labels: pd.Series) -> float:
            common = truth.index.intersection(labels.index)
            return round(float((labels[common].astype(str) == truth[common]).mean()), 4)
        row = {}
        t, est = timed(lambda: aggregator(QCSpec().aggregation).fit(data))
        row["annoflow"] = acc(est.labels_)
        row["annoflow_s"] = round(t, 2)
        peers = {"MajorityVote": CKMajorityVote(), "DawidSkene": CKDawidSkene(n_iter=100)}
        if name != "d_jn_product":
            peers |= {"GLAD": GLAD(), "MACE": MACE()}
        for k, m in peers.items():
            t, labels = timed(lambda: m.fit_predict(data))
            row[k], row[f"{k}_s"] = acc(labels), round(t, 2)
        # known gold: a random share of the truth revealed, accuracy on the other tasks
        from qc.aggregation import DawidSkene
        plain = DawidSkene().fit(data).labels_
        for share in (0.05, 0.1, 0.2):
            pairs = []
            for seed in range(5):
                gold = truth.sample(frac=share, random_state=seed)
                rest = truth.index.difference(gold.index).intersection(plain.index)
                clamped = DawidSkene().fit(data, gold=gold).labels_
                pairs.append(((plain[rest] == truth[rest]).mean(),
                              (clamped[rest] == truth[rest]).mean()))
            row[f"gold_{share:.0%}_plain_vs_clamped"] = [round(float(v), 4)
                                                          for v in np.mean(pairs, axis=0)]
        out[name] = row
    ans = pd.read_csv(fix / "f_emotion/answer.csv", dtype={"question": str, "worker": str})
    truth = pd.read_csv(fix / "f_emotion/truth.csv", dtype={"question": str}).set_index(
        "question")["truth"].astype(float)
    data = ans.rename(columns={"question": "task", "answer": "label"})
    ests = {"mean": data.groupby("task")["label"].mean(),
            "median": data.groupby("task")["label"].median(),
            "annoflow_weighted_mean": WeightedMean().fit(data).labels_}
    out["f_emotion"] = {k: {"mae": round(float((v.reindex(truth.index) - truth).abs().mean()), 3),
                            "rmse": round(float(np.sqrt(((v.reindex(truth.index) - truth) ** 2)
                                                         .mean())), 3)} for k, v in ests.items()}
    return out


RANK_ONE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from connectors.pool_registry import MatchRequest, PoolRegistry
from connectors.state import StateStore
registry = PoolRegistry(StateStore(sys.argv[2]))
req = MatchRequest(domain=sys.argv[3], languages=["en"], client="demo-lab", min_vetting_score=0.6)
t = time.perf_counter()
ranked, eligible = registry.rank(req, limit=int(sys.argv[4]))
took = time.perf_counter() - t
# (VmHWM: this process's own peak; ru_maxrss would carry the forking parent's over)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"rank_s": took, "eligible": eligible, "shortlist": len(ranked),
                  "peak_rss_mb": hwm / 1024}))
"""


def pool_ranking(n: int = 1_000_000, shortlist: int = 100) -> dict:
    """Ranking a pool of ``n`` generated experts for a request, from the store (SQLite) to
    the ranked shortlist, in a process of its own (its peak memory is the ranking's: the
    interpreter and imports included), for the largest and a small domain; beside a plain
    pandas sort of the same pool already in memory, in the same run."""
    import tempfile

    from connectors.pool_registry import PoolRegistry
    from connectors.state import StateStore
    from simulation.pool import generate_pool

    tmp = Path(tempfile.mkdtemp(prefix="bench-pool-"))
    t_gen, pool = timed(lambda: generate_pool(n, seed=1))
    path = tmp / "pool.parquet"
    pool.to_parquet(path, index=False)
    url = f"sqlite:///{tmp / 'state.db'}"
    registry = PoolRegistry(StateStore(url))
    t_import, imported = timed(lambda: registry.import_file(str(path)))
    # a quality history for one expert in three, in their first domain
    rng = np.random.default_rng(2)
    first = pool["domains"].str.split(";").str[0]
    with_history = pool.sample(frac=1 / 3, random_state=3)
    for domain, group in with_history.groupby(first.loc[with_history.index]):
        judged = rng.integers(0, 200, len(group))
        registry.record_quality(domain, pd.DataFrame({
            "expert_id": group["expert_id"].to_numpy(), "gold_judged": judged,
            "gold_right": (judged * rng.uniform(0.5, 1.0, len(group))).astype(int),
            "judgments": judged * 8}))
    # the baseline: the same pool, in memory, sorted by vetting score and rate
    flat = pool.assign(vetting_score=pool["vetting"].str.split(":").str[1].astype(float))
    t_sort, _ = timed(lambda: flat.sort_values(["vetting_score", "hourly_rate_usd", "expert_id"],
                                               ascending=[False, True, True]))
    runs = {}
    for domain in ("software-engineering", "music"):
        best = None
        for _ in range(3):
            proc = subprocess.run([sys.executable, "-c", RANK_ONE, str(ROOT), url, domain,
                                   str(shortlist)], capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout)
            best = r if best is None or r["rank_s"] < best["rank_s"] else best
        runs[domain] = {k: round(v, 3) if isinstance(v, float) else v for k, v in best.items()}
    return {"experts": n, "generate_s": round(t_gen, 1), "import_s": round(t_import, 1),
            "imported": imported.added, "pandas_sort_in_memory_s": round(t_sort, 3),
            "rank": runs}


def main() -> None:
    (ROOT / "bench/out").mkdir(parents=True, exist_ok=True)
    ls = LabelStudioClient(Settings())
    results = {"label_studio": label_studio_floors(ls)}
    print("Label Studio floors:", results["label_studio"], flush=True)
    results["demo_campaign"] = demo_campaign()
    rate = results["label_studio"]["annotate_per_s_four_connections"]
    results["demo_campaign"]["floor_submit_seconds"] = round(
        results["demo_campaign"]["annotations"] / rate, 1)
    print("Demo campaign:", results["demo_campaign"], flush=True)
    results["qc_million"] = qc_million()
    print("QC on a million judgments:", results["qc_million"], flush=True)
    results["real_datasets"] = real_datasets()
    print("Real datasets:", results["real_datasets"], flush=True)
    results["pool_ranking"] = pool_ranking()
    print("Ranking 1,000,000 experts from the store:", results["pool_ranking"], flush=True)
    results["tick_cost"] = tick_cost()
    print("Tick at 10,000 tasks, 1% changed, beside a full sync:", results["tick_cost"], flush=True)
    (ROOT / "bench/out/results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    _qc_pass() if sys.argv[1:] == ["--qc-pass"] else main()
