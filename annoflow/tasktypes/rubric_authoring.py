"""Rubric authoring: the expert writes a grading rubric for a prompt: criteria with
descriptions and weights, one per line as ``name | weight | description``.

No vote: QC is automatic checks (plus a well-formed rubric with enough criteria) and,
later, expert review. View ``rubrics``: item_id, prompt, rubric (list of structs
name/description/weight), annotator.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import Field, model_validator

from annoflow.tasktypes.base import Question, TaskSpecBase, TaskType, View, textarea_value


class RubricAuthoringSpec(TaskSpecBase):
    type: Literal["rubric_authoring"]
    min_criteria: int = Field(3, ge=1)
    max_criteria: int = Field(12, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> "RubricAuthoringSpec":
        if self.max_criteria < self.min_criteria:
            raise ValueError(f"max_criteria ({self.max_criteria}) is below min_criteria "
                             f"({self.min_criteria})")
        return self


def parse_rubric(text: str) -> list[dict[str, Any]]:
    """``name | weight | description`` lines -> criteria; ValueError names the bad line."""
    criteria = []
    for n, line in enumerate((ln for ln in text.splitlines() if ln.strip()), start=1):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not parts[0] or not parts[2]:
            raise ValueError(f"criterion line {n} is not 'name | weight | description'")
        try:
            weight = float(parts[1])
        except ValueError:
            raise ValueError(f"criterion line {n}: weight {parts[1]!r} is not a number") from None
        if weight <= 0:
            raise ValueError(f"criterion line {n}: weight must be positive")
        criteria.append({"name": parts[0], "description": parts[2], "weight": weight})
    return criteria


class RubricAuthoring(TaskType):
    name: ClassVar[str] = "rubric_authoring"
    inputs: ClassVar[tuple[str, ...]] = ("prompt",)
    Spec: ClassVar = RubricAuthoringSpec
    seconds_per_judgment: ClassVar[float] = 600.0
    free_text: ClassVar[bool] = True

    def questions(self, task: RubricAuthoringSpec) -> list[Question]:
        return [Question("rubric", None, None)]

    def label_config(self, spec) -> str:
        return self.render(spec, min_criteria=str(spec.task.min_criteria),
                           max_criteria=str(spec.task.max_criteria))

    def parse_result(self, task, result: list[dict[str, Any]]) -> dict[str, str]:
        text = textarea_value(result, "rubric")
        return {} if text is None else {"rubric": text}

    def make_result(self, task, answer: dict[str, str]) -> list[dict[str, Any]]:
        return [{"from_name": "rubric", "to_name": "prompt", "type": "textarea",
                 "value": {"text": [answer["rubric"]]}}]

    def min_chars(self, task: RubricAuthoringSpec) -> int:
        return 10 * task.min_criteria

    def check_text(self, task: RubricAuthoringSpec, text: str) -> str | None:
        try:
            criteria = parse_rubric(text)
        except ValueError as err:
            return f"malformed rubric: {err}"
        if not task.min_criteria <= len(criteria) <= task.max_criteria:
            return (f"{len(criteria)} criteria; expected {task.min_criteria} to "
                    f"{task.max_criteria}")
        return None

    def delivery_views(self, task, items: pd.DataFrame, outcome: pd.DataFrame) -> list[View]:
        df = outcome.rename(columns={"task": "item_id"}).merge(items, on="item_id")
        df = df.sort_values(["item_id", "annotator"], kind="stable").reset_index(drop=True)
        view = pd.DataFrame({"item_id": df["item_id"], "prompt": df["prompt"],
                             "rubric": [parse_rubric(v) for v in df["value"]],
                             "annotator": df["annotator"]})
        return [View("rubrics", view)]
