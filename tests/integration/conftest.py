"""Integration tests run against the real local services (Label Studio, SeaweedFS S3,
Prefect server). `make test` starts them; this fixture starts them too when pytest is
run on its own, and reuses them when they are already up."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from annoflow.settings import Settings
from connectors.label_studio import LabelStudioClient
from connectors.s3 import S3Store
from connectors.state import StateStore
from annoflow.layout import RawZone
from tests.support import set_path

REPO = Path(__file__).resolve().parents[2]
ANNOFLOW = str(Path(sys.executable).with_name("annoflow"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def services() -> None:
    subprocess.run([sys.executable, str(REPO / "scripts/services.py"), "start"], check=True,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(autouse=True)
def campaigns_end_with_their_test(request):
    """A campaign outlives the command that started it (it ticks on the worker until it is
    delivered): the campaigns a test leaves running are cancelled when it ends, so that
    they do not tick on through the rest of the suite. Module-scoped campaigns (fixtures
    shared by a module's tests) are cancelled when the module ends."""
    state = StateStore(Settings().state_url)
    before = {c.request_id for c in state.campaigns()}
    yield
    _cancel_new(state, before)


@pytest.fixture(scope="module", autouse=True)
def module_campaigns_end_with_their_module():
    state = StateStore(Settings().state_url)
    before = {c.request_id for c in state.campaigns()}
    yield
    _cancel_new(state, before)


def _cancel_new(state: StateStore, before: set[str]) -> None:
    from tasks.stages import change_stage
    for c in state.campaigns():
        if c.request_id not in before and c.stage in ("submitted", "qualifying", "producing", "paused"):
            change_stage(c.request_id, "cancel")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def ls(settings: Settings) -> LabelStudioClient:
    return LabelStudioClient(settings)


@pytest.fixture(scope="session")
def s3(settings: Settings) -> S3Store:
    return S3Store(settings)


def unique_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_spec(tmp: Path, base: str = "configs/requests/demo.yaml", **changes: Any) -> Path:
    doc = yaml.safe_load((REPO / base).read_text())
    for dotted, value in changes.items():
        set_path(doc, dotted, value, sep="__")
    path = tmp / f"{doc['request_id']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def campaign_project(ls: LabelStudioClient, settings: Settings, rid: str):
    """The campaign's Label Studio project, by the id recorded in annoflow's state."""
    camp = StateStore(settings.state_url).campaign(rid)
    if camp is None or camp.ls_project_id is None:
        return None
    return ls.get_project(project_id=camp.ls_project_id)


def wait_for(what: str, check, timeout_s: float = 120, every_s: float = 1.0):
    """Poll ``check()`` until it returns something truthy (returned); fail after the timeout.
    Campaigns move on the worker's ticks, not in the command that started them."""
    import time
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def nothing_created(ls: LabelStudioClient, s3: S3Store, settings: Settings, rid: str) -> None:
    """No campaign state, no Label Studio project, nothing in the raw zone."""
    assert StateStore(settings.state_url).campaign(rid) is None
    assert not [p for p in ls._sdk.projects.list() if (p.title or "").startswith(rid)]
    assert s3.list_uris(prefix_uri=RawZone(settings.raw_zone_uri, rid).base + "/") == []


def annoflow(*args: str, timeout: float = 600,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, from the repository root (``env``: variables to add)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}, **(env or {})}
    return subprocess.run([ANNOFLOW, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def last_json(proc: subprocess.CompletedProcess) -> dict:
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    assert lines, f"no output; stderr:\n{proc.stderr}"
    return json.loads(lines[-1])
