"""annoflow's own transactional state: what it made in other systems, by id.

SQLite is the embedded default (``ANNOFLOW_STATE_URL``); a PostgreSQL URL works the same
(SQLAlchemy Core). S3 stays the home of immutable data; this store holds the small,
mutable facts several processes share:

* ``campaigns``: request id -> client, the Label Studio project's id (and the key written
  into it at creation, so a crash between creating and recording finds it again);
* ``experts``: talent-pool id -> Label Studio user id, login alias and display handle, and
  the expert's outstanding one-time password, encrypted (never in clear);
* ``rosters``: which experts work on which campaign.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from annoflow.errors import ConnectorError

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

    # -- campaigns -------------------------------------------------------------------
    def campaign(self, request_id: str) -> CampaignRecord | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(CAMPAIGNS).where(CAMPAIGNS.c.request_id == request_id)).first()
        return CampaignRecord(row.request_id, row.client, row.project_key, row.ls_project_id) if row else None

    def begin_campaign(self, *, request_id: str, client: str) -> CampaignRecord:
        """The campaign's record, created on first use with a fresh project key."""
        with self.engine.begin() as c:
            row = c.execute(sa.select(CAMPAIGNS).where(CAMPAIGNS.c.request_id == request_id)).first()
            if row is None:
                c.execute(CAMPAIGNS.insert().values(request_id=request_id, client=client,
                                                    project_key=secrets.token_hex(16),
                                                    ls_project_id=None, created_at=_now()))
        found = self.campaign(request_id)
        assert found is not None
        return found

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
