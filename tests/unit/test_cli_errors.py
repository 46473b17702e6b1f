"""The CLI's handling of failures a real run cannot be made to produce on demand (a bug in
the flow, Ctrl-C): stand-ins replace the flow; everything else is the real CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import annoflow.cli as cli

REPO = Path(__file__).resolve().parents[2]
SPEC = str(REPO / "configs/requests/classification.yaml")


@pytest.fixture(autouse=True)
def no_services(monkeypatch, tmp_path):
    # the CLI sets Prefect's environment for its process: undo that after each test
    for key in ("PREFECT_API_URL", "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL",
                "PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL",
                "PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL", "PREFECT_LOGGING_EXTRA_LOGGERS",
                "PREFECT_SERVER_ANALYTICS_ENABLED"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("ANNOFLOW_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    cli.get_settings.cache_clear()
    monkeypatch.setattr(cli, "_preflight", lambda: None)
    yield
    cli.get_settings.cache_clear()


def test_a_bug_says_so_without_a_traceback(monkeypatch) -> None:
    def broken(*a, **kw):
        raise KeyError("boom")
    monkeypatch.setattr(cli, "_submit", broken)
    res = CliRunner().invoke(cli.app, ["run", SPEC, "--json"])
    assert res.exit_code == 1
    assert "failed unexpectedly (KeyError: 'boom'). This is a bug in annoflow" in res.output
    assert "Traceback" not in res.output
    last = json.loads(res.output.strip().splitlines()[-1])
    assert last["status"] == "failed" and last["error"] == "KeyError"


def test_ctrl_c_stops_following_not_the_campaign(monkeypatch) -> None:
    def interrupted(*a, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_submit", lambda *a, **kw: None)
    monkeypatch.setattr(cli, "_follow", interrupted)
    res = CliRunner().invoke(cli.app, ["run", SPEC])
    assert res.exit_code == 130
    assert "stopped following; the campaign goes on by itself" in res.output
