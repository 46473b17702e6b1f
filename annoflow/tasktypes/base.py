"""The interface every task type implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from xml.sax.saxutils import quoteattr

import pandas as pd

if TYPE_CHECKING:
    from annoflow.spec import RequestSpec

LABEL_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "label_configs"


class TaskType(ABC):
    """One kind of expert work, from label config to delivered view."""

    name: ClassVar[str]
    #: inputs the source must map (``source.fields`` keys)
    inputs: ClassVar[tuple[str, ...]]
    #: legal labels in the long annotation contract (gold answers must be one of them)
    labels: ClassVar[tuple[str, ...]]
    #: Krippendorff measurement level of the labels
    measurement: ClassVar[Literal["nominal", "ordinal", "interval"]]
    #: default expert seconds per judgment, for scoping (the spec may override)
    seconds_per_judgment: ClassVar[float]

    def label_config(self, spec: "RequestSpec") -> str:
        """The Label Studio labeling config: configs/label_configs/<name>.xml, filled in."""
        template = (LABEL_CONFIGS / f"{self.name}.xml").read_text(encoding="utf-8")
        return template.replace("{{instructions}}", quoteattr(spec.task.instructions))

    @abstractmethod
    def parse_result(self, result: list[dict[str, Any]]) -> str | None:
        """A Label Studio annotation result -> one label of ``labels`` (None if empty)."""

    @abstractmethod
    def make_result(self, label: str) -> list[dict[str, Any]]:
        """The Label Studio result an annotator choosing ``label`` would submit."""

    @abstractmethod
    def delivery_view(self, items: pd.DataFrame, aggregated: pd.DataFrame) -> pd.DataFrame:
        """The model-ready table: ``items`` (item_id + inputs) joined with
        ``aggregated`` (item_id, label, confidence)."""
