"""Turning Label Studio tasks into raw-zone rows, and folding incremental listings."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from annoflow.judgments import counted
from annoflow.spec import load_spec
from connectors.label_studio import LSAnnotation, LSTask
from tasks.production import _merge, annotation_rows
from tasks.quality import to_contract

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def ann(i: int, by: int, side: str | None, minutes: int = 0, cancelled: bool = False) -> LSAnnotation:
    result = [] if side is None else [{"type": "pairwise", "value": {"selected": side}}]
    at = T0 + timedelta(minutes=minutes)
    return LSAnnotation(id=i, completed_by=by, result=result, lead_time=30.0,
                        was_cancelled=cancelled, created_at=at, updated_at=at)


def test_rows_map_refs_and_users_and_leave_outsiders_out() -> None:
    spec = load_spec(REPO / "configs/requests/demo.yaml", base_dir=REPO)
    tasks = [LSTask(id=1, data={}, meta={"ref": "r1"}, overlap=3, updated_at=T0,
                    annotations=(ann(10, 7, "left"), ann(11, 8, "right"), ann(12, 99, "left"),
                                 ann(13, 9, None))),
             LSTask(id=2, data={}, meta={"ref": "unknown"}, overlap=3, updated_at=T0,
                    annotations=(ann(20, 7, "left"),))]
    rows, outsiders = annotation_rows(tasks, refs={"r1": ("swe-1", False)},
                                      experts={7: "ex-7", 8: "ex-8", 9: "ex-9"}, spec=spec)
    assert outsiders == 1
    assert rows["annotation_id"].tolist() == [10, 11, 13]
    assert [None if pd.isna(a) else json.loads(a) for a in rows["answer_json"]] == [
        {"preference": "a"}, {"preference": "b"}, None]
    contract = to_contract(counted(rows)[0])  # the empty annotation carries no judgment
    assert contract[["task", "worker", "field", "label"]].values.tolist() == [
        ["swe-1", "ex-7", "preference", "a"], ["swe-1", "ex-8", "preference", "b"]]


def test_merge_keeps_the_newest_version_and_reports_only_fresh_rows() -> None:
    def frame(pairs):
        return pd.DataFrame({"annotation_id": [i for i, _ in pairs],
                             "updated_at": [T0 + timedelta(minutes=m) for _, m in pairs],
                             "answer_json": [f"v{m}" for _, m in pairs]})
    synced, fresh = _merge(frame([]), frame([(1, 0), (2, 0)]))
    assert len(synced) == 2 and len(fresh) == 2
    # listing again (the sync margin) repeats row 1, and row 2 was edited
    synced, fresh = _merge(synced, frame([(1, 0), (2, 5), (3, 6)]))
    assert fresh["annotation_id"].tolist() == [2, 3]
    assert synced.set_index("annotation_id")["answer_json"].to_dict() == {1: "v0", 2: "v5", 3: "v6"}
