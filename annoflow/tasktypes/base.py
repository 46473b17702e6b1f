"""The interface every task type implements, and the spec block they share.

A task type compiles a request spec into everything downstream:

* ``Spec``: the pydantic model of the spec's ``task:`` block (``type`` is the tag);
* ``label_config``: the Label Studio labeling config (a template in
  ``configs/label_configs/<name>.xml``, filled in from the spec);
* ``questions``: what each annotation answers, as named fields with their legal labels
  and measurement level (one field for most types; one per criterion for rubric grading,
  one per label for multi-label classification). Free-text types have one ``text`` field
  with no labels;
* ``parse_result`` / ``make_result``: Label Studio results <-> ``{field: value}``;
* ``parse_gold``: a gold answer cell -> ``{field: label}`` (ValueError names the problem);
* ``delivery_views``: the model-ready tables, primary view first.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from xml.sax.saxutils import quoteattr

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from annoflow.spec import RequestSpec

LABEL_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "label_configs"
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
Level = Literal["nominal", "ordinal", "interval"]


class TaskSpecBase(BaseModel):
    """Fields every task type's spec block has."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    instructions: str = Field(min_length=1, description="shown to annotators above every item")
    seconds_per_judgment: float | None = Field(None, gt=0, description="overrides the type's default")


@dataclass(frozen=True)
class Question:
    """One judged field of an annotation."""

    name: str
    labels: tuple[str, ...] | None   # None: free text
    level: Level | None = "nominal"


@dataclass(frozen=True)
class View:
    """A delivered model-ready table."""

    name: str
    table: pd.DataFrame


class UnreadableResult(ValueError):
    """A stored Label Studio result that is not a legal answer to the task's questions."""


def _cut(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "…"


def xml_attr(value: str) -> str:
    return quoteattr(value)


class TaskType(ABC):
    """One kind of expert work, from label config to delivered views."""

    name: ClassVar[str]
    #: inputs the source must map (``source.fields`` keys)
    inputs: ClassVar[tuple[str, ...]]
    #: optional fields the source may map, all or none: kept with the items for delivery,
    #: never sent to Label Studio (an expert never sees them)
    metadata: ClassVar[tuple[str, ...]] = ()
    #: the spec's ``task:`` block
    Spec: ClassVar[type[TaskSpecBase]]
    #: default expert seconds per judgment, for scoping (the spec may override)
    seconds_per_judgment: ClassVar[float]
    #: free-text work is not voted on: QC is automatic checks (and review, later)
    free_text: ClassVar[bool] = False

    # -- compiling the spec ---------------------------------------------------
    def render(self, spec: "RequestSpec", **parts: str) -> str:
        """configs/label_configs/<name>.xml with {{instructions}} and ``parts`` filled in."""
        text = (LABEL_CONFIGS / f"{self.name}.xml").read_text(encoding="utf-8")
        text = _COMMENT.sub("", text)  # the template's notes are for us, not for the server
        values = {"instructions": xml_attr(spec.task.instructions), **parts}
        # one pass: what the spec wrote ({{…}} in instructions, say) is never expanded again
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

    def checked_label_config(self, spec: "RequestSpec") -> str:
        """The label config, checked as Label Studio will check it (label-studio-sdk's
        LabelInterface); ValueError names the problem."""
        from label_studio_sdk.label_interface import LabelInterface
        config = self.label_config(spec)
        try:
            LabelInterface(config).validate()
        except Exception as err:  # the SDK raises several types for a bad config
            raise ValueError(f"the Label Studio config made from the spec is invalid: "
                             f"{_cut(str(err), 200)}") from None
        return config

    def label_config(self, spec: "RequestSpec") -> str:
        return self.render(spec)

    @abstractmethod
    def questions(self, task: Any) -> list[Question]:
        """The fields each annotation answers."""

    def level(self, task: Any) -> Level:
        return self.questions(task)[0].level or "nominal"

    def sides(self, task: Any) -> dict[str, str] | None:
        """For work that compares two things shown side by side: which labels pick the
        left one and which the right one (label -> "left" | "right"; position-bias check).
        None: the type shows nothing side by side."""
        return None

    def shuffles(self, task: Any) -> bool:
        """Whether its items are shown in a seeded random order (``swap_data``)."""
        return False

    def swap_data(self, task: Any, data: dict[str, str]) -> dict[str, str]:
        """The task data as shown the other way round (side-by-side types)."""
        return data

    def swap_answer(self, task: Any, answer: dict[str, str]) -> dict[str, str]:
        """An answer given on the data shown the other way round, in the item's own terms
        (and back: swapping twice is the identity)."""
        return answer

    # -- Label Studio results ---------------------------------------------------
    @abstractmethod
    def parse_result(self, task: Any, result: list[dict[str, Any]]) -> dict[str, str]:
        """A Label Studio annotation result -> ``{field: value}`` (missing fields left out)."""

    def read_result(self, task: Any, result: Any) -> dict[str, str]:
        """``parse_result`` checked: whatever a browser stored, each value is a legal label
        of a known field (a string, for free text). Raises UnreadableResult naming what is
        wrong; Label Studio itself checks only that ``result`` is a list."""
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise UnreadableResult("the result is not a list of JSON objects")
        try:
            answer = self.parse_result(task, result)
        except ValueError as err:  # a task type's own words
            raise UnreadableResult(_cut(str(err), 120)) from None
        except (TypeError, KeyError, AttributeError, IndexError) as err:
            raise UnreadableResult(f"malformed result ({type(err).__name__}: "
                                   f"{_cut(str(err))})") from None
        questions = {q.name: q for q in self.questions(task)}
        for name, value in answer.items():
            q = questions.get(name)
            if q is None:
                raise UnreadableResult(f"{_cut(name)!r} is not a question of this task")
            if not isinstance(value, str):
                raise UnreadableResult(f"{name}: expected text, got {type(value).__name__}")
            if q.labels is not None and value not in q.labels:
                raise UnreadableResult(f"{name}: {_cut(value)!r} is not one of {list(q.labels)}")
        return answer

    @abstractmethod
    def make_result(self, task: Any, answer: dict[str, str]) -> list[dict[str, Any]]:
        """The Label Studio result an annotator giving ``answer`` would submit."""

    # -- free-text checks (free-text types override) -----------------------------------
    def min_chars(self, task: Any) -> int:
        return 1

    def check_text(self, task: Any, text: str) -> str | None:
        """A type-specific problem with a submitted text, or None."""
        return None

    def parse_gold(self, task: Any, value: Any) -> dict[str, str]:
        """A gold answer cell -> ``{field: label}``; single-field types take the label."""
        if self.free_text:
            raise ValueError(f"{self.name} is free text: it has no gold answers")
        (q,) = self.questions(task)
        label = str(value).strip()
        if label not in q.labels:
            raise ValueError(f"answer {label!r} is not a legal label; expected one of "
                             f"{list(q.labels)}")
        return {q.name: label}

    # -- delivery -----------------------------------------------------------------
    def comparisons(self, task: Any, items: pd.DataFrame,
                    outcome: pd.DataFrame) -> pd.DataFrame | None:
        """The delivered outcome as comparisons between what was compared (``left``,
        ``right``, ``winner``), which the delivery ranks into a ``rankings`` view; None
        where the type compares nothing."""
        return None

    @abstractmethod
    def delivery_views(self, task: Any, items: pd.DataFrame, outcome: pd.DataFrame) -> list[View]:
        """Model-ready tables, primary first. ``items``: item_id + inputs (non-gold).
        ``outcome``: for voted types the aggregate (task, field, label, confidence,
        n_judgments); for free-text types the accepted texts (task, worker, value)."""


def single_choice(result: list[dict[str, Any]], from_name: str) -> str | None:
    for region in result:
        if region.get("from_name") == from_name and region.get("type") == "choices":
            choices = region.get("value", {}).get("choices") or []
            return choices[0] if choices else None
    return None


def choices_result(from_name: str, to_name: str, choices: list[str]) -> dict[str, Any]:
    return {"from_name": from_name, "to_name": to_name, "type": "choices",
            "value": {"choices": choices}}


def textarea_value(result: list[dict[str, Any]], from_name: str) -> str | None:
    for region in result:
        if region.get("from_name") == from_name and region.get("type") == "textarea":
            texts = region.get("value", {}).get("text") or []
            return "\n".join(texts)
    return None
