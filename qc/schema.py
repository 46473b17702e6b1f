"""L0: schema and value checks on tables, with Great Expectations.

Suites are built in code on an ephemeral context (no project folder); the result is a
``CheckResult`` carrying GX's ``describe_dict()``. Great Expectations costs seconds to
import, so it is imported on first use only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd

from qc.checks import CheckResult


@dataclass(frozen=True)
class TableRules:
    """What a table must satisfy."""

    columns: tuple[str, ...]
    not_null: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    between: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return ctx


def _batch_definition(ctx, name: str):
    """Get-or-add the pandas datasource, asset and whole-frame batch definition."""
    try:
        ds = ctx.data_sources.get("annoflow")
    except (KeyError, ValueError):
        ds = ctx.data_sources.add_pandas("annoflow")
    try:
        asset = ds.get_asset(name)
    except LookupError:
        asset = ds.add_dataframe_asset(name=name)
    try:
        return asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        return asset.add_batch_definition_whole_dataframe("whole")


def validate_table(df: pd.DataFrame, rules: TableRules, *, name: str) -> CheckResult:
    """Run ``rules`` on ``df`` as a GX suite; an error-severity CheckResult when it fails."""
    import great_expectations as gx

    ctx = _context()
    ex = gx.expectations
    suite = gx.ExpectationSuite(name=f"{name}-suite")
    suite.add_expectation(ex.ExpectTableColumnsToMatchSet(column_set=list(rules.columns),
                                                          exact_match=False))
    present = set(df.columns)
    for col in rules.not_null:
        if col in present:
            suite.add_expectation(ex.ExpectColumnValuesToNotBeNull(column=col))
    for col in rules.unique:
        if col in present:
            suite.add_expectation(ex.ExpectColumnValuesToBeUnique(column=col))
    for col, (lo, hi) in rules.between.items():
        if col in present:
            suite.add_expectation(ex.ExpectColumnValuesToBeBetween(column=col, min_value=lo,
                                                                   max_value=hi))
    try:
        ctx.suites.delete(suite.name)
    except Exception:  # not there yet: GX raises several types for that
        pass
    suite = ctx.suites.add(suite)
    result = _batch_definition(ctx, name).get_batch(
        batch_parameters={"dataframe": df}).validate(suite)
    described: dict[str, Any] = result.describe_dict()
    failed = [f"{e['expectation_type'].removeprefix('expect_')}"
              f"({e.get('kwargs', {}).get('column', '')})" for e in described["expectations"]
              if not e["success"]]
    if missing := [c for c in rules.columns if c not in present]:
        failed.append(f"missing columns {missing}")
    return CheckResult(
        f"schema_{name}", "L0", passed=not failed, severity="error",
        summary=(f"{name}: {len(described['expectations'])} expectations met" if not failed
                 else f"{name}: failed {', '.join(failed)}"),
        metrics={"failed": failed, "statistics": described.get("statistics", {})})
