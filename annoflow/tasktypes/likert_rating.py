"""Likert rating: one ordinal rating of a response (1..scale).

View ``ratings``: item_id, prompt, response, rating (int), confidence.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import Field, model_validator

from annoflow.tasktypes.base import (Question, TaskSpecBase, TaskType, View, choices_result,
                                     single_choice, xml_attr)


class LikertSpec(TaskSpecBase):
    type: Literal["likert_rating"]
    question: str = Field("How good is the response?", min_length=1)
    scale: int = Field(5, ge=2, le=10, description="ratings run from 1 to scale")
    scale_labels: list[str] | None = Field(None, description="a caption per point, lowest first")

    @model_validator(mode="after")
    def _labels_match_scale(self) -> "LikertSpec":
        if self.scale_labels is not None and len(self.scale_labels) != self.scale:
            raise ValueError(f"scale_labels has {len(self.scale_labels)} captions but scale is "
                             f"{self.scale}: give one per point")
        return self

    def captions(self) -> list[tuple[str, str]]:
        names = self.scale_labels or [""] * self.scale
        return [(str(i), f"{i} – {n}" if n else str(i)) for i, n in enumerate(names, start=1)]


class LikertRating(TaskType):
    name: ClassVar[str] = "likert_rating"
    inputs: ClassVar[tuple[str, ...]] = ("prompt", "response")
    Spec: ClassVar = LikertSpec
    seconds_per_judgment: ClassVar[float] = 45.0

    def questions(self, task: LikertSpec) -> list[Question]:
        return [Question("rating", tuple(lab for lab, _ in task.captions()), "ordinal")]

    def label_config(self, spec) -> str:
        choices = "\n    ".join(f"<Choice value={xml_attr(cap)} alias=\"{lab}\"/>"
                               for lab, cap in spec.task.captions())
        return self.render(spec, question=xml_attr(spec.task.question), choices=choices)

    def parse_result(self, task: LikertSpec, result: list[dict[str, Any]]) -> dict[str, str]:
        captions = {cap: lab for lab, cap in task.captions()}
        choice = single_choice(result, "rating")
        return {"rating": captions.get(choice, choice)} if choice is not None else {}

    def make_result(self, task: LikertSpec, answer: dict[str, str]) -> list[dict[str, Any]]:
        # Label Studio stores a choice's alias (the rating) in results
        return [choices_result("rating", "response", [answer["rating"]])]

    def delivery_views(self, task: LikertSpec, items: pd.DataFrame,
                       outcome: pd.DataFrame) -> list[View]:
        df = outcome.rename(columns={"task": "item_id"}).merge(items, on="item_id",
                                                                validate="one_to_one")
        view = pd.DataFrame({"item_id": df["item_id"], "prompt": df["prompt"],
                             "response": df["response"], "rating": df["label"].astype("int64"),
                             "confidence": df["confidence"].astype("float64")})
        return [View("ratings", view.sort_values("item_id", kind="stable").reset_index(drop=True))]
