"""Request spec validation: good specs load, bad ones name the field."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from annoflow.errors import SpecError
from annoflow.spec import load_spec, parse_spec
from tests.support import DELETE, set_path

REPO = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((REPO / "configs/requests/demo.yaml").read_text())


def test_demo_spec_loads_and_resolves_paths() -> None:
    spec = load_spec(REPO / "configs/requests/demo.yaml", base_dir=REPO)
    assert spec.request_id == "demo-pref-001"
    assert spec.source.uri == str(REPO / "data/demo/items.jsonl")
    assert spec.delivery.bucket == "demo-deliveries"
    assert spec.delivery.prefix == "preferences/"
    assert spec.seconds_per_judgment == 90.0


def _with(path: str, value) -> dict:
    return set_path(copy.deepcopy(DEMO), path, DELETE if value is KeyError else value)


BAD = [
    ("request_id", "Demo_1", "request_id: must use only lowercase"),
    ("request_id", KeyError, "request_id: is required"),
    ("client", "", "client: String should have at least 1 character"),
    ("task.type", "essay_scoring", "task.type: unknown task type 'essay_scoring'"),
    ("task.instructions", KeyError, "task.instructions: is required"),
    ("source.uri", "data/items.xlsx", "source.uri: must name a .jsonl, .csv, .parquet file"),
    ("source.uri", "http://example.org/x.jsonl", "source.uri: must be a local path or an s3:// URI"),
    ("source.fields", {"prompt": "prompt"}, "source.fields is missing ['response_a', 'response_b']"),
    ("source.fields", {"prompt": "p", "response_a": "a", "response_b": "b", "extra": "x"},
     "source.fields has unknown inputs ['extra']"),
    ("gold.fraction", 1.5, "gold.fraction: Input should be less than 1"),
    ("gold.fraction", 0, "gold.fraction: Input should be greater than 0"),
    ("workforce.annotators_per_item", 0, "workforce.annotators_per_item: Input should be greater than or equal to 1"),
    ("workforce.max_experts", 2, "max_experts (2) must be at least annotators_per_item (3)"),
    ("workforce.languages", [], "workforce.languages: List should have at least 1 item"),
    ("workforce.min_vetting_score", 2, "workforce.min_vetting_score: Input should be less than or equal to 1"),
    ("qc.min_gold_accuracy", -0.1, "qc.min_gold_accuracy: Input should be greater than or equal to 0"),
    ("qc.aggregation", "median", "qc.aggregation: Input should be 'weighted', 'dawid_skene' or 'majority_vote'"),
    ("delivery.uri", "demo-deliveries/x", "delivery.uri: must be s3://bucket/prefix/"),
    ("delivery.uri", "s3://Bad_Bucket/x", "delivery.uri: must be s3://bucket/prefix/"),
    ("workforse", {"annotators_per_item": 3}, "workforse: is not a known field"),
    ("deadline", "next tuesday", "deadline: Input should be a valid date"),
]


@pytest.mark.parametrize("path,value,expected", BAD, ids=[f"{p}={v!r}"[:40] for p, v, _ in BAD])
def test_bad_spec_names_the_field(path: str, value, expected: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(_with(path, value), source="request.yaml")
    msg = str(exc.value)
    assert msg.startswith("request.yaml: the request spec is invalid")
    assert expected in msg


def test_every_problem_is_reported_at_once() -> None:
    doc = _with("client", "")
    doc["qc"]["aggregation"] = "median"
    with pytest.raises(SpecError) as exc:
        parse_spec(doc, source="r.yaml")
    assert "(2 problems)" in str(exc.value)
    assert "client:" in str(exc.value) and "qc.aggregation:" in str(exc.value)


@pytest.mark.parametrize("text,expected", [
    ("request_id: [unclosed", "not valid YAML at line 1"),
    ("- just\n- a list\n", "expected a YAML mapping of fields at the top level, got list"),
])
def test_unparseable_spec_file(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    with pytest.raises(SpecError, match=expected):
        load_spec(p)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such request spec file"):
        load_spec(tmp_path / "nope.yaml")
