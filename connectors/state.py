"""annoflow's own transactional state: what it made in other systems, by id.

SQLite is the embedded default (``ANNOFLOW_STATE_URL``); a PostgreSQL URL works the same
(SQLAlchemy Core). S3 stays the home of immutable data; this store holds the small,
mutable facts several processes share:

* ``campaigns``: request id -> client, the Label Studio project's id (and the key written
  into it at creation, so a crash between creating and recording finds it again);
* ``experts``: talent-pool id -> Label Studio user id, login alias and display handle, and
  the expert's outstanding one-time password, encrypted (never in clear);
* ``campaign_specs``: the spec a campaign runs with, and each intended change to it;
* ``rosters``: which experts work on which campaign, each one's status there (active,
  removed, released) and the weekly hours booked for it;
* ``audit_log``: every change of a campaign's stage and roster, who made it and why
  (append-only).

The schema belongs to the Alembic migrations in ``connectors/migrations``: opening a store
brings its database to the newest revision (a database made before Alembic is recognised
and upgraded in place).
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from annoflow.errors import AnnoflowError, ConnectorError, SpecError
from annoflow.identity import client_key

META = sa.MetaData()
CAMPAIGNS = sa.Table(
    "campaigns", META,
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("client", sa.String(200), nullable=False),
    sa.Column("project_key", sa.String(64), nullable=False),
    sa.Column("ls_project_id", sa.Integer, nullable=True),
    #: the project of the campaign's qualification round, when it has one
    sa.Column("qualification_project_id", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    #: scoped -> submitted -> producing -> delivered, or paused / cancelled / failed ...
    sa.Column("stage", sa.String(20), nullable=False, default="scoped", server_default="scoped"),
    sa.Column("stage_reason", sa.Text, nullable=True),
    sa.Column("stage_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("result_json", sa.Text, nullable=True),
)
EXPERTS = sa.Table(
    "experts", META,
    sa.Column("expert_id", sa.String(200), primary_key=True),
    sa.Column("ls_user_id", sa.Integer, nullable=False, unique=True),
    sa.Column("login", sa.String(254), nullable=False, unique=True),
    sa.Column("handle", sa.String(100), nullable=False),
    sa.Column("password_enc", sa.Text, nullable=True),
    sa.Column("password_issued_at", sa.DateTime(timezone=True), nullable=True),
)
#: every spec a campaign has run with, in order: the first, then each intended change
CAMPAIGN_SPECS = sa.Table(
    "campaign_specs", META,
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("spec_sha256", sa.String(64), nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)
ROSTERS = sa.Table(
    "rosters", META,
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("expert_id", sa.String(200), primary_key=True),
    #: active | removed | released
    sa.Column("status", sa.String(20), nullable=False, default="active", server_default="active"),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
    #: the expert's weekly hours committed to this campaign (0 once removed or released)
    sa.Column("booked_hours", sa.Float, nullable=False, default=0.0, server_default="0"),
)
#: append-only: what changed a campaign's stage or roster, when, by whom, why
AUDIT_LOG = sa.Table(
    "audit_log", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(200), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("expert_id", sa.String(200), nullable=True),
    sa.Column("detail_json", sa.Text, nullable=False),
)

# -- the talent pool (``connectors.pool_registry``) -------------------------------------
#: one row per expert: the profile a pool file gives (contact details stay in this table);
#: ``languages`` and ``excluded_clients`` are ";"-delimited (";en;de;")
POOL_EXPERTS = sa.Table(
    "pool_experts", META,
    sa.Column("expert_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("languages", sa.Text, nullable=False),
    sa.Column("excluded_clients", sa.Text, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("skills_json", sa.Text, nullable=False),
    sa.Column("hourly_rate_usd", sa.Float, nullable=False),
    sa.Column("weekly_hours", sa.Float, nullable=False),
    sa.Column("banned", sa.Boolean, nullable=False),
    sa.Column("ban_reason", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
#: an expert's domains, each with its subspecialties (";a;b;") and vetting result. Also the
#: table matching reads: it carries a copy of what the hard constraints and the score need
#: of the expert's row (languages, exclusions, ban, rate, hours; written with it, in one
#: transaction, by the import only), and is clustered by domain (SQLite: WITHOUT ROWID),
#: so that ranking a domain reads one contiguous range and nothing else
POOL_DOMAINS = sa.Table(
    "pool_domains", META,
    sa.Column("domain", sa.String(60), primary_key=True),
    sa.Column("expert_id", sa.String(100), primary_key=True),
    sa.Column("subspecialties", sa.Text, nullable=False),
    sa.Column("vetting_score", sa.Float, nullable=True),
    sa.Column("vetted_at", sa.Date, nullable=True),
    sa.Column("languages", sa.Text, nullable=False),
    sa.Column("excluded_clients", sa.Text, nullable=False),
    sa.Column("banned", sa.Boolean, nullable=False),
    sa.Column("hourly_rate_usd", sa.Float, nullable=False),
    sa.Column("weekly_hours", sa.Float, nullable=False),
    sa.Index("ix_pool_domains_expert_id", "expert_id"),
    sqlite_with_rowid=False,
)
#: an expert's measured quality per domain, as sufficient statistics (counts and sums):
#: gold judged and right, judgments compared with the consensus and the agreement summed,
#: reviews and reviews accepted, judgments and campaigns done, last active
POOL_QUALITY = sa.Table(
    "pool_quality", META,
    sa.Column("expert_id", sa.String(100), primary_key=True),
    sa.Column("domain", sa.String(60), primary_key=True),
    sa.Column("gold_judged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("gold_right", sa.Integer, nullable=False, server_default="0"),
    sa.Column("agreement_judged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("agreement_sum", sa.Float, nullable=False, server_default="0"),
    sa.Column("reviews", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reviews_accepted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("judgments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("campaigns", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_active", sa.DateTime(timezone=True), nullable=True),
    sqlite_with_rowid=False,
)

#: what each campaign measured of each expert (the latest measure; the pool's history holds
#: the sum over campaigns, kept equal to it: recording a campaign again adds the difference)
POOL_CAMPAIGN_QUALITY = sa.Table(
    "pool_campaign_quality", META,
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("expert_id", sa.String(100), primary_key=True),
    sa.Column("domain", sa.String(60), nullable=False),
    sa.Column("gold_judged", sa.Integer, nullable=False),
    sa.Column("gold_right", sa.Integer, nullable=False),
    sa.Column("agreement_judged", sa.Integer, nullable=False),
    sa.Column("agreement_sum", sa.Float, nullable=False),
    sa.Column("reviews", sa.Integer, nullable=False),
    sa.Column("reviews_accepted", sa.Integer, nullable=False),
    sa.Column("judgments", sa.Integer, nullable=False),
    #: active | removed | released | qualification_failed ... and why
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    #: the qualification round: passed or not (None: the campaign had none), and the score
    sa.Column("qualified", sa.Boolean, nullable=True),
    sa.Column("qualification_score", sa.Float, nullable=True),
)

#: qualifying: shortlisted, taking the qualification round (hours held); failed: under its
#: pass mark; reviewing: a reviewer of the campaign's sample (L4); the others as before
ROSTER_STATUSES = ("active", "removed", "released", "qualifying", "failed", "reviewing")
#: statuses whose weekly hours stay booked
BOOKED_STATUSES = ("active", "qualifying", "reviewing")
#: a campaign in one of these stages books no expert's hours any more
FINISHED_STAGES = ("delivered", "cancelled", "failed", "qc_failed")


@dataclass(frozen=True)
class CampaignRecord:
    request_id: str
    client: str
    project_key: str
    ls_project_id: int | None
    stage: str = "scoped"
    stage_reason: str | None = None
    stage_at: datetime | None = None
    result_json: str | None = None
    qualification_project_id: int | None = None


@dataclass(frozen=True)
class RosterEntry:
    expert_id: str
    status: str = "active"
    reason: str | None = None
    changed_at: datetime | None = None
    booked_hours: float = 0.0


@dataclass(frozen=True)
class ExpertRecord:
    expert_id: str
    ls_user_id: int
    login: str
    handle: str
    password_enc: str | None = None
    password_issued_at: datetime | None = None


def _changed_fields(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths where two JSON documents differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            out += _changed_fields(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if old == new else [path or "(the whole spec)"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    """A datetime read back, UTC-aware (SQLite returns the naive UTC it stored)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _campaign_record(row: Any) -> CampaignRecord:
    return CampaignRecord(row.request_id, row.client, row.project_key, row.ls_project_id,
                          stage=row.stage, stage_reason=row.stage_reason,
                          stage_at=_utc(row.stage_at), result_json=row.result_json,
                          qualification_project_id=row.qualification_project_id)


def _audit_row(*, request_id: str, action: str, actor: str, expert_id: str | None = None,
               detail: dict | None = None) -> dict:
    return {"request_id": request_id, "at": _now(), "actor": actor, "action": action,
            "expert_id": expert_id,
            "detail_json": json.dumps(detail or {}, sort_keys=True, default=str)}


# -- schema migrations ---------------------------------------------------------------
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: the four tables ``create_all`` made before Alembic owned the schema (revision 0001)
BASELINE_TABLES = ("campaigns", "experts", "campaign_specs", "rosters")
BASELINE_REVISION = "0001"
#: the head of ``connectors/migrations/versions``: move it with every new revision
SCHEMA_HEAD = "0005"
#: PostgreSQL advisory lock key serialising migrations of one database ("annoflow")
_PG_MIGRATION_LOCK = 0x616E6E6F666C6F77


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _scripts() -> Any:
    from alembic.script import ScriptDirectory
    return ScriptDirectory(str(MIGRATIONS_DIR))


def schema_head() -> str:
    """The newest schema revision this code knows: ``SCHEMA_HEAD``, so that opening a store
    at head neither imports Alembic nor reads the scripts (a unit test holds it to the
    scripts' head)."""
    return SCHEMA_HEAD


def schema_revision(c: sa.Connection) -> str | None:
    """The database's schema revision; None when Alembic never ran on it."""
    if not sa.inspect(c).has_table("alembic_version"):
        return None
    versions = c.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions[0] if len(versions) == 1 else None


def _upgrade(c: sa.Connection) -> None:
    """Bring the database on ``c`` (in a transaction, holding the migration lock) to head."""
    from alembic import command
    current = schema_revision(c)
    if current == schema_head():
        return
    if current is not None:
        try:
            _scripts().get_revision(current)
        except Exception:
            raise ConnectorError(
                f"annoflow's state store is at schema revision {current!r}, which this "
                f"annoflow does not know (it knows up to {schema_head()!r}): it was written by "
                f"a newer annoflow; run that one, or upgrade this one") from None
    cfg = _alembic_config(c)
    if current is None:
        have = [t for t in BASELINE_TABLES if sa.inspect(c).has_table(t)]
        if len(have) == len(BASELINE_TABLES):  # made before Alembic: it is the baseline
            command.stamp(cfg, BASELINE_REVISION)
        # else empty, or older still (0001 creates only the tables that are missing)
    command.upgrade(cfg, "head")


def _sqlite_file(url: sa.engine.URL) -> str | None:
    if url.get_backend_name() != "sqlite":
        return None
    db = url.database or ""
    if db in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    return db


def _sqlite_transactions(engine: sa.Engine) -> None:
    """Real transactions on SQLite: pysqlite's own handling begins one only before a write
    (a read before it is outside) and runs DDL outside any. Here each begins with ``BEGIN``,
    or ``BEGIN IMMEDIATE`` on connections with the ``annoflow_write`` option: SQLite's write
    lock is then taken before anything is read, which is what ``with_for_update`` does on
    PostgreSQL (a read-then-write is atomic; two processes migrating one new file do so one
    after the other, the second finding it at head)."""

    if engine.dialect.driver != "pysqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("annoflow_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class StateStore:
    def __init__(self, url: str) -> None:
        parsed = sa.engine.make_url(url)
        self.url = url
        if (path := _sqlite_file(parsed)) is not None:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConnectorError(f"annoflow's state store at {self.where} cannot be "
                                     f"opened: {err}") from None
        if parsed.get_backend_name() == "sqlite":
            # wait for another process's write rather than fail at once (pysqlite: 5 s)
            args = {} if "timeout" in parsed.query else {"connect_args": {"timeout": 30}}
            self.engine = sa.create_engine(url, future=True, **args)
            _sqlite_transactions(self.engine)
        else:
            self.engine = sa.create_engine(url, future=True)
        #: the same engine; its transactions take SQLite's write lock first
        self._writer = self.engine.execution_options(annoflow_write=True)
        try:
            self._migrate()
        except sa.exc.DBAPIError as err:
            raise ConnectorError(f"annoflow's state store at {self.where} "
                                 f"cannot be opened: {err.orig}") from None

    def _begin(self) -> Any:
        """A write transaction (``with self._begin() as c``): ``engine.begin()``, holding
        SQLite's write lock from the start."""
        return self._writer.begin()

    def _migrate(self) -> None:
        """Bring the schema to head; cheap (one look at ``alembic_version``) when it is."""
        with self.engine.connect() as c:
            if schema_revision(c) == schema_head():
                return
        try:
            with self._begin() as c:
                if c.dialect.name == "postgresql":  # one migrating process at a time
                    c.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                              {"key": _PG_MIGRATION_LOCK})
                _upgrade(c)  # looks at the revision again, now under the lock
        except sa.exc.DBAPIError:
            # another process may have migrated at the same time (a database without
            # transactional DDL or a lock of its own): fine if the schema is at head now
            with self.engine.connect() as c:
                if schema_revision(c) != schema_head():
                    raise

    @property
    def where(self) -> str:
        """The store's URL with any password hidden."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # -- campaigns -------------------------------------------------------------------
    def campaign(self, request_id: str) -> CampaignRecord | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(CAMPAIGNS).where(CAMPAIGNS.c.request_id == request_id)).first()
        return _campaign_record(row) if row else None

    def campaigns(self) -> list[CampaignRecord]:
        """Every campaign, by request id."""
        with self.engine.connect() as c:
            return [_campaign_record(r) for r in
                    c.execute(sa.select(CAMPAIGNS).order_by(CAMPAIGNS.c.request_id))]

    def set_stage(self, *, request_id: str, stage: str, reason: str | None = None,
                  actor: str = "cli") -> bool:
        """Move the campaign to ``stage`` and audit it, in one transaction; False (nothing
        done) when it is in that stage already."""
        with self._begin() as c:
            row = c.execute(sa.select(CAMPAIGNS.c.stage).where(CAMPAIGNS.c.request_id == request_id)
                            .with_for_update()).first()
            if row is None:
                raise AnnoflowError(f"no campaign {request_id!r} in annoflow's state store "
                                    f"at {self.where}")
            if row.stage == stage:
                return False
            c.execute(CAMPAIGNS.update().where(CAMPAIGNS.c.request_id == request_id)
                      .values(stage=stage, stage_reason=reason, stage_at=_now()))
            c.execute(AUDIT_LOG.insert().values(**_audit_row(
                request_id=request_id, action="stage", actor=actor,
                detail={"stage": stage, "reason": reason, "from": row.stage})))
        return True

    def save_result(self, *, request_id: str, result_json: str) -> None:
        with self._begin() as c:
            done = c.execute(CAMPAIGNS.update().where(CAMPAIGNS.c.request_id == request_id)
                             .values(result_json=result_json))
            if done.rowcount == 0:
                raise AnnoflowError(f"no campaign {request_id!r} in annoflow's state store "
                                    f"at {self.where}")

    @staticmethod
    def _ensure_campaign(c: sa.Connection, request_id: str, client: str) -> Any:
        """The campaign's row (locked), inserted with a fresh project key if there is none;
        None when it was inserted now."""
        row = c.execute(sa.select(CAMPAIGNS).where(CAMPAIGNS.c.request_id == request_id)
                        .with_for_update()).first()
        if row is None:
            c.execute(CAMPAIGNS.insert().values(request_id=request_id, client=client,
                                                project_key=secrets.token_hex(16),
                                                ls_project_id=None, created_at=_now()))
        return row

    def begin_campaign(self, *, request_id: str, client: str) -> CampaignRecord:
        """The campaign's record, created on first use with a fresh project key."""
        with self._begin() as c:
            self._ensure_campaign(c, request_id, client)
        found = self.campaign(request_id)
        assert found is not None
        return found

    def bind_campaign(self, *, request_id: str, client: str, spec_json: str,
                      change_reason: str | None = None,
                      normalize: Callable[[str], str] | None = None) -> CampaignRecord:
        """Tie the request id to its client and its spec, in one transaction.

        The first run records both. Later runs must come from the same client (compared as
        ``client_key``) with the same spec; a different spec is refused unless
        ``change_reason`` says the change is intended, and then it is recorded.
        ``normalize`` rewrites a recorded spec as the current spec model would (fields
        added since, with their defaults, are no change)."""
        digest = hashlib.sha256(spec_json.encode()).hexdigest()
        with self._begin() as c:
            row = self._ensure_campaign(c, request_id, client)
            if row is not None and client_key(row.client) != client_key(client):
                raise SpecError(
                    f"request_id {request_id!r} is a campaign of client {row.client!r}, not "
                    f"{client!r}: a request id names one campaign of one client. Give this "
                    f"request a request_id of its own.")
            last = c.execute(sa.select(CAMPAIGN_SPECS).where(
                CAMPAIGN_SPECS.c.request_id == request_id)
                .order_by(CAMPAIGN_SPECS.c.seq.desc()).limit(1)).first()
            same = last is not None and (last.spec_sha256 == digest or (
                normalize is not None and normalize(last.spec_json) == spec_json))
            if last is not None and not same:
                changed = _changed_fields(json.loads(last.spec_json), json.loads(spec_json))
                if not change_reason:
                    raise SpecError(
                        f"campaign {request_id!r} was started with a different spec; changed: "
                        f"{', '.join(changed[:12])}{' …' if len(changed) > 12 else ''}. Nothing "
                        f"was changed. If the change is intended, run again with "
                        f"--spec-change \"why\": it is then recorded with the campaign. Otherwise "
                        f"give a new request a request_id of its own.")
            if last is None or not same:
                c.execute(CAMPAIGN_SPECS.insert().values(
                    request_id=request_id, seq=(last.seq + 1) if last else 1, spec_sha256=digest,
                    spec_json=spec_json, recorded_at=_now(),
                    reason=change_reason if last is not None else "first run"))
        found = self.campaign(request_id)
        assert found is not None
        return found

    def spec_history(self, request_id: str) -> list[dict]:
        with self.engine.connect() as c:
            return [{"seq": r.seq, "spec_sha256": r.spec_sha256, "reason": r.reason,
                     "recorded_at": _utc(r.recorded_at)} for r in c.execute(
                sa.select(CAMPAIGN_SPECS).where(CAMPAIGN_SPECS.c.request_id == request_id)
                .order_by(CAMPAIGN_SPECS.c.seq))]

    def set_project(self, *, request_id: str, project_id: int,
                    qualification: bool = False) -> None:
        """Record the campaign's production project (or its qualification project)."""
        column = "qualification_project_id" if qualification else "ls_project_id"
        with self._begin() as c:
            c.execute(CAMPAIGNS.update().where(CAMPAIGNS.c.request_id == request_id)
                      .values(**{column: project_id}))

    # -- experts ---------------------------------------------------------------------
    def experts(self, expert_ids: list[str] | None = None) -> dict[str, ExpertRecord]:
        q = sa.select(EXPERTS)
        if expert_ids is not None:
            q = q.where(EXPERTS.c.expert_id.in_(expert_ids))
        with self.engine.connect() as c:
            return {r.expert_id: ExpertRecord(**{**r._mapping, "password_issued_at":
                                                 _utc(r.password_issued_at)})
                    for r in c.execute(q)}

    def save_expert(self, rec: ExpertRecord) -> None:
        with self._begin() as c:
            c.execute(EXPERTS.delete().where(EXPERTS.c.expert_id == rec.expert_id))
            c.execute(EXPERTS.insert().values(**rec.__dict__))

    def set_password(self, *, expert_id: str, password_enc: str | None,
                     keep_issued: bool = False) -> None:
        """Record a newly issued (encrypted) password, or forget it once it is in use."""
        values: dict = {"password_enc": password_enc}
        if not keep_issued:
            values["password_issued_at"] = _now() if password_enc else None
        with self._begin() as c:
            c.execute(EXPERTS.update().where(EXPERTS.c.expert_id == expert_id).values(**values))

    # -- rosters ---------------------------------------------------------------------
    def set_roster(self, *, request_id: str, expert_ids: list[str],
                   booked_hours: dict[str, float] | None = None, actor: str = "cli",
                   status: str = "active") -> list[str]:
        """Add the experts not on the campaign's roster yet (``status``: active, or
        qualifying for a qualification round; with their booked weekly hours, 0 when not
        given) and audit each, in one transaction; the ids added. Experts on it already
        are left as they are, whatever their status."""
        if status not in BOOKED_STATUSES:
            raise ValueError(f"experts join a roster as one of {BOOKED_STATUSES}, not {status!r}")
        booked_hours = booked_hours or {}
        with self._begin() as c:
            # the campaign's row (when there is one) serialises rosterings of one campaign
            c.execute(sa.select(CAMPAIGNS.c.request_id).where(CAMPAIGNS.c.request_id == request_id)
                      .with_for_update()).first()
            have = {r.expert_id for r in c.execute(
                sa.select(ROSTERS.c.expert_id).where(ROSTERS.c.request_id == request_id))}
            added = [e for e in dict.fromkeys(expert_ids) if e not in have]
            if added:
                now = _now()
                c.execute(ROSTERS.insert(), [
                    {"request_id": request_id, "expert_id": e, "status": status, "reason": None,
                     "changed_at": now, "booked_hours": float(booked_hours.get(e, 0.0))}
                    for e in added])
                c.execute(AUDIT_LOG.insert(), [_audit_row(
                    request_id=request_id, action="roster_add", actor=actor, expert_id=e,
                    detail={"booked_hours": float(booked_hours.get(e, 0.0)), "status": status})
                    for e in added])
        return added

    def roster(self, request_id: str, *, status: str | None = None) -> list[str]:
        """The campaign's experts (with that status, or all), sorted."""
        q = sa.select(ROSTERS.c.expert_id).where(ROSTERS.c.request_id == request_id)
        if status is not None:
            q = q.where(ROSTERS.c.status == status)
        with self.engine.connect() as c:
            return sorted(r.expert_id for r in c.execute(q))

    def roster_entries(self, request_id: str) -> list[RosterEntry]:
        with self.engine.connect() as c:
            return [RosterEntry(r.expert_id, r.status, r.reason, _utc(r.changed_at),
                                float(r.booked_hours)) for r in c.execute(
                sa.select(ROSTERS).where(ROSTERS.c.request_id == request_id)
                .order_by(ROSTERS.c.expert_id))]

    def change_roster(self, *, request_id: str, expert_id: str, status: str, reason: str,
                      actor: str, detail: dict | None = None) -> bool:
        """Set a rostered expert's status and audit it (action = the new status), in one
        transaction. An expert whose new status is not booked (removed, released, failed)
        has their booked hours freed (0). False
        (nothing done) when the status is that already."""
        if status not in ROSTER_STATUSES:
            raise ValueError(f"roster status {status!r} is not one of {ROSTER_STATUSES}")
        where = sa.and_(ROSTERS.c.request_id == request_id, ROSTERS.c.expert_id == expert_id)
        with self._begin() as c:
            row = c.execute(sa.select(ROSTERS).where(where).with_for_update()).first()
            if row is None:
                raise AnnoflowError(f"expert {expert_id!r} is not on the roster of campaign "
                                    f"{request_id!r}")
            if row.status == status:
                return False
            values: dict[str, Any] = {"status": status, "reason": reason, "changed_at": _now()}
            freed = 0.0
            if status not in BOOKED_STATUSES:
                freed, values["booked_hours"] = float(row.booked_hours), 0.0
            c.execute(ROSTERS.update().where(where).values(**values))
            c.execute(AUDIT_LOG.insert().values(**_audit_row(
                request_id=request_id, action=status, actor=actor, expert_id=expert_id,
                detail={**(detail or {}), "reason": reason, "from": row.status,
                        "freed_hours": freed})))
        return True

    def booked_hours(self, expert_ids: list[str] | None = None, *,
                     exclude_request_id: str | None = None) -> dict[str, float]:
        """Each expert's weekly hours booked by campaigns still running (active or qualifying
        roster rows of campaigns not in FINISHED_STAGES; a roster whose campaign has no row counts),
        leaving out ``exclude_request_id``. With ``expert_ids``, every one of them is a key
        (0 when not booked)."""
        q = (sa.select(ROSTERS.c.expert_id, sa.func.sum(ROSTERS.c.booked_hours).label("hours"))
             .select_from(ROSTERS.outerjoin(CAMPAIGNS,
                                            CAMPAIGNS.c.request_id == ROSTERS.c.request_id))
             .where(ROSTERS.c.status.in_(BOOKED_STATUSES),
                    sa.or_(CAMPAIGNS.c.stage.is_(None), CAMPAIGNS.c.stage.notin_(FINISHED_STAGES)))
             .group_by(ROSTERS.c.expert_id))
        if expert_ids is not None:
            q = q.where(ROSTERS.c.expert_id.in_(expert_ids))
        if exclude_request_id is not None:
            q = q.where(ROSTERS.c.request_id != exclude_request_id)
        with self.engine.connect() as c:
            found = {r.expert_id: float(r.hours or 0.0) for r in c.execute(q)}
        if expert_ids is not None:
            return {e: found.get(e, 0.0) for e in expert_ids}
        return found

    # -- audit -----------------------------------------------------------------------
    def audit(self, *, request_id: str, action: str, actor: str, expert_id: str | None = None,
              detail: dict | None = None) -> None:
        """Append one row to the audit log (which is never updated nor deleted from)."""
        with self._begin() as c:
            c.execute(AUDIT_LOG.insert().values(**_audit_row(
                request_id=request_id, action=action, actor=actor, expert_id=expert_id,
                detail=detail)))

    def audit_log(self, request_id: str, *, since_id: int = 0) -> list[dict]:
        """The campaign's audit rows after ``since_id``, oldest first."""
        with self.engine.connect() as c:
            return [{"id": r.id, "at": _utc(r.at).isoformat(), "actor": r.actor,
                     "action": r.action, "expert_id": r.expert_id,
                     "detail": json.loads(r.detail_json)} for r in c.execute(
                sa.select(AUDIT_LOG).where(AUDIT_LOG.c.request_id == request_id,
                                           AUDIT_LOG.c.id > since_id)
                .order_by(AUDIT_LOG.c.id))]
