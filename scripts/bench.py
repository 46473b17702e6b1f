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


def qc_million() -> dict:
    from crowdkit.aggregation import DawidSkene as CKDawidSkene

    from qc.aggregation import DawidSkene
    from qc.pipeline import QCConfig, run_layers

    rng = np.random.default_rng(0)
    n_tasks, k, n_workers = 200_000, 5, 500
    truth = rng.integers(0, 2, n_tasks)
    tasks = np.repeat(np.arange(n_tasks), k)
    workers = np.concatenate([rng.choice(n_workers, k, replace=False) for _ in range(n_tasks)])
    acc = rng.uniform(0.6, 0.95, n_workers)[workers]
    labels = np.where(rng.random(len(tasks)) < acc, truth[tasks], 1 - truth[tasks])
    data = pd.DataFrame({"task": tasks.astype(str), "worker": workers.astype(str),
                         "label": labels.astype(str), "lead_time_s": rng.uniform(20, 90, len(tasks))})
    gold = pd.DataFrame({"task": np.arange(2000).astype(str), "label": truth[:2000].astype(str)})
    t_ck, _ = timed(lambda: CKDawidSkene(n_iter=100).fit(data[["task", "worker", "label"]]))
    t_ds, _ = timed(lambda: DawidSkene(n_iter=100).fit(data[["task", "worker", "label"]]))
    t_all, _ = timed(lambda: run_layers(data, gold, QCConfig(min_gold_accuracy=0.5)))
    return {"judgments": len(data), "crowdkit_dawid_skene_s": round(t_ck, 2),
            "annoflow_dawid_skene_s": round(t_ds, 2), "annoflow_all_layers_s": round(t_all, 2)}


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
    (ROOT / "bench/out/results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
