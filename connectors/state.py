"""annoflow's own transactional state: what it made in other systems, by id.

SQLite is the embedded default (``ANNOFLOW_STATE_URL``); a PostgreSQL URL works the same
(SQLAlchemy Core). S3 stays the home of immutable data; this store holds the small,
mutable facts several processes share:

* ``campaigns``: request id -> client, the Label Studio project's id (and the key written
  into it at creation, so a crash between creating and recording finds it again);
* ``experts``: talent-pool id -> Label Studio user id, login alias and display handle, and
  the expert's outstanding one-time password, encrypted (never in clear);
* ``campaign_specs``: the spec a campaign runs with, and each intended change to it;
* ``rosters``: which experts work on which campaign.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from annoflow.errors import ConnectorError, SpecError
from annoflow.identity import client_key

META = sa.MetaData()
CAMPAIGNS = sa.Table(
    "campaigns", META,
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("client", sa.String(200), nullable=False),
    sa.Column("project_key", sa.String(64), nullable=False),
    sa.Column("ls_project_id", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
)


@dataclass(frozen=True)
class CampaignRecord:
    request_id: str
    client: str
    project_key: str
    ls_project_id: int | None


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


class StateStore:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        try:
            META.create_all(self.engine)
        except sa.exc.OperationalError as err:
            raise ConnectorError(f"annoflow's state store at {sa.engine.make_url(url).render_as_string()} "
                                 f"cannot be opened: {err.orig}") from None

    @property
    def where(self) -> str:
        """The store's URL with any password hidden."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # -- campaigns -------------------------------------------------------------------
    def campaign(self, request_id: str) -> CampaignRecord | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(CAMPAIGNS).where(CAMPAIGNS.c.request_id == request_id)).first()
        return CampaignRecord(row.request_id, row.client, row.project_key, row.ls_project_id) if row else None

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
        with self.engine.begin() as c:
            self._ensure_campaign(c, request_id, client)
        found = self.campaign(request_id)
        assert found is not None
        return found

    def bind_campaign(self, *, request_id: str, client: str, spec_json: str,
                      change_reason: str | None = None) -> CampaignRecord:
        """Tie the request id to its client and its spec, in one transaction.

        The first run records both. Later runs must come from the same client (compared as
        ``client_key``) with the same spec; a different spec is refused unless
        ``change_reason`` says the change is intended, and then it is recorded."""
        digest = hashlib.sha256(spec_json.encode()).hexdigest()
        with self.engine.begin() as c:
            row = self._ensure_campaign(c, request_id, client)
            if row is not None and client_key(row.client) != client_key(client):
                raise SpecError(
                    f"request_id {request_id!r} is a campaign of client {row.client!r}, not "
                    f"{client!r}: a request id names one campaign of one client. Give this "
                    f"request a request_id of its own.")
            last = c.execute(sa.select(CAMPAIGN_SPECS).where(
                CAMPAIGN_SPECS.c.request_id == request_id)
                .order_by(CAMPAIGN_SPECS.c.seq.desc()).limit(1)).first()
            if last is not None and last.spec_sha256 != digest:
                changed = _changed_fields(json.loads(last.spec_json), json.loads(spec_json))
                if not change_reason:
                    raise SpecError(
                        f"campaign {request_id!r} was started with a different spec; changed: "
                        f"{', '.join(changed[:12])}{' …' if len(changed) > 12 else ''}. Nothing "
                        f"was changed. If the change is intended, run again with "
                        f"--spec-change \"why\": it is then recorded with the campaign. Otherwise "
                        f"give a new request a request_id of its own.")
            if last is None or last.spec_sha256 != digest:
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
                     "recorded_at": r.recorded_at} for r in c.execute(
                sa.select(CAMPAIGN_SPECS).where(CAMPAIGN_SPECS.c.request_id == request_id)
                .order_by(CAMPAIGN_SPECS.c.seq))]

    def set_project(self, *, request_id: str, project_id: int) -> None:
        with self.engine.begin() as c:
            c.execute(CAMPAIGNS.update().where(CAMPAIGNS.c.request_id == request_id)
                      .values(ls_project_id=project_id))

    # -- experts ---------------------------------------------------------------------
    def experts(self, expert_ids: list[str] | None = None) -> dict[str, ExpertRecord]:
        q = sa.select(EXPERTS)
        if expert_ids is not None:
            q = q.where(EXPERTS.c.expert_id.in_(expert_ids))
        with self.engine.connect() as c:
            return {r.expert_id: ExpertRecord(**r._mapping) for r in c.execute(q)}

    def save_expert(self, rec: ExpertRecord) -> None:
        with self.engine.begin() as c:
            c.execute(EXPERTS.delete().where(EXPERTS.c.expert_id == rec.expert_id))
            c.execute(EXPERTS.insert().values(**rec.__dict__))

    def set_password(self, *, expert_id: str, password_enc: str | None,
                     keep_issued: bool = False) -> None:
        """Record a newly issued (encrypted) password, or forget it once it is in use."""
        values: dict = {"password_enc": password_enc}
        if not keep_issued:
            values["password_issued_at"] = _now() if password_enc else None
        with self.engine.begin() as c:
            c.execute(EXPERTS.update().where(EXPERTS.c.expert_id == expert_id).values(**values))

    # -- rosters ---------------------------------------------------------------------
    def set_roster(self, *, request_id: str, expert_ids: list[str]) -> None:
        with self.engine.begin() as c:
            have = {r.expert_id for r in c.execute(
                sa.select(ROSTERS.c.expert_id).where(ROSTERS.c.request_id == request_id))}
            new = [{"request_id": request_id, "expert_id": e} for e in expert_ids if e not in have]
            if new:
                c.execute(ROSTERS.insert(), new)

    def roster(self, request_id: str) -> list[str]:
        with self.engine.connect() as c:
            return sorted(r.expert_id for r in c.execute(
                sa.select(ROSTERS.c.expert_id).where(ROSTERS.c.request_id == request_id)))
