"""Whatever a spec, a data file or a pool file holds, the only failure is annoflow's own
validation error, naming the file, the row and the field (issue 9, items 10-12 and 14)."""
from __future__ import annotations

import json
import string
from xml.etree import ElementTree
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from annoflow.errors import DataError, SpecError
from annoflow.spec import parse_spec
from annoflow.tasktypes import get_task_type
from connectors.datafiles import MAX_DEPTH, read_table
from connectors.pool_registry import PoolRegistry
from connectors.state import StateStore
from annoflow.items import prepare_items

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ["demo", "classification", "likert_rating", "pairwise_graded", "rubric_grading",
            "rubric_authoring", "solution_authoring"]


def _doc(name: str) -> dict:
    return yaml.safe_load((REPO / "configs/requests" / f"{name}.yaml").read_text())


BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
request_id: bomb
title: *g
"""


def test_a_yaml_alias_bomb_is_refused_without_expanding_it() -> None:
    with pytest.raises(SpecError, match="expands to more than 100,000 values") as err:
        parse_spec(yaml.safe_load(BOMB), source="bomb.yaml")
    assert len(str(err.value)) < 300


def test_an_error_on_a_big_value_shows_a_short_excerpt() -> None:
    doc = _doc("classification")
    doc["title"] = [["x" * 1000] * 50] * 50  # 2,500 values: under the cap, but a huge repr
    with pytest.raises(SpecError) as err:
        parse_spec(doc, source="big.yaml", base_dir=REPO)
    assert "title: Input should be a valid string" in str(err.value)
    assert len(str(err.value)) < 400


def test_deeply_nested_json_in_a_row_names_the_file_row_and_field(tmp_path) -> None:
    rows = tmp_path / "items.jsonl"
    rows.write_text('{"item_id": "a", "text": "x"}\n{"item_id": "b", "text": '
                    + "[" * 40 + "]" * 40 + "}\n")
    with pytest.raises(DataError, match=rf"items.jsonl: line 2, field 'text': nested more than {MAX_DEPTH}"):
        read_table(str(rows))
    rows.write_text('{"item_id": "b", "text": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    with pytest.raises(DataError, match="items.jsonl: line 1 nests JSON deeper"):
        read_table(str(rows))


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("text", ["Compare -- then pick.", "Use {{choices}} and {{instructions}}",
                                  "end of comment --> <!-- & <b>'\"", "a\u2028b\x00c"])
def test_instructions_never_break_the_label_config(name: str, text: str) -> None:
    doc = _doc(name)
    doc["task"]["instructions"] = text
    try:
        spec = parse_spec(doc, base_dir=REPO)
    except SpecError as err:  # refused clearly (a NUL byte cannot be in XML), never a crash
        assert "task" in str(err)
        return
    config = get_task_type(spec.task.type).checked_label_config(spec)
    # shown as written, once, and nothing of it was expanded into markup
    headers = [h.get("value") for h in ElementTree.fromstring(config).iter("Header")]
    assert headers.count(text) == 1, headers


# -- property-based: any input, only annoflow's own errors ------------------------------
_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=15)
_fields = ["request_id", "client", "title", "domain", "deadline", "budget_usd", "task", "source",
           "gold", "workforce", "qc", "delivery", "type", "instructions", "labels", "uri"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(EXAMPLES), path=st.lists(st.sampled_from(_fields), min_size=1, max_size=3),
       value=_json)
def test_any_spec_is_loaded_or_refused_clearly(name: str, path: list[str], value) -> None:
    doc = _doc(name)
    node = doc
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    try:
        parse_spec(doc, source="spec.yaml", base_dir=REPO)
    except SpecError as err:
        assert str(err).startswith("spec.yaml")


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
       suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]))
def test_any_data_file_is_read_or_refused_clearly(tmp_path_factory, data: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("f") / f"items{suffix}"
    path.write_bytes(data)
    try:
        df = read_table(str(path))
    except DataError as err:
        assert str(path) in str(err)
        return
    assert "_row" in df.columns


_cell = st.text(alphabet=string.printable + "é\u2028", max_size=10)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.dictionaries(st.sampled_from(
    ["item_id", "text", "prompt", "response", "answer", "x"]), _json | _cell, max_size=6),
    max_size=6))
def test_any_source_rows_are_prepared_or_refused_clearly(tmp_path_factory, rows: list[dict]) -> None:
    path = tmp_path_factory.mktemp("src") / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = parse_spec({**_doc("classification"), "source": {
        "uri": str(path), "id_field": "item_id", "fields": {"text": "text"}}, "gold": None},
        base_dir=REPO)
    try:
        prepare_items(spec, read_table(str(path)), None, ref_key=b"k")
    except DataError as err:
        assert str(path) in str(err) or "no items" in str(err)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({}, optional={
    c: _cell | st.integers() | st.floats(allow_nan=True)
    for c in ["expert_id", "name", "email", "domains", "languages", "vetting_score",
              "hourly_rate_usd", "weekly_hours"]}), max_size=5))
def test_any_pool_file_is_imported_or_refused_clearly(tmp_path_factory, rows: list[dict]) -> None:
    tmp = tmp_path_factory.mktemp("pool")
    path = tmp / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    registry = PoolRegistry(StateStore(f"sqlite:///{tmp / 'state.db'}"))
    try:
        result = registry.import_file(str(path))
    except DataError as err:
        assert str(path) in str(err)
        assert registry.size() == 0  # nothing of a refused file is imported
    else:
        assert registry.size() == result.rows == len(rows)
