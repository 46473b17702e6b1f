"""The project's own error types. Every user-facing failure is one of these.

The CLI prints their message and exits non-zero; it never shows a traceback for them.
"""
from __future__ import annotations

from typing import Any


class AnnoflowError(Exception):
    """Base class: a failure the user can act on, with a message that says how."""

    exit_code = 2


class SpecError(AnnoflowError):
    """The request spec is malformed; the message names the file and the field."""


class DataError(AnnoflowError):
    """Source, gold or talent-pool data is unusable; the message names file, row and field."""


class SettingsError(AnnoflowError):
    """annoflow's own settings (environment) are unsafe or inconsistent."""


class ConnectorError(AnnoflowError):
    """An external system (Label Studio, S3) refused or failed a request."""

    exit_code = 3


class CampaignBusy(AnnoflowError):
    """Another run holds the campaign's lock."""

    exit_code = 6


class CampaignStopped(AnnoflowError):
    """The campaign being followed was paused or cancelled."""

    exit_code = 7


class CampaignTimeout(AnnoflowError):
    """Annotators did not finish before the wait timeout; rerunning resumes."""

    exit_code = 4

    def __init__(self, message: str, *, done: int, total: int) -> None:
        super().__init__(message)
        self.done = done
        self.total = total


class QCGateFailed(AnnoflowError):
    """A quality gate failed: nothing is delivered. Carries the failed checks and the stats."""

    exit_code = 5

    def __init__(self, failed_checks: list[Any], stats: dict[str, Any],
                 message: str | None = None) -> None:
        names = ", ".join(f"{c.name} ({c.summary})" for c in failed_checks)
        super().__init__(message or f"QC gate failed, nothing was delivered: {names}")
        self.failed_checks = failed_checks
        self.stats = stats

    @classmethod
    def from_reason(cls, message: str) -> "QCGateFailed":
        """The failure as a campaign's tick recorded it (its message)."""
        return cls([], {}, message)
