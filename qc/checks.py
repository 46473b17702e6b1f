"""Check results are values; the gate that acts on them is separate."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from annoflow.errors import QCGateFailed
from annoflow.results import QCStats

Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    layer: str
    passed: bool
    severity: Severity
    summary: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "layer": self.layer, "passed": self.passed,
                "severity": self.severity, "summary": self.summary, "metrics": self.metrics}


def gate(checks: list[CheckResult], stats: QCStats) -> None:
    """Raise QCGateFailed if any error-severity check failed (it carries the figures)."""
    failed = [c for c in checks if not c.passed and c.severity == "error"]
    if failed:
        raise QCGateFailed(failed, stats.model_dump())
