"""The talent pool in annoflow's transactional store (the tables of ``connectors.state``):
import pool files into it, show it, rank it for a request, and record what campaigns
measured of each expert.

Ranking happens in the database: the hard constraints and the score's named parts
(``annoflow.pool``) are one SQL query, so only the shortlist leaves the store, whatever
the pool's size. The same query runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Sequence

import pandas as pd
import sqlalchemy as sa

from annoflow.errors import DataError
from annoflow.pool import (FULL_WEEK, PARTS, PRIOR_STRENGTH, QUALITY_PRIOR, RATE_REF,
                           DomainRecord, ExpertProfile, MatchWeights, Problem, check_pool,
                           format_problems)
from connectors.datafiles import ROW, read_table
from connectors.state import (BOOKED_STATUSES, CAMPAIGNS, FINISHED_STAGES, POOL_CAMPAIGN_QUALITY, POOL_DOMAINS,
                              POOL_EXPERTS, POOL_QUALITY, ROSTERS, StateStore)

#: rows written per statement on import
BATCH = 5_000
#: the counts an expert's quality history keeps per domain
QUALITY_COUNTS = ("gold_judged", "gold_right", "agreement_judged", "agreement_sum", "reviews",
                  "reviews_accepted", "judgments")


@dataclass(frozen=True)
class ImportResult:
    rows: int
    added: int
    changed: int
    unchanged: int


@dataclass(frozen=True)
class MatchRequest:
    """What a request asks of its experts (from the spec's domain and ``workforce``)."""
    domain: str
    languages: Sequence[str]
    client: str
    min_vetting_score: float = 0.0
    subspecialties: Sequence[str] = ()
    weights: MatchWeights = field(default_factory=MatchWeights)
    #: a campaign whose own bookings do not count against the hours left (its resubmission)
    request_id: str | None = None
    #: skills every match must have (a campaign's reviewers: ``qc.review.skill``)
    skills: Sequence[str] = ()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _delimited(values: Sequence[str]) -> str:
    """";a;b;"" (matched with LIKE '%;a;%'); empty when there are none."""
    return ";" + ";".join(values) + ";" if values else ""


def _split(text: str) -> list[str]:
    return [v for v in (text or "").split(";") if v]


def _profile_rows(p: ExpertProfile, at: datetime) -> tuple[dict, list[dict]]:
    """The expert's row, and a row per domain with the copy matching reads."""
    langs, excl = _delimited(sorted(p.languages)), _delimited(sorted(p.excluded_clients))
    expert = {"expert_id": p.expert_id, "name": p.name, "email": p.email, "languages": langs,
              "excluded_clients": excl, "timezone": p.timezone,
              "skills_json": json.dumps(p.skills), "hourly_rate_usd": p.hourly_rate_usd,
              "weekly_hours": p.weekly_hours, "banned": p.banned, "ban_reason": p.ban_reason,
              "updated_at": at}
    domains = [{"domain": d.domain, "expert_id": p.expert_id,
                "subspecialties": _delimited(d.subspecialties), "vetting_score": d.vetting_score,
                "vetted_at": d.vetted_at, "languages": langs, "excluded_clients": excl,
                "banned": p.banned, "hourly_rate_usd": p.hourly_rate_usd,
                "weekly_hours": p.weekly_hours} for d in p.domains]
    return expert, domains


class PoolRegistry:
    """The talent pool of one state store."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.engine = state.engine

    # -- import --------------------------------------------------------------------------
    def import_file(self, uri: str, *, store: Any = None, today: date | None = None) -> ImportResult:
        """Read a pool file (CSV, JSONL or Parquet; local or s3://), check every row, and
        upsert the experts by id in one transaction. Any problem: DataError naming the
        file, row and field of each, and nothing changed."""
        df = read_table(uri, store=store)
        rows = df[ROW].tolist() if ROW in df.columns else None
        df = df.drop(columns=[ROW], errors="ignore")
        profiles, problems = check_pool(df, row_numbers=rows, today=today)
        if not problems:
            problems = self._conflicts(profiles, rows or list(range(1, len(df) + 1)))
        if problems:
            raise DataError(f"{len(problems)} problem(s) in the talent pool file; nothing was "
                            f"imported:\n" + format_problems(uri, problems))
        return self.upsert(profiles)

    def _conflicts(self, profiles: list[ExpertProfile], rows: list[int]) -> list[Problem]:
        """An email the store already has for another expert id."""
        by_email = {p.email.lower(): (p.expert_id, n) for p, n in zip(profiles, rows)}
        found = []
        with self.engine.connect() as c:
            emails = list(by_email)
            for start in range(0, len(emails), 500):
                chunk = emails[start:start + 500]
                for r in c.execute(sa.select(POOL_EXPERTS.c.expert_id, POOL_EXPERTS.c.email)
                                   .where(sa.func.lower(POOL_EXPERTS.c.email).in_(chunk))):
                    eid, n = by_email[r.email.lower()]
                    if r.expert_id != eid:
                        found.append(Problem(n, "email", f"already the email of expert "
                                                         f"{r.expert_id!r} in the pool"))
        return found

    def upsert(self, profiles: list[ExpertProfile]) -> ImportResult:
        """Write the profiles (by id): an expert's row, domains, languages and exclusions are
        replaced by the file's; their quality history stays. Idempotent."""
        at = _now()
        current = self._fingerprints([p.expert_id for p in profiles])
        fresh = [p for p in profiles if current.get(p.expert_id) != _fingerprint(p)]
        added = sum(p.expert_id not in current for p in fresh)
        with self.state._begin() as c:
            for start in range(0, len(fresh), BATCH):
                chunk = fresh[start:start + BATCH]
                known = [p.expert_id for p in chunk if p.expert_id in current]
                if known:  # replaced whole (their quality history stays)
                    for table in (POOL_DOMAINS, POOL_EXPERTS):
                        c.execute(table.delete().where(table.c.expert_id.in_(known)))
                rows = [_profile_rows(p, at) for p in chunk]
                c.execute(POOL_EXPERTS.insert(), [r[0] for r in rows])
                c.execute(POOL_DOMAINS.insert(), [d for r in rows for d in r[1]])
        return ImportResult(rows=len(profiles), added=added, changed=len(fresh) - added,
                            unchanged=len(profiles) - len(fresh))

    def _fingerprints(self, ids: list[str]) -> dict[str, str]:
        return {p.expert_id: _fingerprint(p) for p in self.profiles(ids)}

    # -- reading -------------------------------------------------------------------------
    def size(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(POOL_EXPERTS)).scalar())

    def first_ids(self, n: int) -> list[str]:
        with self.engine.connect() as c:
            return list(c.execute(sa.select(POOL_EXPERTS.c.expert_id)
                                  .order_by(POOL_EXPERTS.c.expert_id).limit(n)).scalars())

    def profiles(self, ids: list[str] | None = None) -> list[ExpertProfile]:
        """Profiles by id (all when ``ids`` is None), contact details included."""
        out: list[ExpertProfile] = []
        chunks = [None] if ids is None else [ids[i:i + 500] for i in range(0, len(ids), 500)]
        with self.engine.connect() as c:
            for chunk in chunks:
                def where(t: sa.Table) -> Any:
                    return sa.true() if chunk is None else t.c.expert_id.in_(chunk)
                domains: dict[str, list[DomainRecord]] = {}
                for r in c.execute(sa.select(POOL_DOMAINS).where(where(POOL_DOMAINS))
                                   .order_by(POOL_DOMAINS.c.expert_id, POOL_DOMAINS.c.domain)):
                    domains.setdefault(r.expert_id, []).append(DomainRecord(
                        domain=r.domain, subspecialties=_split(r.subspecialties),
                        vetting_score=r.vetting_score, vetted_at=r.vetted_at))
                for r in c.execute(sa.select(POOL_EXPERTS).where(where(POOL_EXPERTS))
                                   .order_by(POOL_EXPERTS.c.expert_id)):
                    out.append(ExpertProfile(
                        expert_id=r.expert_id, name=r.name, email=r.email,
                        domains=domains.get(r.expert_id, []), languages=_split(r.languages),
                        skills=json.loads(r.skills_json), timezone=r.timezone,
                        hourly_rate_usd=r.hourly_rate_usd, weekly_hours=r.weekly_hours,
                        banned=bool(r.banned), ban_reason=r.ban_reason,
                        excluded_clients=_split(r.excluded_clients)))
        return out

    def quality(self, expert_id: str) -> dict[str, dict]:
        """An expert's quality history, per domain."""
        with self.engine.connect() as c:
            return {r.domain: {k: v for k, v in r._mapping.items() if k not in ("expert_id", "domain")}
                    for r in c.execute(sa.select(POOL_QUALITY)
                                       .where(POOL_QUALITY.c.expert_id == expert_id))}

    # -- quality history ---------------------------------------------------------------
    def record_quality(self, domain: str, measured: pd.DataFrame, *, campaign: bool = True,
                       at: datetime | None = None) -> None:
        """Add counts to each expert's history in ``domain``: one row per expert
        (``expert_id``) with any of ``QUALITY_COUNTS``; ``campaign``: counts as one more
        campaign. (A campaign's own measures go through ``record_campaign``.)"""
        rows = [{"expert_id": r["expert_id"], "_new": campaign,
                 **{k: (float if k == "agreement_sum" else int)(r.get(k) or 0)
                    for k in QUALITY_COUNTS}} for r in measured.to_dict("records")]
        with self.state._begin() as c:
            self._add_quality(c, domain, rows, at or _now())

    @staticmethod
    def _add_quality(c: sa.Connection, domain: str, rows: list[dict], at: datetime) -> None:
        """Add each row's counts (and one campaign where ``_new``) to the history."""
        ids = [r["expert_id"] for r in rows]
        have = {r.expert_id: r for start in range(0, len(ids), 500) for r in c.execute(
            sa.select(POOL_QUALITY).where(POOL_QUALITY.c.domain == domain,
                                          POOL_QUALITY.c.expert_id.in_(ids[start:start + 500])))}
        inserts = []
        for r in rows:
            add = {k: r[k] for k in QUALITY_COUNTS}
            old = have.get(r["expert_id"])
            if old is None:
                inserts.append({"expert_id": r["expert_id"], "domain": domain,
                                "campaigns": int(r["_new"]), "last_active": at, **add})
            else:
                c.execute(POOL_QUALITY.update().where(
                    POOL_QUALITY.c.expert_id == r["expert_id"], POOL_QUALITY.c.domain == domain
                ).values(campaigns=old.campaigns + int(r["_new"]), last_active=at,
                         **{k: getattr(old, k) + v for k, v in add.items()}))
        if inserts:
            c.execute(POOL_QUALITY.insert(), inserts)

    @staticmethod
    def _recorded(c: sa.Connection, request_id: str, ids: list[str]) -> tuple[set[str], dict]:
        """Which of ``ids`` are in the pool, and what campaign ``request_id`` recorded so
        far (expert -> its row)."""
        known = {e for start in range(0, len(ids), 500) for e in c.execute(
            sa.select(POOL_EXPERTS.c.expert_id).where(
                POOL_EXPERTS.c.expert_id.in_(ids[start:start + 500]))).scalars()}
        before = {r.expert_id: r for r in c.execute(
            sa.select(POOL_CAMPAIGN_QUALITY).where(
                POOL_CAMPAIGN_QUALITY.c.request_id == request_id))}
        return known, before

    def record_campaign(self, request_id: str, domain: str, measured: pd.DataFrame,
                        outcomes: dict[str, tuple[str, str | None]] | None = None) -> int:
        """What campaign ``request_id`` measured of its experts so far (``measured``: the
        columns of ``record_quality``, e.g. ``qc.pipeline.expert_quality``), into their
        history in ``domain``; ``outcomes``: expert -> (status, why) on the campaign. The
        campaign's latest measure replaces its earlier one: recorded every tick and at the
        end, each judgment counts once, and the campaign once. Returns how many experts'
        histories changed. Experts not in the pool are skipped."""
        at = _now()
        outcomes = outcomes or {}
        rows = measured.to_dict("records")
        ids = [str(r["expert_id"]) for r in rows]
        with self.state._begin() as c:
            known, before = self._recorded(c, request_id, ids)
            deltas, changed = [], 0
            for r in rows:
                e = str(r["expert_id"])
                if e not in known:
                    continue
                now = {k: (float if k == "agreement_sum" else int)(r.get(k) or 0)
                       for k in QUALITY_COUNTS}
                status, why = outcomes.get(e, ("active", None))
                old = before.get(e)
                delta = {k: now[k] - (getattr(old, k) if old is not None else 0)
                         for k in QUALITY_COUNTS}
                values = {**now, "domain": domain, "outcome": status, "reason": why,
                          "recorded_at": at}
                if old is None:
                    c.execute(POOL_CAMPAIGN_QUALITY.insert().values(
                        request_id=request_id, expert_id=e, **values))
                elif any(delta.values()) or (old.outcome, old.reason) != (status, why):
                    c.execute(POOL_CAMPAIGN_QUALITY.update().where(
                        POOL_CAMPAIGN_QUALITY.c.request_id == request_id,
                        POOL_CAMPAIGN_QUALITY.c.expert_id == e).values(**values))
                if old is None or any(delta.values()):
                    changed += 1
                    deltas.append({"expert_id": e, **delta, "_new": old is None})
            self._add_quality(c, domain, deltas, at)
        return changed

    def record_qualification(self, request_id: str, domain: str,
                             results: dict[str, tuple[bool, int, int, str]]) -> int:
        """Campaign ``request_id``'s qualification round: expert -> (passed, right, judged,
        why). Each expert's result is recorded once (outcome ``qualified`` or
        ``qualification_failed`` with the score and why), and its answers go into their
        history in ``domain`` as gold judged and right. Returns how many were recorded now;
        experts not in the pool are skipped."""
        at, ids = _now(), list(results)
        with self.state._begin() as c:
            known, before = self._recorded(c, request_id, ids)
            deltas = []
            for e, (passed, right, judged, why) in results.items():
                old = before.get(e)
                if e not in known or (old is not None and old.qualified is not None):
                    continue
                values = {"outcome": "qualified" if passed else "qualification_failed",
                          "reason": why, "qualified": passed, "recorded_at": at,
                          "qualification_score": right / judged if judged else 0.0}
                if old is None:
                    c.execute(POOL_CAMPAIGN_QUALITY.insert().values(
                        request_id=request_id, expert_id=e, domain=domain,
                        **{k: 0 for k in QUALITY_COUNTS}, **values))
                else:
                    c.execute(POOL_CAMPAIGN_QUALITY.update().where(
                        POOL_CAMPAIGN_QUALITY.c.request_id == request_id,
                        POOL_CAMPAIGN_QUALITY.c.expert_id == e).values(**values))
                deltas.append({"expert_id": e, **{k: 0 for k in QUALITY_COUNTS},
                               "gold_judged": judged, "gold_right": right, "_new": old is None})
            self._add_quality(c, domain, deltas, at)
        return len(deltas)

    def qualification_record(self, domain: str) -> tuple[int, int]:
        """How many qualification rounds in ``domain`` were passed and failed, in all."""
        t = POOL_CAMPAIGN_QUALITY
        with self.engine.connect() as c:
            rows = dict(c.execute(sa.select(t.c.qualified, sa.func.count()).where(
                t.c.domain == domain, t.c.qualified.is_not(None)).group_by(t.c.qualified)).all())
        return int(rows.get(True, 0)), int(rows.get(False, 0))

    def campaign_quality(self, request_id: str) -> pd.DataFrame:
        """What was recorded of campaign ``request_id``'s experts."""
        with self.engine.connect() as c:
            rows = c.execute(sa.select(POOL_CAMPAIGN_QUALITY).where(
                POOL_CAMPAIGN_QUALITY.c.request_id == request_id)
                .order_by(POOL_CAMPAIGN_QUALITY.c.expert_id)).all()
        return pd.DataFrame([r._asdict() for r in rows])

    # -- matching ------------------------------------------------------------------------
    def rank(self, req: MatchRequest, *, limit: int | None = None) -> tuple[pd.DataFrame, int]:
        """The eligible experts for ``req``, best first (at most ``limit``), each with their
        score and its named parts, and how many are eligible in all.

        Hard constraints: the domain, every requested language, a vetting score for the
        domain of at least ``min_vetting_score``, weekly hours left after other active
        campaigns' bookings, not banned, not excluded by this client. Score: the weighted
        mean of the parts (``annoflow.pool``), ties by expert id."""
        d, q = POOL_DOMAINS.alias("d"), POOL_QUALITY.alias("q")
        booked = (sa.select(ROSTERS.c.expert_id, sa.func.sum(ROSTERS.c.booked_hours).label("hours"))
                  .join(CAMPAIGNS, CAMPAIGNS.c.request_id == ROSTERS.c.request_id)
                  .where(ROSTERS.c.status.in_(BOOKED_STATUSES),
                         CAMPAIGNS.c.stage.not_in(FINISHED_STAGES),
                         ROSTERS.c.request_id != (req.request_id or ""))
                  .group_by(ROSTERS.c.expert_id).subquery("b"))
        left = d.c.weekly_hours - sa.func.coalesce(booked.c.hours, 0.0)
        w = req.weights
        subs = list(req.subspecialties)
        fit = (sum((sa.case((d.c.subspecialties.like(f"%;{s};%"), 1.0), else_=0.0) for s in subs),
                   sa.literal(0.0)) / len(subs)) if subs else sa.literal(1.0)
        observed = (sa.func.coalesce(q.c.gold_right, 0) + sa.func.coalesce(q.c.agreement_sum, 0.0)
                    + sa.func.coalesce(q.c.reviews_accepted, 0))
        seen = (sa.func.coalesce(q.c.gold_judged, 0) + sa.func.coalesce(q.c.agreement_judged, 0)
                + sa.func.coalesce(q.c.reviews, 0))
        quality = (observed + PRIOR_STRENGTH * QUALITY_PRIOR) / (seen + PRIOR_STRENGTH)
        vetting = sa.func.coalesce(d.c.vetting_score, 0.0)
        cost = RATE_REF / (RATE_REF + d.c.hourly_rate_usd)
        avail = sa.case((left >= FULL_WEEK, 1.0), else_=left / FULL_WEEK)
        parts = {"domain_fit": fit, "quality": quality, "vetting": vetting, "cost": cost,
                 "availability": avail}
        score = sum((getattr(w, k) * parts[k] for k in PARTS), sa.literal(0.0)) / (w.total() or 1.0)
        where = [d.c.domain == req.domain, vetting >= req.min_vetting_score,
                 d.c.banned == sa.false(), left > 0,
                 d.c.excluded_clients.not_like(f"%;{req.client};%"),
                 *[d.c.languages.like(f"%;{lang};%") for lang in req.languages]]
        with_booked = d.outerjoin(booked, booked.c.expert_id == d.c.expert_id)
        if req.skills:  # (skills are the expert's, whatever the domain)
            e = POOL_EXPERTS.alias("e")
            with_booked = with_booked.join(e, e.c.expert_id == d.c.expert_id)
            where += [e.c.skills_json.contains(json.dumps(s), autoescape=True) for s in req.skills]
        query = (sa.select(d.c.expert_id, score.label("score"),
                           *[v.label(k) for k, v in parts.items()],
                           d.c.hourly_rate_usd, left.label("weekly_hours"),
                           d.c.weekly_hours.label("pool_weekly_hours"),
                           vetting.label("vetting_score"),
                           sa.func.coalesce(q.c.judgments, 0).label("judgments"))
                 .select_from(with_booked.outerjoin(q, sa.and_(q.c.expert_id == d.c.expert_id,
                                                               q.c.domain == d.c.domain)))
                 .where(*where).order_by(sa.desc("score"), d.c.expert_id))
        if limit is not None:
            query = query.limit(limit)
        count = sa.select(sa.func.count()).select_from(with_booked).where(*where)
        with self.engine.connect() as c:
            rows = c.execute(query).all()
            eligible = int(c.execute(count).scalar()) if limit is not None else len(rows)
        columns = ["expert_id", "score", *PARTS, "hourly_rate_usd", "weekly_hours",
                   "pool_weekly_hours", "vetting_score", "judgments"]
        df = pd.DataFrame(rows, columns=columns)
        df.insert(1, "rank", range(1, len(df) + 1))
        return df, eligible


def _fingerprint(p: ExpertProfile) -> str:
    return p.model_copy(update={"languages": sorted(p.languages),
                                "excluded_clients": sorted(p.excluded_clients),
                                "domains": sorted(p.domains, key=lambda d: d.domain)}
                        ).model_dump_json()
