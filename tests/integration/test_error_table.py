"""A table of malformed specs and data files: each gets a clear message naming the field
or the row, a non-zero exit, and nothing created in Label Studio or S3."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
import yaml

from tests.integration.conftest import REPO, annoflow, nothing_created, unique_id
from tests.support import DELETE, set_path

CL_ITEMS = REPO / "data/demo/classification/items.jsonl"
CL_GOLD = REPO / "data/demo/classification/gold.jsonl"


def jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


# data mutations: (tmp dir) -> {dotted spec path: new value}
def _items(mutate: Callable[[list[dict]], None]) -> Callable[[Path], dict]:
    def make(tmp: Path) -> dict:
        rows = jsonl_rows(CL_ITEMS)
        mutate(rows)
        return {"source.uri": write_jsonl(tmp / "items.jsonl", rows)}
    return make


def _gold(mutate: Callable[[list[dict]], None]) -> Callable[[Path], dict]:
    def make(tmp: Path) -> dict:
        rows = jsonl_rows(CL_GOLD)
        mutate(rows)
        return {"gold.uri": write_jsonl(tmp / "gold.jsonl", rows)}
    return make


def _raw(name: str, data: bytes, key: str = "source.uri") -> Callable[[Path], dict]:
    def make(tmp: Path) -> dict:
        (tmp / name).write_bytes(data)
        return {key: str(tmp / name)}
    return make


def _csv_without_text(tmp: Path) -> dict:
    rows = jsonl_rows(CL_ITEMS)
    (tmp / "items.csv").write_text("item_id,body\n" + "".join(f"{r['item_id']},x\n" for r in rows))
    return {"source.uri": str(tmp / "items.csv")}


def _bad_share(tmp: Path) -> dict:
    rows = jsonl_rows(CL_ITEMS)
    for r in rows[:4]:
        r["text"] = ""
    return {"source.uri": write_jsonl(tmp / "items.jsonl", rows), "source.max_bad_share": 0.05}


def _set(rows: list[dict], i: int, key: str, value) -> None:
    rows[i][key] = value


CASES = [
    # (id, base spec, spec changes, data mutation, expected message fragment)
    ("request-id-case", "classification", {"request_id": "Bad_ID"}, None,
     "request_id: must use only lowercase letters"),
    ("client-missing", "classification", {"client": DELETE}, None, "client: is required but missing"),
    ("type-unknown", "classification", {"task.type": "essay"}, None,
     "task.type: unknown task type 'essay'"),
    ("type-missing", "classification", {"task.type": DELETE}, None, "task.type: is required"),
    ("labels-repeated", "classification", {"task.labels": ["a", "a", "b"]}, None,
     "task.labels: labels must be distinct"),
    ("labels-too-few", "classification", {"task.labels": ["a"]}, None,
     "task.labels: List should have at least 2 items"),
    ("likert-captions", "likert_rating", {"task.scale_labels": ["low", "high"]}, None,
     "task: scale_labels has 2 captions but scale is 5"),
    ("criterion-name", "rubric_grading", {"task.criteria": [{"name": "Correct!", "description": "x"}]},
     None, "task.criteria.0.name: must be a lowercase identifier"),
    ("criteria-repeated", "rubric_grading", {"task.criteria": [
        {"name": "a", "description": "x"}, {"name": "a", "description": "y"}]}, None,
     "task.criteria: criterion names must be distinct; repeated: ['a']"),
    ("criteria-empty", "rubric_grading", {"task.criteria": []}, None,
     "task.criteria: List should have at least 1 item"),
    ("free-text-gold", "solution_authoring", {"gold": {"uri": str(CL_GOLD), "fraction": 0.1}},
     None, "gold: task type solution_authoring is free text"),
    ("fields-missing", "likert_rating", {"source.fields": {"prompt": "prompt"}}, None,
     "source.fields is missing ['response']"),
    ("gold-fraction", "classification", {"gold.fraction": 1.5}, None,
     "gold.fraction: Input should be less than 1"),
    ("experts-few", "classification", {"workforce.max_experts": 1}, None,
     "max_experts (1) must be at least annotators_per_item (3)"),
    ("delivery-not-s3", "classification", {"delivery.uri": "/tmp/out"}, None,
     "delivery.uri: must be s3://bucket/prefix/"),
    ("typo-field", "classification", {"qc.aggregation_method": "x"}, None,
     "qc.aggregation_method: is not a known field"),
    ("deadline", "classification", {"deadline": "soon"}, None, "deadline: Input should be a valid date"),
    ("budget", "classification", {"budget_usd": -5}, None, "budget_usd: Input should be greater than 0"),
    ("bad-share-range", "classification", {"source.max_bad_share": 1.5}, None,
     "source.max_bad_share: Input should be less than 1"),
    ("strength", "demo", {"task.strength_levels": 5}, None,
     "task.strength_levels: Input should be less than or equal to 3"),
    ("source-missing", "classification", {"source.uri": "/nonexistent/items.jsonl"}, None,
     "/nonexistent/items.jsonl: no such file"),
    ("non-utf8", "classification", {}, _raw("items.jsonl", b'{"item_id": "x1", "text": "caf\xe9"}\n'),
     "items.jsonl: line 1 is not valid UTF-8"),
    ("bad-json-line", "classification", {}, _raw("items.jsonl", b'{"item_id": "x1", "text": "a"}\n{oops\n'),
     "items.jsonl: line 2 is not valid JSON"),
    ("csv-column", "classification", {}, _csv_without_text,
     "items.csv: row 1, field text: column is missing from the file"),
    ("duplicate-id", "classification", {}, _items(lambda r: _set(r, 5, "item_id", r[4]["item_id"])),
     "items.jsonl: row 6, field item_id: duplicate id (first kept)"),
    ("empty-field", "classification", {}, _items(lambda r: _set(r, 2, "text", "  ")),
     "items.jsonl: row 3, field text: is empty (input 'text')"),
    ("oversized", "classification", {"source.max_field_chars": 30}, None,
     "field text: longer than 30 characters (source.max_field_chars)"),
    ("gold-illegal", "classification", {}, _gold(lambda r: _set(r, 1, "answer", "spam")),
     "gold.jsonl: row 2, field answer: answer 'spam' is not a legal label"),
    ("rubric-gold-range", "rubric_grading", {}, lambda tmp: {"gold.uri": write_jsonl(
        tmp / "gold.jsonl", [{**r, "answer": {**r["answer"], "clarity": 7}}
                             for r in jsonl_rows(REPO / "data/demo/rubric_grading/gold.jsonl")])},
     "field answer: answer for criterion 'clarity' must be 1..5, got 7"),
    ("gold-id-clash", "classification", {}, _gold(lambda r: _set(r, 0, "item_id", "cl-0001")),
     "gold.jsonl: row 1, field item_id: gold id 'cl-0001' is also a source item id"),
    ("bad-share", "classification", {}, _bad_share,
     "(8.0% of rows bad, source.max_bad_share allows 5.0%)"),
    ("pool-thin", "classification", {"domain": "astrophysics"}, None,
     "talent pool too thin: 0 expert(s) match domain 'astrophysics'"),
    ("parquet-corrupt", "classification", {}, _raw("items.parquet", b"PAR1 not really"),
     "items.parquet: not a readable Parquet file"),
]


@pytest.mark.parametrize("case_id,base,changes,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_refused_clearly(tmp_path, ls, s3, settings, case_id, base, changes,
                                            mutate, expected) -> None:
    doc = yaml.safe_load((REPO / "configs/requests" / f"{base}.yaml").read_text())
    rid = unique_id("it-err")
    doc["request_id"] = rid
    for path, value in {**changes, **(mutate(tmp_path) if mutate else {})}.items():
        set_path(doc, path, value)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = annoflow("run", str(spec))
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    check_id = doc["request_id"] if isinstance(doc.get("request_id"), str) else rid
    nothing_created(ls, s3, settings, check_id)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 25
