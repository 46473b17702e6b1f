"""Classification: single- or multi-label choice from the spec's labels.

Single-label: one nominal question ``label``. Multi-label: one yes/no question per label
(``1`` chosen, ``0`` not), so agreement and aggregation work label by label.
View ``labels``: item_id, text, label (single) or labels (list, multi), confidence.
"""
from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import Field, field_validator

from annoflow.tasktypes.base import Question, TaskSpecBase, TaskType, View, choices_result, xml_attr


class ClassificationSpec(TaskSpecBase):
    type: Literal["classification"]
    labels: list[str] = Field(min_length=2)
    multi_label: bool = False

    @field_validator("labels")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        value = [v.strip() for v in value]
        if any(not v for v in value):
            raise ValueError("labels must not be empty strings")
        if len(set(value)) != len(value):
            raise ValueError("labels must be distinct")
        return value


def _chosen(result: list[dict[str, Any]]) -> list[str] | None:
    for region in result:
        if region.get("from_name") == "label" and region.get("type") == "choices":
            return list(region.get("value", {}).get("choices") or [])
    return None


class Classification(TaskType):
    name: ClassVar[str] = "classification"
    inputs: ClassVar[tuple[str, ...]] = ("text",)
    Spec: ClassVar = ClassificationSpec
    seconds_per_judgment: ClassVar[float] = 20.0

    def questions(self, task: ClassificationSpec) -> list[Question]:
        if task.multi_label:
            return [Question(lab, ("0", "1"), "nominal") for lab in task.labels]
        return [Question("label", tuple(task.labels), "nominal")]

    def label_config(self, spec) -> str:
        choices = "\n    ".join(f"<Choice value={xml_attr(lab)}/>" for lab in spec.task.labels)
        mode = "multiple" if spec.task.multi_label else "single-radio"
        return self.render(spec, choices=choices, mode=mode,
                           required="false" if spec.task.multi_label else "true")

    def parse_result(self, task: ClassificationSpec, result: list[dict[str, Any]]) -> dict[str, str]:
        chosen = _chosen(result)
        if chosen is None:
            return {}
        if task.multi_label:
            return {lab: "1" if lab in chosen else "0" for lab in task.labels}
        return {"label": chosen[0]} if chosen else {}

    def make_result(self, task: ClassificationSpec, answer: dict[str, str]) -> list[dict[str, Any]]:
        if task.multi_label:
            chosen = [lab for lab in task.labels if answer.get(lab) == "1"]
        else:
            chosen = [answer["label"]]
        return [choices_result("label", "text", chosen)]

    def parse_gold(self, task: ClassificationSpec, value: Any) -> dict[str, str]:
        if not task.multi_label:
            return super().parse_gold(task, value)
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else \
                [v for v in value.split(";") if v.strip()]
        chosen = [str(v).strip() for v in value]
        if bad := [v for v in chosen if v not in task.labels]:
            raise ValueError(f"answer labels {bad} are not legal; expected some of {task.labels}")
        return {lab: "1" if lab in chosen else "0" for lab in task.labels}

    def delivery_views(self, task: ClassificationSpec, items: pd.DataFrame,
                       outcome: pd.DataFrame) -> list[View]:
        if task.multi_label:
            o = outcome.assign(on=outcome["label"] == "1")
            labels = o[o["on"]].groupby("task")["field"].agg(
                lambda s: sorted(s, key=task.labels.index))
            conf = o.groupby("task")["confidence"].mean()
            agg = pd.DataFrame({"labels": labels.reindex(conf.index),
                                "confidence": conf}).reset_index(names="item_id")
            agg["labels"] = agg["labels"].map(lambda v: v if isinstance(v, list) else [])
            cols = ["labels"]
        else:
            agg = outcome.rename(columns={"task": "item_id"})
            cols = ["label"]
        df = agg.merge(items, on="item_id", validate="one_to_one")
        view = df[["item_id", "text", *cols, "confidence"]].astype({"confidence": "float64"})
        return [View("labels", view.sort_values("item_id", kind="stable").reset_index(drop=True))]
