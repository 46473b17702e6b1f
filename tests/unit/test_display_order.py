"""Pairwise responses shown in a seeded random order (issue 10, L1): half the items show
response B on the left; what an expert clicks is mapped back to the item's terms when
synced; the position-bias check then knows what was on the left."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from annoflow.items import prepare_items, swapped_refs
from annoflow.records import ROW
from annoflow.spec import load_spec, parse_spec
from annoflow.tasktypes import get_task_type
from connectors.label_studio import LSAnnotation, LSTask
from tasks.production import annotation_rows

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 28, tzinfo=timezone.utc)


def _items(n: int = 400) -> pd.DataFrame:
    df = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "prompt": "p",
                       "response_a": [f"A{i}" for i in range(n)],
                       "response_b": [f"B{i}" for i in range(n)],
                       "model_a": "m1", "model_b": "m2"})
    df[ROW] = range(1, n + 1)
    return df


def _spec(**task):
    doc = yaml.safe_load((REPO / "configs/requests/demo.yaml").read_text())
    doc["task"].update(task)
    return parse_spec(doc, base_dir=REPO)


def test_half_the_items_are_shown_the_other_way_round_fixed_per_request() -> None:
    spec = _spec()
    items = prepare_items(spec, _items(), None, ref_key=b"k").items
    share = items["swapped"].mean()
    assert 0.42 < share < 0.58, share
    again = prepare_items(spec, _items(), None, ref_key=b"k").items
    assert again["swapped"].equals(items["swapped"])  # the same campaign, the same order
    other = prepare_items(_spec().model_copy(update={"request_id": "another-request"}),
                          _items(), None, ref_key=b"k").items
    assert not other["swapped"].equals(items["swapped"])  # seeded per request
    off = prepare_items(_spec(shuffle=False), _items(), None, ref_key=b"k").items
    assert not off["swapped"].any()
    likert = load_spec(REPO / "configs/requests/likert_rating.yaml", base_dir=REPO)
    assert not get_task_type("likert_rating").shuffles(likert.task)


def test_swapping_twice_is_nothing_and_the_scale_turns_round() -> None:
    tt = get_task_type("pairwise_preference")
    binary = _spec().task
    assert tt.swap_answer(binary, {"preference": "a"}) == {"preference": "b"}
    graded = _spec(strength_levels=2, allow_tie=True).task
    for label in ("-2", "-1", "0", "1", "2"):
        once = tt.swap_answer(graded, {"preference": label})
        assert once == {"preference": str(-int(label))}
        assert tt.swap_answer(graded, once) == {"preference": label}
    data = {"prompt": "p", "response_a": "A", "response_b": "B"}
    assert tt.swap_data(binary, data) == {"prompt": "p", "response_a": "B", "response_b": "A"}


LEFT = [{"from_name": "preference", "to_name": "response_a,response_b",
         "type": "pairwise", "value": {"selected": "left"}}]


def left_clicks(refs: tuple[str, ...]) -> list[LSTask]:
    """Tasks 1, 2, ... with those refs, each answered by user 7 with a click on the left."""
    return [LSTask(id=n, data={}, meta={"ref": ref}, overlap=3, updated_at=T0,
                   annotations=(LSAnnotation(id=n, completed_by=7, result=LEFT, lead_time=9.0,
                                             was_cancelled=False, created_at=T0,
                                             updated_at=T0),))
            for n, ref in enumerate(refs, start=1)]


def test_a_click_on_a_swapped_task_is_mapped_back_to_the_item() -> None:
    """Response B shown on the left, the expert picks the left one: the item's B wins."""
    spec = _spec()
    left = LEFT
    tasks = left_clicks(("shown-as-is", "shown-swapped"))
    rows, _ = annotation_rows(tasks, refs={"shown-as-is": ("i1", False),
                                           "shown-swapped": ("i2", False)},
                              experts={7: "ex-7"}, spec=spec,
                              swapped=frozenset({"shown-swapped"}))
    assert [json.loads(a) for a in rows["answer_json"]] == [{"preference": "a"},
                                                            {"preference": "b"}]
    assert json.loads(rows["result_json"].iloc[1]) == left  # as Label Studio has it
    items = pd.DataFrame({"ref": ["shown-as-is", "shown-swapped"], "swapped": [False, True]})
    assert swapped_refs(items) == {"shown-swapped"}
    assert swapped_refs(items.drop(columns=["swapped"])) == frozenset()  # older campaigns


class _Imports:
    """What import_once asks of Label Studio, kept."""

    def __init__(self) -> None:
        self.tasks: list[dict] = []

    def iter_tasks(self, *, project_id: int, with_annotations: bool):
        return [LSTask(id=n, data=t["data"], meta=t["meta"], overlap=3, updated_at=T0,
                       annotations=()) for n, t in enumerate(self.tasks, start=1)]

    def import_tasks(self, *, project_id: int, tasks: list[dict]) -> None:
        self.tasks += tasks


def test_the_import_shows_swapped_items_the_other_way_round_and_no_model() -> None:
    from tasks.production import import_once
    spec = _spec()
    items = prepare_items(spec, _items(40), None, ref_key=b"k").items
    ls = _Imports()
    import_once(ls, 1, spec, items)
    shown = {t["meta"]["ref"]: t["data"] for t in ls.tasks}
    for r in items.itertuples():
        first = shown[r.ref]["response_a"]
        assert first == (r.response_b if r.swapped else r.response_a)
        assert set(shown[r.ref]) == {"prompt", "response_a", "response_b"}  # no model names
