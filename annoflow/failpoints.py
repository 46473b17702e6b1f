"""Failpoints: the named places where a crash test kills the process, to show that a
campaign crashed exactly there goes on with nothing lost, duplicated or half-delivered
(``tests/integration/test_crash_points.py``).

Off unless ``ANNOFLOW_FAILPOINTS`` names some (comma-separated). A process that reaches an
armed point says which on stderr and kills itself with SIGKILL: no ``finally`` block, no
cleanup, no flushed buffer, as a power cut or the kernel's OOM killer would stop it.
"""
from __future__ import annotations

import os
import signal
import sys

#: every failpoint, in the order a campaign first reaches them
POINTS = (
    "import:batch-sent",          # Label Studio has a batch of the tasks, the next not yet
    "setup:tasks-imported",       # tasks imported, the project's access not yet set
    "sync:snapshot-written",      # a snapshot is in the raw zone, the tick's progress not yet
    "act:access-applied",         # Label Studio shut a removed expert out, the roster not yet
    "tick:progress-recorded",     # a tick's progress written, the tick not yet over
    "extra:overlaps-set",         # Label Studio asks for more judgments, overlaps.json not yet
    "finish:qc-done",             # QC passed, nothing delivered yet
    "deliver:file-written",       # one file of a version written, the others not yet
    "deliver:files-written",      # every file written, the manifest not yet
    "deliver:manifest-written",   # the version is complete, the campaign not yet marked delivered
)


def failpoint(name: str) -> None:
    """Die here if a crash test armed ``name``."""
    armed = os.environ.get("ANNOFLOW_FAILPOINTS")
    if armed and name in armed.split(","):
        sys.stderr.write(f"annoflow failpoint: {name}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
