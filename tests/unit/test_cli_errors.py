"""The CLI's handling of failures a real run cannot be made to produce on demand (a bug in
the flow, Ctrl-C): stand-ins replace the flow; everything else is the real CLI."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import annoflow.cli as cli
import flows.campaign

REPO = Path(__file__).resolve().parents[2]
SPEC = str(REPO / "configs/requests/classification.yaml")


@pytest.fixture(autouse=True)
def no_services(monkeypatch):
    # the CLI sets Prefect's environment for its process: undo that after each test
    for key in ("PREFECT_API_URL", "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL",
                "PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL",
                "PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL", "PREFECT_LOGGING_EXTRA_LOGGERS",
                "PREFECT_SERVER_ANALYTICS_ENABLED"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(cli, "_preflight", lambda: None)


def _state(exc: BaseException):
    def result(raise_on_failure=True):
        raise exc
    return SimpleNamespace(state_details=SimpleNamespace(flow_run_id="run-1"), result=result)


def test_a_bug_points_at_the_prefect_run_without_a_traceback(monkeypatch) -> None:
    monkeypatch.setattr(flows.campaign, "campaign",
                        lambda **kw: _state(KeyError("boom")))
    res = CliRunner().invoke(cli.app, ["run", SPEC, "--json"])
    assert res.exit_code == 1
    assert "failed unexpectedly (KeyError: 'boom'). This is a bug in annoflow" in res.output
    assert "/runs/flow-run/run-1" in res.output and "Traceback" not in res.output
    last = json.loads(res.output.strip().splitlines()[-1])
    assert last["status"] == "failed" and last["error"] == "KeyError"


def test_ctrl_c_says_progress_is_kept(monkeypatch) -> None:
    def interrupted(**kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(flows.campaign, "campaign", interrupted)
    res = CliRunner().invoke(cli.app, ["run", SPEC])
    assert res.exit_code == 130
    assert "interrupted: everything synced so far is kept" in res.output
