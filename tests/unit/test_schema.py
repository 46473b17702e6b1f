"""L0 checks through Great Expectations on tiny tables."""
from __future__ import annotations

import pandas as pd

from qc.schema import TableRules, validate_table

RULES = TableRules(columns=("item_id", "confidence"), not_null=("item_id",), unique=("item_id",),
                   between={"confidence": (0, 1)})


def test_sound_table_passes() -> None:
    r = validate_table(pd.DataFrame({"item_id": ["a", "b"], "confidence": [0.5, 1.0]}), RULES,
                       name="view")
    assert r.passed and r.layer == "L0" and r.severity == "error"
    assert r.summary == "view: 4 expectations met"


def test_each_broken_rule_is_named() -> None:
    df = pd.DataFrame({"item_id": ["a", "a", None], "confidence": [0.5, 1.5, 0.2]})
    r = validate_table(df, RULES, name="view")
    assert not r.passed
    assert set(r.metrics["failed"]) == {"column_values_to_not_be_null(item_id)",
                                        "column_values_to_be_unique(item_id)",
                                        "column_values_to_be_between(confidence)"}
    r = validate_table(pd.DataFrame({"item_id": ["a"]}), RULES, name="view")
    assert not r.passed and "missing columns ['confidence']" in r.summary
