"""`make bench`, expert access under load: many simulated experts labelling at once through
the access path (annoflow's extension in Label Studio), beside the same calls made
directly to Label Studio in the same run.

    .venv/bin/python scripts/bench_access.py [--experts 50] [--duration 300] [--mode interleaved]

* Access path: one campaign made with the manager API (tests/integration/access_kit.py),
  ``--experts`` experts, each with an ExpertSession of their own (their own login through
  ``/user/login/``), each looping GET /api/projects/<id>/next/ (the extension's scheduler)
  -> think -> POST /api/tasks/<id>/annotations/ (the extension's submit handler).
* Direct path (the baseline): a second project of the same size, label config and overlap,
  worked by as many users who are *staff*: the middleware lets staff through untouched, so
  the very same two calls reach Label Studio's own queue (its task locks, breadth-first
  order) and its own annotation create, with no extension logic in between. Each baseline
  user logs in through the same form, so the two paths differ only in the extension.
  (One admin token cannot stand in for 50 annotators: Label Studio's queue hands the task
  a user already holds a lock on back to that user, so 50 clients sharing one identity
  would all be served the same task.) The baseline users are made staff for the run in
  Label Studio's database (Label Studio's own ORM, in its venv) and are demoted and
  deactivated at the end, as are the experts.
* ``--mode interleaved`` (default): the two paths take turns in windows of ``--window``
  seconds (each gets ``--duration`` seconds in all); a window ends when the last cycle
  started in it has been submitted, so the paths never overlap. Each path carries exactly
  its own ``--experts`` concurrent users, on the same server, database and machine, with
  run-to-run drift shared. ``--mode parallel``: both at once for ``--duration``
  (twice the users on the server; both see literally the same load).
* Counted as an error: every non-2xx answer, every transport error or timeout, and every
  404 from ``next`` while the pool still held work for that user.
* After the run, from the database through the admin API: tasks whose distinct annotators
  exceed their overlap, duplicate annotations (one user, one task), and for every expert
  with >= 20 judgments whether the share of gold in each quarter of their stream is within
  half to twice the campaign's gold rate (the scheduler's promise).

Figures go to bench/out/access.json; BENCHMARKS.md ("Expert access under load") quotes them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import services  # noqa: E402
from annoflow.settings import Settings  # noqa: E402
from connectors.annotator import ExpertSession  # noqa: E402
from connectors.label_studio import LabelStudioClient  # noqa: E402
from tests.integration.access_kit import (LABEL_CONFIG, Expert, answer, make_campaign,  # noqa: E402
                                          make_expert)

PATHS = ("access", "direct")


# -- Label Studio's own ORM, for what no API offers (staff flag, deactivation) ----------------
def ls_orm(code: str, payload: Any) -> str:
    """Run ``code`` in Label Studio's venv with its settings; ``payload`` is ``ARG`` there."""
    _, env = services.command(services.LABEL_STUDIO)
    pkg = next((services.LOCAL / "ls-venv" / "lib").glob("python3*/site-packages/label_studio"))
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}{os.pathsep}{pkg}"
    prog = ("import json, sys, warnings; warnings.simplefilter('ignore'); import django; "
            "django.setup(); ARG = json.loads(sys.argv[1])\n" + code)
    proc = subprocess.run([str(services.LS_VENV_BIN / "python"), "-c", prog, json.dumps(payload)],
                          env=env, cwd=services.LOCAL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"Label Studio ORM call failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def make_staff(user_ids: list[int]) -> None:
    ls_orm("from users.models import User\n"
           "n = User.objects.filter(id__in=ARG, is_superuser=False).update(is_staff=True)\n"
           "assert n == len(ARG), n", user_ids)


def retire(user_ids: list[int]) -> None:
    """Bench users are of no use after the run: no staff flag, no login."""
    ls_orm("from users.models import User\n"
           "User.objects.filter(id__in=ARG, is_superuser=False).update(is_staff=False, is_active=False)",
           user_ids)


# -- the run ----------------------------------------------------------------------------------
@dataclass
class Call:
    path: str
    kind: str          # next | submit
    user: int
    t: float           # start, seconds since the run began
    dur: float
    status: int        # HTTP status; 0 for a transport error or timeout
    error: str = ""    # short description when not a success


@dataclass
class Gate:
    """Which path may start a cycle now; counts cycles in flight per path."""
    mode: str
    active: set[str] = field(default_factory=set)
    done: bool = False
    in_flight: Counter = field(default_factory=Counter)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def enter(self, path: str) -> bool:
        with self.cond:
            self.cond.wait_for(lambda: self.done or path in self.active)
            if self.done:
                return False
            self.in_flight[path] += 1
            return True

    def leave(self, path: str) -> None:
        with self.cond:
            self.in_flight[path] -= 1
            self.cond.notify_all()

    def open(self, paths: set[str]) -> None:
        with self.cond:
            self.active = set(paths)
            self.cond.notify_all()

    def close_and_drain(self) -> None:
        with self.cond:
            self.active = set()
            self.cond.wait_for(lambda: sum(self.in_flight.values()) == 0)

    def finish(self) -> None:
        with self.cond:
            self.done = True
            self.active = set()
            self.cond.notify_all()


def ls_cpu_seconds() -> tuple[int, float] | None:
    """(pid, CPU seconds used so far) of the Label Studio server process (user + system)."""
    try:
        pid = int(services.LABEL_STUDIO.pidfile.read_text())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Worker(threading.Thread):
    def __init__(self, *, path: str, session: ExpertSession, user_id: int, project_id: int,
                 gate: Gate, t0: float, think: float, jitter: float, seed: int,
                 calls: list[Call], served: list[tuple[str, int, int]]) -> None:
        super().__init__(daemon=True, name=f"{path}-{user_id}")
        self.path, self.s, self.user, self.pid = path, session, user_id, project_id
        self.gate, self.t0, self.think, self.jitter = gate, t0, think, jitter
        self.rng = random.Random(seed)
        self.calls, self.served = calls, served

    def _call(self, kind: str, method: str, url: str, **kw: Any) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            resp = self.s.request(method, url, **kw)
        except httpx.HTTPError as err:
            self.calls.append(Call(self.path, kind, self.user, start - self.t0,
                                   time.perf_counter() - start, 0, f"{type(err).__name__}: {err}"[:200]))
            return None
        ok = resp.status_code in (200, 201) or (kind == "next" and resp.status_code == 404)
        self.calls.append(Call(self.path, kind, self.user, start - self.t0, time.perf_counter() - start,
                               resp.status_code, "" if ok else resp.text[:200]))
        return resp

    def _pause(self) -> None:
        time.sleep(self.rng.uniform(self.think - self.jitter, self.think + self.jitter))

    def run(self) -> None:
        while self.gate.enter(self.path):
            try:
                resp = self._call("next", "GET", f"/api/projects/{self.pid}/next/")
                if resp is None or resp.status_code != 200:
                    self._pause()   # nothing to do: look again after a while, as a person would
                    continue
                task_id = int(resp.json()["id"])
                self.served.append((self.path, self.user, task_id))
                self._pause()       # reading the item and choosing the answer
                self._call("submit", "POST", f"/api/tasks/{task_id}/annotations/",
                           json={"result": answer(self.rng.choice(("yes", "no")))})
            finally:
                self.gate.leave(self.path)


def login_all(base_url: str, people: list[Expert]) -> list[ExpertSession]:
    # password hashing is the server's slowest request: two at a time, before the clock starts
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda e: e.session(base_url), people))


def drive(args: argparse.Namespace, base_url: str, projects: dict[str, int],
          people: dict[str, list[Expert]]) -> dict[str, Any]:
    sessions = {p: login_all(base_url, people[p]) for p in PATHS}
    calls: list[Call] = []
    served: list[tuple[str, int, int]] = []
    gate = Gate(args.mode)
    t0 = time.perf_counter()
    workers = [Worker(path=p, session=s, user_id=e.user_id, project_id=projects[p], gate=gate,
                      t0=t0, think=args.think, jitter=args.jitter, seed=e.user_id,
                      calls=calls, served=served)
               for p in PATHS for s, e in zip(sessions[p], people[p])]
    for w in workers:
        w.start()
    active_s: Counter = Counter()   # seconds during which a path had users working
    cpu_s: Counter = Counter()      # Label Studio CPU seconds while only that path worked
    cpu_judged: Counter = Counter()  # judgments made in those windows
    windows: list[dict[str, Any]] = []

    def window(paths: set[str], seconds: float) -> None:
        cpu0, start, wall0, n0 = ls_cpu_seconds(), time.perf_counter(), time.time(), len(calls)
        gate.open(paths)
        time.sleep(seconds)
        gate.close_and_drain()
        took = time.perf_counter() - start
        cpu1 = ls_cpu_seconds()
        for p in paths:
            active_s[p] += took
            if len(paths) == 1 and cpu0 and cpu1 and cpu0[0] == cpu1[0]:  # not restarted
                cpu_s[p] += cpu1[1] - cpu0[1]
                cpu_judged[p] += sum(1 for c in calls[n0:] if c.kind == "submit" and c.status == 201)
        windows.append({"paths": sorted(paths), "t": round(start - t0, 1), "seconds": round(took, 1),
                        "wall_start": wall0, "wall_end": time.time()})
        print(f"  {'+'.join(sorted(paths)):<13} window at {start - t0:6.1f} s: {took:5.1f} s, "
              f"{sum(1 for c in calls if c.kind == 'submit' and c.status == 201)} judgments so far",
              flush=True)

    if args.mode == "parallel":
        window(set(PATHS), args.duration)
    else:
        left = {p: float(args.duration) for p in PATHS}
        while any(v > 0.01 for v in left.values()):
            for p in PATHS:
                if left[p] > 0.01:
                    w = min(args.window, left[p])
                    window({p}, w)
                    left[p] -= w
    gate.finish()
    for w in workers:
        w.join(timeout=60)
    for p in PATHS:
        for s in sessions[p]:
            s.close()
    return {"calls": calls, "served": served, "active_s": dict(active_s), "cpu_s": dict(cpu_s),
            "cpu_judged": dict(cpu_judged), "windows": windows, "wall_s": time.perf_counter() - t0}


# -- figures ----------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def latency(calls: list[Call], path: str, kind: str) -> dict[str, Any]:
    ok = [c.dur for c in calls if c.path == path and c.kind == kind and c.status in (200, 201)]
    return {"n": len(ok), "p50_ms": pct(ok, 50), "p95_ms": pct(ok, 95), "p99_ms": pct(ok, 99),
            "max_ms": pct(ok, 100), "mean_ms": round(1000 * statistics.fmean(ok), 1) if ok else None}


def judgments(ls: LabelStudioClient, project_id: int) -> tuple[dict[int, int], list[dict[str, Any]]]:
    overlap, rows = {}, []
    for t in ls.iter_tasks(project_id=project_id):
        overlap[t.id] = t.overlap
        for a in t.annotations:
            if not a.was_cancelled:
                rows.append({"task": t.id, "user": a.completed_by, "id": a.id, "at": a.created_at})
    return overlap, rows


def over_overlap(overlap: dict[int, int], pairs: list[tuple[int, int]], tasks: set[int]) -> dict[str, Any]:
    """Tasks (among ``tasks``) whose distinct users exceed the task's overlap."""
    users: dict[int, set[int]] = defaultdict(set)
    for task, user in pairs:
        users[task].add(user)
    over = {t: len(users[t]) - overlap[t] for t in tasks if len(users[t]) > overlap[t]}
    return {"tasks": len(over), "extra_judgments": sum(over.values()),
            "worst": max(over.values(), default=0), "examples": sorted(over)[:10]}


def gold_quarters(rows: list[dict[str, Any]], gold: set[int], rate: float,
                  min_judgments: int = 20) -> dict[str, Any]:
    per_user: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        per_user[r["user"]].append(r)
    checked, failed = 0, []
    shares = []
    for user, rs in per_user.items():
        if len(rs) < min_judgments:
            continue
        checked += 1
        stream = [r["task"] in gold for r in sorted(rs, key=lambda r: (r["at"], r["id"]))]
        quarter = [float(np.mean(q)) for q in np.array_split(np.array(stream), 4)]
        shares.append(float(np.mean(stream)))
        if not all(rate / 2 <= s <= 2 * rate for s in quarter):
            failed.append({"user": user, "judgments": len(rs), "quarters": [round(s, 3) for s in quarter]})
    return {"experts_checked": checked, "experts_outside": len(failed), "outside": failed[:10],
            "experts_below_20": sum(1 for rs in per_user.values() if len(rs) < min_judgments),
            "gold_share_min": round(min(shares), 3) if shares else None,
            "gold_share_max": round(max(shares), 3) if shares else None}


LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] \[([^\]]+)\] \[(\w+)\]")


REQUEST = re.compile(r'"([A-Z]+) (\S+) HTTP/1\.1" (\d{3})')


def log_tail(start: int, windows: list[dict[str, Any]], projects: dict[str, int]) -> dict[str, Any]:
    """What Label Studio logged at ERROR (or a 5xx) during the run, by the path that was
    working when it was logged (interleaved mode; lines are logged twice by its two
    handlers and counted once)."""
    try:
        with services.LABEL_STUDIO.logfile.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return {}
    records: list[str] = []   # a timestamped line with the traceback lines under it
    for ln in text.splitlines():
        if LOG_TIME.match(ln) or not records:
            records.append(ln)
        else:
            records[-1] += "\n" + ln
    records = list(dict.fromkeys(records))  # each record is logged by two handlers

    def path_at(ln: str) -> str:
        m = LOG_TIME.match(ln)
        if not m:
            return "?"
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for w in windows:
            if w["wall_start"] <= at <= w["wall_end"]:
                return "+".join(w["paths"])
        return "between windows"

    by: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list[str]] = defaultdict(list)
    mine = re.compile(rf"^(/api/projects/({projects['access']}|{projects['direct']})/next/"
                      r"|/api/tasks/\d+/annotations/)$")
    others: Counter = Counter()   # requests not made by this benchmark, while it ran
    for rec in records:
        m = LOG_TIME.match(rec)
        where = path_at(rec)
        req = REQUEST.search(rec) if "django.server" in rec else None
        if req and where in ("access", "direct", "access+direct") and not mine.match(req.group(2)):
            others[where] += 1
        if "database is locked" in rec:
            by[where]["database is locked"] += 1
        if not m or (m.group(3) != "ERROR" and 'HTTP/1.1" 5' not in rec):
            continue
        by[where]["HTTP 5xx" if m.group(3) != "ERROR" else m.group(2)] += 1
        if len(examples[where]) < 4:
            examples[where].append(rec[:300])
    return {"error_lines": sum(sum(c.values()) for c in by.values()),
            "by_path": {k: dict(v) for k, v in by.items()}, "examples": dict(examples),
            "other_requests_during_windows": dict(others)}


def analyse(ls: LabelStudioClient, run: dict[str, Any], camp: Any, direct_id: int,
            args: argparse.Namespace) -> dict[str, Any]:
    calls: list[Call] = run["calls"]
    out: dict[str, Any] = {}
    gold = set(camp.gold)
    db = {"access": judgments(ls, camp.project_id), "direct": judgments(ls, direct_id)}
    for p in PATHS:
        overlap, rows = db[p]
        work = set(overlap) - gold if p == "access" else set(overlap)
        # a 404 from next is an error while the pool still held work for that user
        mine = defaultdict(set)
        for r in rows:
            mine[r["user"]].add(r["task"])
        n_users = Counter(r["task"] for r in rows if r["task"] in work)
        open_work = {t for t in work if n_users[t] < overlap[t]}
        errors = Counter()
        examples = []
        for c in calls:
            if c.path != p:
                continue
            if c.status == 404 and c.kind == "next":
                bad = bool(open_work - mine[c.user])  # judged by the pool at the end of the run
            else:
                bad = c.status not in (200, 201)      # 0: transport error or timeout
            if bad:
                errors[f"{c.kind} {c.status or 'transport'}"] += 1
                if len(examples) < 5:
                    examples.append({"kind": c.kind, "status": c.status, "t": round(c.t, 1),
                                     "body": c.error[:160]})
        pairs_db = [(r["task"], r["user"]) for r in rows]
        pairs_served = [(t, u) for (q, u, t) in run["served"] if q == p]
        dup = Counter(pairs_db)
        n_ok = sum(1 for c in calls if c.path == p and c.kind == "submit" and c.status == 201)
        entry = {
            "users": args.experts,
            "judgments": len(rows),
            "judgments_per_s": round(n_ok / run["active_s"][p], 2) if run["active_s"].get(p) else None,
            "calls": sum(1 for c in calls if c.path == p),
            "errors": sum(errors.values()),
            "errors_by_kind": dict(errors),
            "error_examples": examples,
            "next": latency(calls, p, "next"),
            "submit": latency(calls, p, "submit"),
            "over_overlap_judged": over_overlap(overlap, pairs_db, work),
            "over_overlap_served": over_overlap(overlap, pairs_served, work),
            "duplicate_annotations": sum(n - 1 for n in dup.values() if n > 1),
            "work_tasks": len(work),
            "work_tasks_complete": sum(1 for t in work if n_users[t] >= overlap[t]),
            "active_seconds": round(run["active_s"].get(p, 0), 1),
        }
        if run["cpu_s"].get(p):
            entry["server_cpu_s"] = round(run["cpu_s"][p], 1)
            entry["server_cpu_ms_per_judgment"] = round(
                1000 * run["cpu_s"][p] / max(run["cpu_judged"].get(p, 0), 1), 1)
        if p == "access":
            entry["gold_tasks"] = len(gold)
            entry["gold_judgments"] = sum(1 for r in rows if r["task"] in gold)
            entry["gold_quarters"] = gold_quarters(rows, gold, camp.gold_rate)
        out[p] = entry
    return out


def table(res: dict[str, Any]) -> str:
    a, d = res["access"], res["direct"]

    def row(name: str, f) -> str:
        return f"| {name} | {f(a)} | {f(d)} |"

    lines = ["| measure | access path | direct to Label Studio |", "|---|---|---|",
             row("judgments (judgments/s while working)",
                 lambda x: f"{x['judgments']} ({x['judgments_per_s']})"),
             row("errors", lambda x: f"{x['errors']} {x['errors_by_kind'] or ''}".strip()),
             row("serve (next) p50 / p95", lambda x: f"{x['next']['p50_ms']} / {x['next']['p95_ms']} ms"),
             row("submit p50 / p95", lambda x: f"{x['submit']['p50_ms']} / {x['submit']['p95_ms']} ms"),
             row("work tasks judged beyond overlap", lambda x: f"{x['over_overlap_judged']['tasks']} "
                 f"(+{x['over_overlap_judged']['extra_judgments']})"),
             row("work tasks served beyond overlap", lambda x: f"{x['over_overlap_served']['tasks']}"),
             row("duplicate annotations (one user, one task)",
                 lambda x: f"{x['duplicate_annotations']}"),
             row("server CPU per judgment",
                 lambda x: f"{x.get('server_cpu_ms_per_judgment', '–')} ms")]
    g = a["gold_quarters"]
    lines.append(f"| gold in every quarter within ½×–2× rate | "
                 f"{g['experts_checked'] - g['experts_outside']} of {g['experts_checked']} experts | – |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experts", type=int, default=50, help="simulated users per path (50)")
    ap.add_argument("--duration", type=float, default=300, help="seconds of work per path (300)")
    ap.add_argument("--think", type=float, default=1.0,
                    help="mean think time between next and submit (1.0 s)")
    ap.add_argument("--jitter", type=float, default=0.5,
                    help="think time is uniform in think ± jitter (0.5 s)")
    ap.add_argument("--overlap", type=int, default=3)
    ap.add_argument("--gold-rate", type=float, default=0.2)
    ap.add_argument("--work", type=int, default=0,
                    help="work tasks per project (default: as many as the users could judge at "
                         "zero latency, so that work never runs out)")
    ap.add_argument("--mode", choices=("interleaved", "parallel"), default="interleaved")
    ap.add_argument("--window", type=float, default=30, help="interleaved: seconds per turn (30)")
    ap.add_argument("--keep", action="store_true", help="keep the two projects (for inspection)")
    ap.add_argument("--out", default=str(ROOT / "bench/out/access.json"))
    args = ap.parse_args()

    began = time.perf_counter()
    settings = Settings()
    ls = LabelStudioClient(settings)
    base_url = settings.expert_url
    cycles = args.duration / args.think                    # most cycles one user can make
    n_work = args.work or math.ceil(args.experts * cycles * (1 - args.gold_rate) / args.overlap)
    n_gold = math.ceil(cycles * args.gold_rate) + 10       # every expert meets fresh probes
    print(f"Expert access under load: {args.experts} users per path, {args.duration:.0f} s each "
          f"({args.mode}), think {args.think}±{args.jitter} s; {n_work} work + {n_gold} gold tasks, "
          f"overlap {args.overlap}, gold rate {args.gold_rate}", flush=True)

    t = time.perf_counter()
    camp = make_campaign(ls, n_work=n_work, n_gold=n_gold, n_experts=args.experts,
                         overlap=args.overlap, gold_rate=args.gold_rate, tag="bench-load")
    key = uuid.uuid4().hex
    direct = ls.create_project(key=key, request_id=f"bench-direct-{key[:6]}", title="direct baseline",
                               label_config=LABEL_CONFIG, overlap=args.overlap,
                               description="load benchmark baseline (staff, Label Studio's own queue)")
    ls.import_tasks(project_id=direct.id, tasks=[
        {"data": {"text": f"statement {i:04d} of {key[:6]}"}, "meta": {"ref": uuid.uuid4().hex[:16]}}
        for i in range(n_work + n_gold)])
    baseline = [make_expert(ls, "bench-direct") for _ in range(args.experts)]
    everyone = [e.user_id for e in camp.experts] + [e.user_id for e in baseline]
    try:
        make_staff([e.user_id for e in baseline])
        setup_s = time.perf_counter() - t
        print(f"  set-up {setup_s:.0f} s (projects {camp.project_id} access, {direct.id} direct)", flush=True)
        log_start = services.LABEL_STUDIO.logfile.stat().st_size
        run = drive(args, base_url, {"access": camp.project_id, "direct": direct.id},
                    {"access": list(camp.experts), "direct": baseline})
        log = log_tail(log_start, run["windows"], {"access": camp.project_id, "direct": direct.id})
        t = time.perf_counter()
        res = analyse(ls, run, camp, direct.id, args)
        analyse_s = time.perf_counter() - t
    finally:
        retire(everyone)
    if not args.keep:
        for pid in (camp.project_id, direct.id):
            ls._sdk.projects.delete(id=pid)
    res["setup"] = {
        "experts_per_path": args.experts, "duration_s_per_path": args.duration, "mode": args.mode,
        "window_s": args.window if args.mode == "interleaved" else None,
        "think_s": f"uniform {args.think - args.jitter:g}-{args.think + args.jitter:g}",
        "overlap": args.overlap, "gold_rate": args.gold_rate, "work_tasks": n_work, "gold_tasks": n_gold,
        "machine": f"{os.cpu_count()} cores", "setup_s": round(setup_s, 1),
        "load_wall_s": round(run["wall_s"], 1), "analyse_s": round(analyse_s, 1),
        "total_s": round(time.perf_counter() - began, 1), "windows": len(run["windows"]),
        "projects": {"access": camp.project_id, "direct": direct.id, "kept": args.keep},
    }
    res["label_studio_log"] = log
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str))
    print(table(res))
    print(f"Label Studio log during the run: {log.get('error_lines')} error lines "
          f"{json.dumps(log.get('by_path'))}; requests by others while the bench ran: "
          f"{log.get('other_requests_during_windows')}")
    print(f"total {res['setup']['total_s']} s; figures in {out}", flush=True)


if __name__ == "__main__":
    main()
