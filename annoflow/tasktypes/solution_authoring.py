"""Solution authoring: the expert writes an answer to a prompt (free text).

No vote: QC is automatic checks (empty, too short, duplicate, copied from the prompt) and,
later, expert review. Views: ``completions`` (TRL prompt-completion: prompt, completion,
item_id, annotator) and ``messages`` (TRL conversational: messages, item_id, annotator).
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import Field, model_validator

from annoflow.tasktypes.base import Question, TaskSpecBase, TaskType, View, textarea_value


class SolutionAuthoringSpec(TaskSpecBase):
    type: Literal["solution_authoring"]
    min_chars: int = Field(80, ge=1, description="shorter solutions are rejected")
    max_chars: int = Field(20_000, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> "SolutionAuthoringSpec":
        if self.max_chars < self.min_chars:
            raise ValueError(f"max_chars ({self.max_chars}) is below min_chars ({self.min_chars})")
        return self


class SolutionAuthoring(TaskType):
    name: ClassVar[str] = "solution_authoring"
    inputs: ClassVar[tuple[str, ...]] = ("prompt",)
    Spec: ClassVar = SolutionAuthoringSpec
    seconds_per_judgment: ClassVar[float] = 900.0
    free_text: ClassVar[bool] = True

    def questions(self, task: SolutionAuthoringSpec) -> list[Question]:
        return [Question("solution", None, None)]

    def label_config(self, spec) -> str:
        return self.render(spec, max_chars=str(spec.task.max_chars))

    def parse_result(self, task, result: list[dict[str, Any]]) -> dict[str, str]:
        text = textarea_value(result, "solution")
        return {} if text is None else {"solution": text}

    def make_result(self, task, answer: dict[str, str]) -> list[dict[str, Any]]:
        return [{"from_name": "solution", "to_name": "prompt", "type": "textarea",
                 "value": {"text": [answer["solution"]]}}]

    def min_chars(self, task: SolutionAuthoringSpec) -> int:
        return task.min_chars

    def check_text(self, task: SolutionAuthoringSpec, text: str) -> str | None:
        if len(text) > task.max_chars:
            return f"longer than {task.max_chars} characters"
        return None

    def delivery_views(self, task, items: pd.DataFrame, outcome: pd.DataFrame) -> list[View]:
        df = outcome.rename(columns={"task": "item_id"}).merge(items, on="item_id")
        df = df.sort_values(["item_id", "annotator"], kind="stable").reset_index(drop=True)
        completions = pd.DataFrame({"prompt": df["prompt"], "completion": df["value"],
                                    "item_id": df["item_id"], "annotator": df["annotator"]})
        messages = pd.DataFrame({
            "messages": [[{"role": "user", "content": p}, {"role": "assistant", "content": c}]
                         for p, c in zip(df["prompt"], df["value"])],
            "item_id": df["item_id"], "annotator": df["annotator"]})
        return [View("completions", completions), View("messages", messages)]
