"""`annoflow pool import|show|generate` on a state store of the test's own (the real CLI,
in process)."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import annoflow.cli as cli
from tests.conftest import REPO


@pytest.fixture()
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("ANNOFLOW_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    cli.get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(cli.app, list(args))
    cli.get_settings.cache_clear()


def test_import_show_and_generate(run, tmp_path) -> None:
    res = run("pool", "import", str(REPO / "data/talent_pool.csv"), "--json")
    assert res.exit_code == 0, res.output
    done = json.loads(res.output.strip().splitlines()[-1])
    assert (done["rows"], done["added"], done["pool_size"]) == (60, 60, 60)
    again = run("pool", "import", str(REPO / "data/talent_pool.csv"))
    assert again.exit_code == 0 and "0 added, 0 changed, 60 unchanged" in again.output
    shown = run("pool", "show", "--json", "--limit", "5")
    experts = json.loads(shown.output)["experts"]
    assert len(experts) == 5 and all("email" not in e and "name" not in e for e in experts)
    assert "@" not in run("pool", "show", "ex-0001").output  # no contact details by default
    pool = pd.read_csv(REPO / "data/talent_pool.csv").set_index("expert_id")
    assert pool.at["ex-0001", "email"] in run("pool", "show", "ex-0001", "--contacts").output
    missing = run("pool", "show", "ex-nobody")
    assert missing.exit_code == 2 and "no expert 'ex-nobody' in the talent pool" in missing.output
    out = tmp_path / "gen.jsonl"
    assert run("pool", "generate", "40", "--out", str(out), "--seed", "3").exit_code == 0
    assert run("pool", "import", str(out)).exit_code == 0
    assert json.loads(run("pool", "show", "--json").output)["pool_size"] == 100


def test_a_bad_file_exits_2_names_row_and_field_and_changes_nothing(run, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    pool = pd.read_csv(REPO / "data/talent_pool.csv").head(3)
    pool.loc[1, "weekly_hours"] = 500
    pool.to_csv(bad, index=False)
    res = run("pool", "import", str(bad))
    assert res.exit_code == 2
    assert f"{bad}: row 2, field weekly_hours: expected a number between 0 and 168" in res.output
    assert "Traceback" not in res.output and "nothing was imported" in res.output
    assert json.loads(run("pool", "show", "--json").output)["pool_size"] == 0
    nowhere = run("pool", "import", str(tmp_path / "nope.csv"))
    assert nowhere.exit_code == 2 and "no such file" in nowhere.output
    wrong = run("pool", "generate", "3", "--out", str(tmp_path / "x.txt"))
    assert wrong.exit_code == 2 and "expected a .csv, .jsonl or .parquet file" in wrong.output
