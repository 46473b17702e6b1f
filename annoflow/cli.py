"""The ``annoflow`` command: validate a spec, run a campaign, check its status."""
from __future__ import annotations

import _thread
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

from annoflow.errors import AnnoflowError, CampaignTimeout, ConnectorError, QCGateFailed
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


def _summary(r: dict[str, Any], flow_run_url: str, elapsed: float) -> None:
    s = get_settings()
    qc = r["qc"]
    alpha = qc.get("krippendorff_alpha")
    # Krippendorff's own reading: >= .800 reliable, >= .667 tentative conclusions only
    verdict = ("reliable" if alpha is not None and alpha >= 0.8 else
               "tentative" if alpha is not None and alpha >= 0.667 else "low")
    out.print()
    out.print(f"[bold green]Campaign {r['request_id']} delivered[/] in {elapsed:.0f} s"
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


@app.command()
def run(spec_path: Path = typer.Argument(..., metavar="SPEC", help="request spec YAML"),
        simulate: Optional[Path] = typer.Option(
            None, "--simulate", metavar="PROFILE",
            help="start a simulated expert workforce (configs/simulation/*.yaml) beside the flow"),
        wait_timeout: float = typer.Option(
            86_400, "--wait-timeout", help="seconds to wait for annotators before stopping "
                                           "(progress is kept; rerun to resume)"),
        poll_interval: float = typer.Option(5.0, "--poll-interval",
                                            help="seconds between Label Studio polls"),
        spec_change: Optional[str] = typer.Option(
            None, "--spec-change", metavar="WHY",
            help="the spec differs from the one the campaign started with, on purpose: "
                 "record the change with this reason (else a changed spec is refused)"),
        as_json: bool = typer.Option(False, "--json",
                                     help="end with one JSON object describing the result"),
        ) -> None:
    """Run a campaign end to end: scope, source, produce, QC, deliver."""
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

    from flows.campaign import campaign
    from simulation.workforce import SimulatedWorkforce

    s = get_settings()
    out.print(f"Running campaign [bold]{spec.request_id}[/] ({spec.task.type}, "
              f"{spec.workforce.annotators_per_item} experts per item)"
              + (f" with a simulated workforce from {escape(str(simulate))}" if simulate else
                 ", waiting for annotators in Label Studio") + ".", markup=True)
    # a failed simulated workforce stops the run at once instead of leaving it to time out
    sim = (SimulatedWorkforce(spec, profile, on_error=_thread.interrupt_main).start()
           if profile else None)
    started = time.monotonic()
    try:
        state = campaign(spec=spec, wait_timeout_s=wait_timeout, poll_interval_s=poll_interval,
                         spec_change=spec_change, return_state=True)
    except KeyboardInterrupt:
        if sim and sim.error:
            err.print(f"error: the simulated workforce failed: {escape(str(sim.error))[:500]}\n"
                      "  everything synced so far is kept; fix the cause and run the same "
                      "command again to resume.")
            raise typer.Exit(1) from None
        err.print("interrupted: everything synced so far is kept in Label Studio and the raw "
                  "zone; run the same command again to resume.")
        raise typer.Exit(130) from None
    finally:
        if sim:
            sim.stop()
    flow_run_url = f"{s.prefect_ui_url}/runs/flow-run/{state.state_details.flow_run_id}"
    try:
        result = state.result(raise_on_failure=True)
    except AnnoflowError as e:
        extra = {"prefect_flow_run_url": flow_run_url}
        if isinstance(e, CampaignTimeout):
            extra.update(tasks_complete=e.done, tasks_total=e.total)
        if isinstance(e, QCGateFailed):
            extra.update(qc=e.stats)
        notes = [f"  Prefect run  {flow_run_url}"]
        if sim and sim.error:
            notes.append(f"  note: the simulated workforce had failed: {sim.error}")
        _fail(e, as_json, request_id, extra, tuple(notes))
    except Exception as e:  # a bug, not a user mistake: the full traceback is in the run's logs
        err.print(f"error: the campaign failed unexpectedly ({type(e).__name__}: {e}). This is "
                  f"a bug in annoflow; the traceback is in the Prefect run: {flow_run_url}")
        if as_json:
            print(json.dumps({"request_id": request_id, "status": "failed",
                              "error": type(e).__name__, "message": str(e),
                              "prefect_flow_run_url": flow_run_url}))
        raise typer.Exit(1) from None
    _summary(result, flow_run_url, time.monotonic() - started)
    if as_json:
        print(json.dumps({**result, "prefect_flow_run_url": flow_run_url}, default=str))


@app.command()
def status(request_id: str = typer.Argument(..., metavar="REQUEST_ID"),
           as_json: bool = typer.Option(False, "--json",
                                        help="end with one JSON object describing the status")
           ) -> None:
    """Where a campaign stands: Label Studio progress, delivery, last Prefect run."""
    _prepare_prefect_env()
    from tasks.status import campaign_status

    try:
        st = campaign_status(request_id)
    except AnnoflowError as e:
        _fail(e, as_json, request_id)
    if as_json:
        print(json.dumps(st, default=str))
        return
    out.print(f"Campaign [bold]{escape(request_id)}[/]: {st['status'].replace('_', ' ')}",
              markup=True)
    if snap := st.get("last_sync"):
        st["synced"] = (f"{snap['tasks_complete']}/{snap['tasks']} tasks complete, "
                        f"{snap['judgments']} judgments from {snap['experts_active']} experts "
                        f"(as of {snap['at']})")
    for key, label in (("label_studio_project_url", "Label Studio"),
                       ("progress", "Progress"), ("synced", "Last sync"),
                       ("delivery_uri", "Dataset"),
                       ("manifest_uri", "Manifest"), ("prefect_flow_run_url", "Prefect run")):
        if st.get(key):
            out.print(f"  {label:<12} {st[key]}")


@app.command()
def experts(request_id: str = typer.Argument(..., metavar="REQUEST_ID"),
            reset_password: Optional[str] = typer.Option(
                None, "--reset-password", metavar="EXPERT_ID",
                help="issue a new one-time password to this expert (the old one stops working)"),
            as_json: bool = typer.Option(False, "--json", help="print the rows as one JSON object")
            ) -> None:
    """How each rostered expert signs in: login, annotator URL, one-time password."""
    from tasks.sourcing import expert_logins

    try:
        rows = expert_logins(request_id, reset=reset_password)
    except AnnoflowError as e:
        _fail(e, as_json, request_id)
    if as_json:
        print(json.dumps({"request_id": request_id, "experts": [r.model_dump() for r in rows]}))
        return
    out.print(f"Experts of [bold]{escape(request_id)}[/] sign in at {escape(rows[0].annotator_url)}",
              markup=True)
    out.print(f"  {'expert':<12} {'login':<48} {'password':<22} state")
    for r in rows:
        out.print(f"  {r.expert_id:<12} {r.login:<48} {r.password or '-':<22} {r.password_state}")
    out.print("Hand each expert their login and password privately. A password is shown until "
              "its first use; after that only --reset-password makes a new one.")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
