"""Pairwise preference: the expert picks the better of two responses to a prompt.

Labels: ``a`` (response_a is better) or ``b``. Response A is shown on the left.
Delivered view: TRL's preference format (prompt, chosen, rejected) plus item_id and
the aggregated confidence.
"""
from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from annoflow.tasktypes.base import TaskType

_TO_LABEL = {"left": "a", "right": "b"}
_TO_SIDE = {v: k for k, v in _TO_LABEL.items()}


class PairwisePreference(TaskType):
    name: ClassVar[str] = "pairwise_preference"
    inputs: ClassVar[tuple[str, ...]] = ("prompt", "response_a", "response_b")
    labels: ClassVar[tuple[str, ...]] = ("a", "b")
    measurement: ClassVar = "nominal"
    seconds_per_judgment: ClassVar[float] = 90.0

    def parse_result(self, result: list[dict[str, Any]]) -> str | None:
        for region in result:
            if region.get("type") == "pairwise":
                return _TO_LABEL.get(region.get("value", {}).get("selected"))
        return None

    def make_result(self, label: str) -> list[dict[str, Any]]:
        return [{"from_name": "preference", "to_name": "response_a,response_b",
                 "type": "pairwise", "value": {"selected": _TO_SIDE[label]}}]

    def delivery_view(self, items: pd.DataFrame, aggregated: pd.DataFrame) -> pd.DataFrame:
        df = aggregated.merge(items, on="item_id", how="inner", validate="one_to_one")
        a_wins = df["label"] == "a"
        return pd.DataFrame({
            "prompt": df["prompt"],
            "chosen": df["response_a"].where(a_wins, df["response_b"]),
            "rejected": df["response_b"].where(a_wins, df["response_a"]),
            "item_id": df["item_id"],
            "confidence": df["confidence"].astype("float64"),
        }).sort_values("item_id", kind="stable").reset_index(drop=True)
