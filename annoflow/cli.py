"""The ``annoflow`` command: validate a spec, run a campaign, check its status."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from annoflow.errors import (AnnoflowError, CampaignStopped, CampaignTimeout, ConnectorError,
                             QCGateFailed)
from annoflow.settings import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="annoflow: managed expert-annotation campaigns, from request spec to "
                       "model-ready Parquet on S3.")
# markup off by default: data (paths, messages) is printed as is; styled lines opt in
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def _prepare_prefect_env() -> None:
    """Point Prefect at the long-lived server and keep its console quiet (run logs still
    reach the Prefect UI). Must run before prefect is imported."""
    settings = get_settings()
    os.environ.setdefault("PREFECT_API_URL", settings.prefect_api_url)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "annoflow")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _setup_logging(quiet: bool) -> None:
    logger = logging.getLogger("annoflow")
    logger.setLevel(logging.INFO)
    if not any(getattr(h, "_annoflow", False) for h in logger.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s  %(message)s", datefmt="%H:%M:%S"))
        h.setLevel(logging.WARNING if quiet else logging.INFO)
        h._annoflow = True  # type: ignore[attr-defined]
        logger.addHandler(h)


def _fail(error: AnnoflowError, as_json: bool, request_id: str | None = None,
          extra: dict[str, Any] | None = None, notes: tuple[str, ...] = ()) -> None:
    err.print(f"[bold red]error:[/] {escape(str(error))}", markup=True)
    for note in notes:
        err.print(note, markup=False)
    if as_json:
        print(json.dumps({"request_id": request_id, "status": "failed",
                          "error": type(error).__name__, "message": str(error), **(extra or {})}))
    raise typer.Exit(error.exit_code)


def _check_up(name: str, url: str, hint: str) -> None:
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.HTTPError as e:
        if e.code >= 500:
            raise ConnectorError(f"{name} at {url} answered HTTP {e.code}. {hint}") from None
    except (OSError, urllib.error.URLError):
        raise ConnectorError(f"{name} is not reachable at {url}. {hint}") from None


def _preflight() -> None:
    s = get_settings()
    s.require_secret_key()
    _check_up("The Prefect API", os.environ["PREFECT_API_URL"].rstrip("/") + "/health",
              "Run `make services`, or set PREFECT_API_URL.")
    _check_up("Label Studio", s.label_studio_url.rstrip("/") + "/health",
              "Run `make services`, or set ANNOFLOW_LABEL_STUDIO_URL.")
    if s.s3_endpoint_url:
        _check_up("S3", s.s3_endpoint_url, "Run `make services`, or set ANNOFLOW_S3_ENDPOINT_URL.")


@app.command()
def validate(spec_path: Path = typer.Argument(..., metavar="SPEC", help="request spec YAML"),
             as_json: bool = typer.Option(False, "--json", help="print the plan as one JSON object")
             ) -> None:
    """Check a request spec and its data, and print the campaign plan."""
    from annoflow.spec import load_spec
    _prepare_prefect_env()
    from tasks.scoping import format_problems, scope

    try:
        spec = load_spec(spec_path)
        scoped = scope(spec)
    except AnnoflowError as e:
        _fail(e, as_json)
    plan = scoped.plan
    if len(scoped.prepared.problems):
        err.print(f"warning: {plan.quarantined_rows} bad row(s) will be quarantined "
                  f"(within source.max_bad_share):\n{format_problems(scoped.prepared.problems)}")
    if as_json:
        print(plan.model_dump_json())
    else:
        out.print(f"[green]✓[/] {escape(str(spec_path))} is valid.", markup=True)
        out.print(plan.to_text())


def _review_line(r: dict[str, Any]) -> str:
    """L4's figures in a line (``QCStats.review``)."""
    if not r.get("reviewed"):
        return f"none of the {r['sampled']} sampled items was reviewed"
    lo, hi = r["acceptance_ci"]
    return (f"{r['accepted']} of {r['reviewed']} reviewed items accepted as they were "
            f"({r['acceptance']:.0%}, 95% interval {lo:.0%}–{hi:.0%}; bar "
            f"{r['min_acceptance']:.0%}), {r['corrected']} corrected, {r['rejected']} rejected, "
            f"by {len(r['by_reviewer'])} reviewer(s)")


def _summary(r: dict[str, Any], flow_run_url: str, elapsed: float,
             what: str = "delivered") -> None:
    s = get_settings()
    qc = r["qc"]
    alpha = qc.get("krippendorff_alpha")
    # Krippendorff's own reading: >= .800 reliable, >= .667 tentative conclusions only
    verdict = ("reliable" if alpha is not None and alpha >= 0.8 else
               "tentative" if alpha is not None and alpha >= 0.667 else "low")
    out.print()
    out.print(f"[bold green]Campaign {r['request_id']} {what}[/] in {elapsed:.0f} s"
              + (" (this version was already delivered; nothing was rewritten)"
                 if r.get("reused_delivery") else "") + ".", markup=True)
    out.print(f"  Dataset      {r['delivery_uri']}")
    out.print(f"               {r['items']} rows of model-ready data, "
              f"{r['annotations']} individual judgments")
    out.print(f"  Manifest     {r['manifest_uri']}")
    out.print(f"  QC report    {r['delivery_uri']}qc_report.html (charts; open in a browser)")
    if alpha is not None:
        out.print(f"  Agreement    Krippendorff's alpha {alpha:.2f} ({verdict}) across "
                  f"{qc['judgments_kept']} kept judgments; mean confidence "
                  f"{qc.get('mean_confidence') or 0:.2f}")
    else:
        out.print(f"  Checks       {qc['judgments_kept']} of {qc['judgments']} texts accepted "
                  f"(free text: automatic checks, no vote)")
    if qc.get("review"):
        out.print(f"  Review       {_review_line(qc['review'])}")
    if qc.get("items_unresolved"):
        out.print(f"  Unresolved   {qc['items_unresolved']} item(s) had no usable result")
    ex = r.get("excluded_experts", [])
    out.print(f"  Excluded     {len(ex)} of {qc['annotators']} annotators"
              + ("" if ex else ": none"))
    for e in ex:
        out.print(f"               {e['expert_id']}: {e['reason']}")
    login = s.label_studio_login
    out.print(f"  Label Studio {r['label_studio_project_url']}"
              + (f"  (log in as {login[0]} / {login[1]})" if login else ""))
    out.print(f"  Prefect run  {flow_run_url}")


def _submit(spec, spec_change: str | None, profile) -> None:
    """Scope and record the campaign, and deploy its ticks (and simulated workforce), under
    the campaign's lock; the first tick is started at once. Both deployments start a run
    per span (``run_interval``): ticks, or a burst of simulated work, for most of it."""
    from flows.campaign import run_interval, submit
    from tasks.locks import campaign_lock
    from tasks.stages import SIMULATION_FLOW, TICK_FLOW, deploy, run_now

    rid = spec.request_id
    with campaign_lock(rid):
        submit(spec=spec, spec_change=spec_change)
        tick_s = spec.operations.tick_seconds
        span_s = run_interval(tick_s)
        deploy(rid, flow_name=TICK_FLOW, entrypoint="flows/campaign.py:campaign_tick",
               interval_s=span_s, parameters={
                   "request_id": rid, "tick_seconds": tick_s, "span_s": span_s})
        if profile is not None:
            deploy(rid, flow_name=SIMULATION_FLOW,
                   entrypoint="flows/simulated_workforce.py:simulated_workforce", interval_s=span_s,
                   parameters={"request_id": rid, "profile": profile.model_dump(mode="json"),
                               "burst_s": span_s})
    run_now(rid)
    if profile is not None:
        run_now(rid, SIMULATION_FLOW)


def _round_line(state, request_id: str) -> str:
    """Where a qualification round stands, from the roster's states."""
    counts: dict[str, int] = {}
    for e in state.roster_entries(request_id):
        counts[e.status] = counts.get(e.status, 0) + 1
    return (f"{counts.get('active', 0)} qualified, {counts.get('failed', 0)} failed, "
            f"{counts.get('qualifying', 0)} answering")


def _follow(request_id: str, wait_timeout: float, poll_interval: float) -> "CampaignResult":
    """Follow the campaign until it is delivered (its result), stops, or the wait ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from annoflow.errors import CampaignTimeout
    from annoflow.results import CampaignResult
    from connectors.state import StateStore
    from tasks.stages import last_progress

    state = StateStore(get_settings().state_url)
    deadline = time.monotonic() + wait_timeout
    last_line = None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[detail]}"), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        job = bar.add_task("items", total=None, detail="waiting for the first tick")
        while True:
            camp = state.campaign(request_id)
            if camp.stage == "delivered" and camp.result_json:
                return CampaignResult.model_validate_json(camp.result_json)
            if camp.stage == "qc_failed":
                raise QCGateFailed.from_reason(camp.stage_reason or "QC gate failed")
            if camp.stage in ("paused", "cancelled"):
                raise CampaignStopped(f"campaign {request_id} was {camp.stage}"
                                      + (f" ({camp.stage_reason})" if camp.stage_reason else "")
                                      + f"; `annoflow status {request_id}` shows where it stands")
            if camp.stage in ("qualifying", "reviewing"):
                line = ("qualification round: " + _round_line(state, request_id)
                        if camp.stage == "qualifying" else f"expert review: {camp.stage_reason}")
                bar.update(job, detail=line)
                if line != last_line and not err.is_terminal:
                    err.print(time.strftime("%H:%M:%S  ") + line)
                last_line = line
            p = last_progress(request_id)
            if p:
                detail = (f"{p.judgments} judgments"
                          + (f", ETA {p.eta[11:16]} UTC" if p.eta else "")
                          + (f", removed: {', '.join(p.removed)}" if p.removed else ""))
                bar.update(job, total=p.tasks, completed=p.tasks_complete, detail=detail)
                line = f"progress: {p.tasks_complete}/{p.tasks} items complete, {detail}"
                if line != last_line and not err.is_terminal:
                    err.print(time.strftime("%H:%M:%S  ") + line)
                last_line = line
            if time.monotonic() >= deadline:
                done, total = (p.tasks_complete, p.tasks) if p else (0, 0)
                raise CampaignTimeout(
                    f"stopped following after {wait_timeout:.0f} s ({done} of {total} items "
                    f"complete). The campaign goes on by itself: `annoflow status {request_id}` "
                    f"shows where it stands; `annoflow run` on the same spec follows it again.",
                    done=done, total=total)
            time.sleep(poll_interval)


@app.command()
def run(spec_path: Path = typer.Argument(..., metavar="SPEC", help="request spec YAML"),
        simulate: Optional[Path] = typer.Option(
            None, "--simulate", metavar="PROFILE",
            help="also start a simulated expert workforce (configs/simulation/*.yaml): a "
                 "deployment of its own that works until the campaign is delivered"),
        detach: bool = typer.Option(False, "--detach",
                                    help="submit the campaign and return at once"),
        wait_timeout: float = typer.Option(
            86_400, "--wait-timeout", help="seconds to follow the campaign before returning "
                                           "(the campaign itself goes on)"),
        poll_interval: float = typer.Option(2.0, "--poll-interval",
                                            help="seconds between looks at the campaign"),
        spec_change: Optional[str] = typer.Option(
            None, "--spec-change", metavar="WHY",
            help="the spec differs from the one the campaign started with, on purpose: "
                 "record the change with this reason (else a changed spec is refused)"),
        as_json: bool = typer.Option(False, "--json",
                                     help="end with one JSON object describing the result"),
        ) -> None:
    """Submit a campaign and follow it: scope, source, produce, QC, deliver. The campaign
    runs on the Prefect worker in ticks; Ctrl-C stops following, not the campaign."""
    _prepare_prefect_env()
    _setup_logging(quiet=False)
    from annoflow.spec import load_spec

    request_id = None
    try:
        spec = load_spec(spec_path)
        request_id = spec.request_id
        profile = None
        if simulate is not None:
            from simulation.workforce import load_profile
            profile = load_profile(simulate)
        _preflight()
    except AnnoflowError as e:
        _fail(e, as_json, request_id)

    s = get_settings()
    started = time.monotonic()
    try:
        from connectors.state import StateStore
        camp = StateStore(s.state_url).campaign(spec.request_id)
        if camp is None or camp.stage != "delivered":
            out.print(f"Submitting campaign [bold]{spec.request_id}[/] ({spec.task.type}, "
                      f"{spec.workforce.annotators_per_item} experts per item"
                      + (f", up to {spec.workforce.most_per_item} on unsure items"
                         if spec.workforce.most_per_item > spec.workforce.annotators_per_item
                         else "") + ", a tick every "
                      f"{spec.operations.tick_seconds:g} s)"
                      + (f" with a simulated workforce from {escape(str(simulate))}" if simulate
                         else "") + ".", markup=True)
            _submit(spec, spec_change, profile)
        if detach:
            out.print(f"Submitted. The campaign runs on the Prefect worker; follow it with "
                      f"`annoflow status {spec.request_id}`.")
            if as_json:
                print(json.dumps({"request_id": spec.request_id, "status": "submitted"}))
            return
        result = _follow(spec.request_id, wait_timeout, poll_interval)
    except KeyboardInterrupt:
        err.print(f"stopped following; the campaign goes on by itself (`annoflow status "
                  f"{request_id}`).")
        raise typer.Exit(130) from None
    except AnnoflowError as e:
        extra = {}
        if isinstance(e, CampaignTimeout):
            extra.update(tasks_complete=e.done, tasks_total=e.total)
        if isinstance(e, QCGateFailed):
            extra.update(qc=e.stats)
        _fail(e, as_json, request_id, extra)
    except Exception as e:  # a bug, not a user mistake
        err.print(f"error: annoflow failed unexpectedly ({type(e).__name__}: {e}). This is a bug "
                  f"in annoflow.")
        if as_json:
            print(json.dumps({"request_id": request_id, "status": "failed",
                              "error": type(e).__name__, "message": str(e)}))
        raise typer.Exit(1) from None
    if camp is not None and camp.stage == "delivered":
        result = result.model_copy(update={"reused_delivery": True})
    _summary(result.model_dump(mode="json"), result.prefect_flow_run_url or "",
             time.monotonic() - started)
    if as_json:
        print(result.model_dump_json())


@app.command()
def status(request_id: Optional[str] = typer.Argument(None, metavar="[REQUEST_ID]"),
           as_json: bool = typer.Option(False, "--json",
                                        help="end with one JSON object describing the status")
           ) -> None:
    """Where a campaign stands (or every campaign): stage, progress, throughput, ETA, cost,
    experts, alerts, delivery."""
    _prepare_prefect_env()
    from tasks.status import all_campaigns, campaign_status

    try:
        if request_id is None:
            rows = all_campaigns()
            if as_json:
                print(json.dumps({"campaigns": rows}, default=str))
                return
            out.print(f"  {'campaign':<28} {'stage':<11} {'items':>13} {'judgments':>10}  ETA")
            for r in rows:
                out.print(f"  {r['request_id']:<28} {r['stage']:<11} "
                          f"{r.get('tasks_complete') or 0:>6}/{r.get('tasks') or 0:<6} "
                          f"{r.get('judgments') or 0:>10}  {r.get('eta') or '-'}")
            return
        st = campaign_status(request_id)
    except AnnoflowError as e:
        _fail(e, as_json, request_id)
    if as_json:
        print(json.dumps(st, default=str))
        return
    _print_status(st)


def _print_status(st: dict) -> None:
    out.print(f"Campaign [bold]{escape(st['request_id'])}[/]: {st['stage'].replace('_', ' ')}"
              + (f" ({st['stage_reason']})" if st.get("stage_reason") else ""), markup=True)
    p = st.get("progress") or {}
    if p:
        out.print(f"  Progress     {p['tasks_complete']}/{p['tasks']} items complete, "
                  f"{p['judgments']} judgments (as of {p['at']})")
        t = p["throughput_per_hour"]
        out.print(f"  Throughput   {t['last_hour']}/h in the last hour, {t['last_day']}/h over "
                  f"the last day; ETA {p['eta'] or 'n/a'}")
        if p.get("items_with_extra"):
            out.print(f"  Extra        {p['extra_judgments']} judgment(s) asked on "
                      f"{p['items_with_extra']} unsure item(s) (dynamic overlap)")
        out.print(f"  Cost         ${p['cost_usd']:,.2f}"
                  + (f" of a ${p['budget_usd']:,.0f} budget" if p.get("budget_usd") else ""))
        out.print(f"  Experts      " + ", ".join(
            f"{x['expert_id']} {x['state']}" for x in p["experts"]))
        for x in p["experts"]:
            if x["state"] in ("removed", "released"):
                out.print(f"               {x['expert_id']} {x['state']} at {x['since']}: "
                          f"{x['reason']}")
        for a in p.get("alerts", []):
            out.print(f"  Alert        {a}")
    if st.get("tick_alert"):
        out.print(f"  Alert        {st['tick_alert']}")
    review = ((st.get("result") or {}).get("qc") or {}).get("review")
    if review:
        out.print(f"  Review       {_review_line(review)}")
    for key, label in (("label_studio_project_url", "Label Studio"),
                       ("delivery_uri", "Dataset"), ("manifest_uri", "Manifest"),
                       ("prefect_flow_run_url", "Last tick")):
        if st.get(key):
            out.print(f"  {label:<12} {st[key]}")


def _change_stage(request_id: str, action: str, as_json: bool) -> None:
    _prepare_prefect_env()
    _setup_logging(quiet=True)
    from tasks.stages import change_stage
    try:
        stage = change_stage(request_id, action)
    except AnnoflowError as e:
        _fail(e, as_json, request_id)
    if as_json:
        print(json.dumps({"request_id": request_id, "stage": stage}))
    else:
        out.print(f"Campaign {request_id}: {stage}.")


@app.command()
def deliver(request_id: str = typer.Argument(..., metavar="REQUEST_ID"),
            as_json: bool = typer.Option(False, "--json",
                                         help="end with one JSON object describing the version")
            ) -> None:
    """Cut an interim version of what has passed QC so far (the items with all their
    judgments); the campaign goes on. Identical content creates no new version."""
    _prepare_prefect_env()
    _setup_logging(quiet=True)
    from flows.campaign import deliver_interim
    started = time.monotonic()
    try:
        get_settings().require_secret_key()
        result = deliver_interim(request_id=request_id)
    except AnnoflowError as e:
        _fail(e, as_json, request_id)
    _summary(result.model_dump(mode="json"), result.prefect_flow_run_url or "",
             time.monotonic() - started, what="interim version")
    if as_json:
        print(result.model_dump_json())


@app.command()
def pause(request_id: str = typer.Argument(..., metavar="REQUEST_ID"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop a campaign's ticks (and its simulated workforce) until `annoflow resume`."""
    _change_stage(request_id, "pause", as_json)


@app.command()
def resume(request_id: str = typer.Argument(..., metavar="REQUEST_ID"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Start a paused campaign's ticks again."""
    _change_stage(request_id, "resume", as_json)


@app.command()
def cancel(request_id: str = typer.Argument(..., metavar="REQUEST_ID"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """End a campaign for good: no more ticks, its experts lose access, their booked hours
    are freed. What was synced stays in the raw zone."""
    _change_stage(request_id, "cancel", as_json)


@app.command()
def experts(request_id: str = typer.Argument(..., metavar="REQUEST_ID"),
            reset_password: Optional[str] = typer.Option(
                None, "--reset-password", metavar="EXPERT_ID",
                help="issue a new one-time password to this expert (the old one stops working)"),
            add: int = typer.Option(0, "--add", metavar="N", min=0,
                                    help="source N more experts from the pool for this campaign"),
            remove: Optional[str] = typer.Option(
                None, "--remove", metavar="EXPERT_ID",
                help="take this expert off the campaign (their judgments stop counting)"),
            reason: Optional[str] = typer.Option(None, "--reason", metavar="TEXT",
                                                 help="why (required with --remove)"),
            as_json: bool = typer.Option(False, "--json", help="print the rows as one JSON object")
            ) -> None:
    """How each rostered expert signs in: login, annotator URL, one-time password; and
    explicit, audited roster changes (--add N, --remove EXPERT_ID --reason TEXT)."""
    _prepare_prefect_env()
    from tasks.sourcing import expert_logins

    try:
        if remove is not None or add:
            from tasks.locks import campaign_lock
            from tasks.operations import add_experts, remove_expert
            if remove is not None and not (reason or "").strip():
                raise AnnoflowError("--remove needs --reason TEXT: every roster change is "
                                    "recorded with why")
            with campaign_lock(request_id):
                if remove is not None:
                    changed = remove_expert(request_id, remove, reason.strip())
                    err.print(f"{remove} removed from {request_id}" if changed else
                              f"{remove} was already removed from {request_id}")
                if add:
                    added = add_experts(request_id, add)
                    err.print(f"added to {request_id}: {', '.join(added)}")
        rows = expert_logins(request_id, reset=reset_password)
    except AnnoflowError as e:
        _fail(e, as_json, request_id)
    if as_json:
        print(json.dumps({"request_id": request_id, "experts": [r.model_dump() for r in rows]}))
        return
    for role in dict.fromkeys(r.role for r in rows):
        url = next(r.annotator_url for r in rows if r.role == role)
        who = "Experts" if role == "annotator" else "Reviewers"
        out.print(f"{who} of [bold]{escape(request_id)}[/] sign in at {escape(url)}"
                  + (" (their project opens once production is done)"
                     if role == "reviewer" and url.endswith("next=/projects/") else ""), markup=True)
    out.print(f"  {'expert':<12} {'role':<10} {'login':<48} {'password':<22} state")
    for r in rows:
        out.print(f"  {r.expert_id:<12} {r.role:<10} {r.login:<48} {r.password or '-':<22} "
                  f"{r.password_state}")
    out.print("Hand each expert their login and password privately. A password is shown until "
              "its first use; after that only --reset-password makes a new one.")


pool_app = typer.Typer(no_args_is_help=True, help="The talent pool: import experts, look them "
                                                   "up, generate test pools.")
app.add_typer(pool_app, name="pool")


def _registry():
    from connectors.pool_registry import PoolRegistry
    from connectors.state import StateStore
    return PoolRegistry(StateStore(get_settings().state_url))


@pool_app.command("import")
def pool_import(file: str = typer.Argument(..., metavar="FILE",
                                           help="CSV, JSONL or Parquet; a path or s3:// URI"),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Add or update experts from a pool file (by expert_id). Every row is checked first:
    a file with any bad row changes nothing."""
    try:
        store = None
        if file.startswith("s3://"):
            from connectors.s3 import S3Store
            store = S3Store(get_settings())
        registry = _registry()
        result = registry.import_file(file, store=store)
    except AnnoflowError as e:
        _fail(e, as_json)
    if as_json:
        print(json.dumps({"file": file, **result.__dict__, "pool_size": registry.size()}))
        return
    out.print(f"{escape(file)}: {result.rows:,} experts read; {result.added:,} added, "
              f"{result.changed:,} changed, {result.unchanged:,} unchanged. The pool holds "
              f"{registry.size():,} experts ({escape(registry.state.where)}).")


@pool_app.command("show")
def pool_show(expert_id: Optional[str] = typer.Argument(None, metavar="[EXPERT_ID]"),
              contacts: bool = typer.Option(False, "--contacts",
                                            help="include names and emails (personal data)"),
              limit: int = typer.Option(20, "--limit", min=1, help="experts listed at most"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """One expert's profile and quality history, or the pool's first experts. Contact
    details only with --contacts."""
    try:
        registry = _registry()
        if expert_id is not None:
            found = registry.profiles([expert_id])
            if not found:
                raise AnnoflowError(f"no expert {expert_id!r} in the talent pool "
                                    f"({registry.state.where})")
            profiles = found
        else:
            profiles = registry.profiles(registry.first_ids(limit))
    except AnnoflowError as e:
        _fail(e, as_json)
    hidden = set() if contacts else {"name", "email"}
    rows = [{**p.model_dump(mode="json", exclude=hidden),
             **({"quality": registry.quality(p.expert_id)} if expert_id else {})}
            for p in profiles]
    if as_json:
        print(json.dumps({"pool_size": registry.size(), "experts": rows}, default=str))
        return
    out.print(f"Talent pool: {registry.size():,} experts ({escape(registry.state.where)})")
    for r in rows:
        domains = ", ".join(f"{d['domain']} {d['vetting_score'] if d['vetting_score'] is not None else '-'}"
                            + (f" ({'/'.join(d['subspecialties'])})" if d["subspecialties"] else "")
                            for d in r["domains"])
        who = f" {r['name']} <{r['email']}>" if contacts else ""
        flags = (" BANNED" if r["banned"] else "") + (
            f" excluded by {', '.join(r['excluded_clients'])}" if r["excluded_clients"] else "")
        out.print(f"  {r['expert_id']}{who}: {domains}; {'/'.join(r['languages'])}; "
                  f"${r['hourly_rate_usd']:,.0f}/h, {r['weekly_hours']:g} h/week; "
                  f"{r['timezone']}{flags}")
        for domain, q in r.get("quality", {}).items():
            acc = f"{q['gold_right']}/{q['gold_judged']} gold" if q["gold_judged"] else "no gold yet"
            out.print(f"    {domain}: {acc}, {q['judgments']} judgments in {q['campaigns']} "
                      f"campaign(s), last active {q['last_active']}")


@pool_app.command("generate")
def pool_generate(n: int = typer.Argument(..., metavar="N", min=1, help="how many experts"),
                  out_path: Path = typer.Option(..., "--out", help="a .csv, .jsonl or .parquet file"),
                  seed: int = typer.Option(0, "--seed")) -> None:
    """Write a realistic generated pool of N experts (for tests and benchmarks)."""
    from simulation.pool import generate_pool
    df = generate_pool(n, seed=seed)
    suffix = out_path.suffix.lower()
    if suffix == ".csv":
        df.to_csv(out_path, index=False)
    elif suffix == ".jsonl":
        df.to_json(out_path, orient="records", lines=True)
    elif suffix == ".parquet":
        df.to_parquet(out_path, index=False)
    else:
        _fail(AnnoflowError(f"--out {out_path}: expected a .csv, .jsonl or .parquet file"), False)
    out.print(f"{n:,} experts written to {escape(str(out_path))} (seed {seed})")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
