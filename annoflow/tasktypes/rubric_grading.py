"""Rubric grading: the expert scores one response on the spec's named criteria (each an
ordinal 1..scale), with a short rationale.

Questions: one per criterion, so agreement and aggregation are per criterion.
Views: ``scores`` (item_id, prompt, response, a column per criterion and its confidence,
overall_score in [0, 1] as the weighted mean of normalised criterion scores, confidence)
and ``reward`` (TRL prompt-completion with a reward column).
"""
from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from annoflow.tasktypes.base import Question, TaskSpecBase, TaskType, View, xml_attr

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = Field(min_length=1)
    scale: int = Field(5, ge=2, le=10)
    weight: float = Field(1.0, gt=0)

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("must be a lowercase identifier (letters, digits, _; it becomes a "
                             "column name)")
        return value


class RubricGradingSpec(TaskSpecBase):
    type: Literal["rubric_grading"]
    criteria: list[Criterion] = Field(min_length=1)
    rationale: bool = True

    @field_validator("criteria")
    @classmethod
    def _distinct(cls, value: list[Criterion]) -> list[Criterion]:
        names = [c.name for c in value]
        if dup := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"criterion names must be distinct; repeated: {dup}")
        if reserved := sorted(set(names) & {"item_id", "prompt", "response", "overall_score",
                                           "confidence"}):
            raise ValueError(f"criterion names {reserved} clash with delivered columns")
        return value


class RubricGrading(TaskType):
    name: ClassVar[str] = "rubric_grading"
    inputs: ClassVar[tuple[str, ...]] = ("prompt", "response")
    Spec: ClassVar = RubricGradingSpec
    seconds_per_judgment: ClassVar[float] = 150.0

    def questions(self, task: RubricGradingSpec) -> list[Question]:
        return [Question(c.name, tuple(str(i) for i in range(1, c.scale + 1)), "ordinal")
                for c in task.criteria]

    def label_config(self, spec) -> str:
        blocks = []
        for c in spec.task.criteria:
            blocks.append(f'<Header value={xml_attr(f"{c.name}: {c.description} (1-{c.scale})")} '
                          f'size="6"/>\n  <Rating name={xml_attr(c.name)} toName="response" '
                          f'maxRating="{c.scale}" required="true"/>')
        if spec.task.rationale:
            blocks.append('<Header value="Rationale (one or two sentences)" size="6"/>\n  '
                          '<TextArea name="rationale" toName="response" rows="3" '
                          'maxSubmissions="1"/>')
        return self.render(spec, criteria="\n  ".join(blocks))

    def parse_result(self, task: RubricGradingSpec, result: list[dict[str, Any]]) -> dict[str, str]:
        names = {c.name for c in task.criteria}
        out = {}
        for region in result:
            if region.get("type") == "rating" and region.get("from_name") in names:
                rating = (region.get("value") or {}).get("rating")
                if isinstance(rating, bool) or not isinstance(rating, (int, float, str)) \
                        or not str(rating).strip().lstrip("-").isdigit():
                    raise ValueError(f"{region['from_name']}: rating {str(rating)[:20]!r} is "
                                     f"not a whole number")
                out[region["from_name"]] = str(int(str(rating).strip()))
        return out

    def make_result(self, task: RubricGradingSpec, answer: dict[str, str]) -> list[dict[str, Any]]:
        out = [{"from_name": c.name, "to_name": "response", "type": "rating",
                "value": {"rating": int(answer[c.name])}} for c in task.criteria]
        if task.rationale and answer.get("rationale"):
            out.append({"from_name": "rationale", "to_name": "response", "type": "textarea",
                        "value": {"text": [answer["rationale"]]}})
        return out

    def parse_gold(self, task: RubricGradingSpec, value: Any) -> dict[str, str]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("answer must be a JSON object of criterion scores, "
                                 'e.g. {"correctness": 4}') from None
        if not isinstance(value, dict):
            raise ValueError("answer must be an object of criterion scores")
        out = {}
        for c in task.criteria:
            score = str(value.get(c.name, "")).strip()
            if score not in {str(i) for i in range(1, c.scale + 1)}:
                raise ValueError(f"answer for criterion {c.name!r} must be 1..{c.scale}, "
                                 f"got {value.get(c.name)!r}")
            out[c.name] = score
        return out

    def delivery_views(self, task: RubricGradingSpec, items: pd.DataFrame,
                       outcome: pd.DataFrame) -> list[View]:
        scores = outcome.pivot(index="task", columns="field", values="label").astype("int64")
        conf = outcome.pivot(index="task", columns="field", values="confidence")
        weights = pd.Series({c.name: c.weight for c in task.criteria})
        norm = pd.DataFrame({c.name: (scores[c.name] - 1) / (c.scale - 1) for c in task.criteria})
        overall = (norm * weights).sum(axis=1) / weights.sum()
        df = items.set_index("item_id").loc[scores.index, ["prompt", "response"]]
        view = pd.DataFrame({"item_id": scores.index, "prompt": df["prompt"].to_numpy(),
                             "response": df["response"].to_numpy()})
        for c in task.criteria:
            view[c.name] = scores[c.name].to_numpy()
            view[f"{c.name}_confidence"] = conf[c.name].astype("float64").to_numpy()
        view["overall_score"] = overall.round(4).to_numpy()
        view["confidence"] = conf.mean(axis=1).astype("float64").to_numpy()
        view = view.sort_values("item_id", kind="stable").reset_index(drop=True)
        reward = pd.DataFrame({"prompt": view["prompt"], "completion": view["response"],
                               "reward": view["overall_score"], "item_id": view["item_id"]})
        return [View("scores", view), View("reward", reward)]
