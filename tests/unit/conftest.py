"""Unit tests use a state store of their own (a SQLite file for the session) holding the
demo talent pool, never the one the local services share."""
from __future__ import annotations

import os

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="session", autouse=True)
def unit_state_store(tmp_path_factory) -> str:
    from annoflow.settings import get_settings
    from connectors.pool_registry import PoolRegistry
    from connectors.state import StateStore

    url = f"sqlite:///{tmp_path_factory.mktemp('state') / 'annoflow-state.db'}"
    before = os.environ.get("ANNOFLOW_STATE_URL")
    os.environ["ANNOFLOW_STATE_URL"] = url
    get_settings.cache_clear()
    PoolRegistry(StateStore(url)).import_file(str(REPO / "data/talent_pool.csv"))
    yield url
    if before is None:
        os.environ.pop("ANNOFLOW_STATE_URL", None)
    else:
        os.environ["ANNOFLOW_STATE_URL"] = before
    get_settings.cache_clear()
