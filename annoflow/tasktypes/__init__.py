"""Task types: each kind of expert work is one module implementing ``TaskType``.

A task type compiles the spec into everything downstream: the Label Studio label
config, the parsing of Label Studio results into the long annotation contract, the
measurement level QC uses, and the model-ready delivery view. Adding a type is one
new module registered in ``TASK_TYPES`` plus its tests.
"""
from __future__ import annotations

from annoflow.tasktypes.base import TaskType
from annoflow.tasktypes.pairwise_preference import PairwisePreference

TASK_TYPES: dict[str, TaskType] = {t.name: t for t in (PairwisePreference(),)}


def get_task_type(name: str) -> TaskType:
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown task type {name!r}; known: {sorted(TASK_TYPES)}") from None


__all__ = ["TASK_TYPES", "TaskType", "get_task_type"]
