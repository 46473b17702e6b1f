"""Imports go downward only (ARCHITECTURE, "Import downward only"): the core imports nothing
above it; qc and connectors import the core; stages import all three; flows import stages.
Every import statement counts, the ones inside functions too."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: package -> the project packages it may import besides itself
ALLOWED = {
    "annoflow": set(),
    "qc": {"annoflow"},
    "connectors": {"annoflow"},
    "tasks": {"annoflow", "qc", "connectors"},
    "simulation": {"annoflow", "connectors", "tasks"},
    "flows": {"annoflow", "qc", "connectors", "tasks", "simulation"},
}
#: the command line is the top of the stack (it submits flows); it lives in the core's
#: package only because it is the installed entry point
TOP = {"annoflow/cli.py"}
PROJECT = set(ALLOWED) | {"extensions", "scripts", "tests"}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_under_it(package: str) -> None:
    wrong = {}
    for path in sorted((REPO / package).rglob("*.py")):
        rel = str(path.relative_to(REPO))
        if rel in TOP:
            continue
        if bad := _imports(path) - ALLOWED[package] - {package}:
            wrong[rel] = sorted(bad)
    assert not wrong, f"imports reaching up or sideways: {wrong}"


def test_the_rule_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from connectors.s3 import S3Store\n    import tasks.stages\n")
    assert _imports(f) == {"connectors", "tasks"}


def test_every_rules_figures_reach_the_manifest_per_annotator() -> None:
    """Issue 10: every figure machine-readable under pseudonyms: each annotator's row of the
    manifest carries the position, straight-lining, speed, model and drift figures the
    rules used, as QC computed them."""
    from qc.pipeline import QCConfig, run_layers
    from simulation.campaigns import SIDES, pairwise_campaign
    c = pairwise_campaign(3)
    gold = c.gold.rename("label").rename_axis("task").reset_index().assign(field="preference")
    result = run_layers(c.judgments.assign(field="preference"), gold[["task", "field", "label"]],
                        QCConfig(min_gold_accuracy=0.7, sides=SIDES))
    detail = {a.annotator: a for a in result.stats().annotators_detail}
    w = result.workers
    for x, a in detail.items():
        assert a.left_share == pytest.approx(w.at[x, "left_share"], abs=1e-12)
        assert a.model_accuracy == pytest.approx(w.at[x, "model_accuracy"], abs=1e-12)
        assert a.top_label_share == pytest.approx(w.at[x, "top_label_share"], abs=1e-12)
    assert any(a.drift_p_value is not None for a in detail.values())
