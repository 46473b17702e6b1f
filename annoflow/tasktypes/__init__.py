"""Task types: each kind of expert work is one module implementing ``TaskType``
(see ``base``). Adding a type is one new module registered here plus its tests."""
from __future__ import annotations

from annoflow.tasktypes.base import Question, TaskSpecBase, TaskType, UnreadableResult, View
from annoflow.tasktypes.classification import Classification
from annoflow.tasktypes.likert_rating import LikertRating
from annoflow.tasktypes.pairwise_preference import PairwisePreference
from annoflow.tasktypes.rubric_authoring import RubricAuthoring
from annoflow.tasktypes.rubric_grading import RubricGrading
from annoflow.tasktypes.solution_authoring import SolutionAuthoring

TASK_TYPES: dict[str, TaskType] = {t.name: t for t in (
    PairwisePreference(), RubricGrading(), LikertRating(), Classification(),
    SolutionAuthoring(), RubricAuthoring())}


def get_task_type(name: str) -> TaskType:
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown task type {name!r}; known: {sorted(TASK_TYPES)}") from None


__all__ = ["TASK_TYPES", "Question", "TaskSpecBase", "TaskType", "UnreadableResult", "View", "get_task_type"]
