"""The access extension must not reorder Label Studio's own migrations on a fresh database.

Label Studio's data migrations use tables of other apps without declaring it (projects'
0028 writes core's AsyncMigrationStatus), so they rely on the order Django's plan happens to
take. A dependency added in one of our migrations once moved projects ahead of core, and a
fresh `make services` failed with "no such table: core_asyncmigrationstatus" (CI, stop 14).
This migrates an empty database with the extension, in Label Studio's own venv, as
`label-studio start` does on a new machine (about 25 s).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LS_PYTHON = ROOT / ".local" / "ls-venv" / "bin" / "python"

MIGRATE = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", "--no-color", verbosity=0)
from django.db.migrations.recorder import MigrationRecorder
# the extension's models and its migrations agree (exits non-zero when one is missing)
call_command("makemigrations", "annoflow_access", "--check", "--dry-run", verbosity=1)
print(sorted({m.app for m in MigrationRecorder.Migration.objects.all()}))
"""


def _services():
    spec = importlib.util.spec_from_file_location("annoflow_services", ROOT / "scripts" / "services.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_fresh_database_migrates_with_the_extension(tmp_path):
    """What `label-studio start` does first on a new machine, with annoflow's settings."""
    assert LS_PYTHON.exists(), f"{LS_PYTHON} is missing: run `make venv` first"
    services = _services()
    _, env = services.command(services.LABEL_STUDIO)  # the same environment, no telemetry
    site = subprocess.run([str(LS_PYTHON), "-c", "import label_studio, os; "
                           "print(os.path.dirname(label_studio.__file__))"], cwd=tmp_path,
                          capture_output=True, text=True, check=True).stdout.strip()
    env.update(LABEL_STUDIO_BASE_DATA_DIR=str(tmp_path), PYTHONPATH=f"{ROOT / 'extensions'}{os.pathsep}{site}")
    # cwd away from the checkout: annoflow's own `tasks` package would shadow Label Studio's
    out = subprocess.run([str(LS_PYTHON), "-c", MIGRATE], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    applied = out.stdout.strip().splitlines()[-1]
    assert "'annoflow_access'" in applied and "'core'" in applied and "'projects'" in applied
