"""The talent pool's records and rules (pure): what an expert's profile holds, how a pool
file's rows are checked, and how an expert is scored for a request.

A pool file (CSV, JSONL or Parquet) has one row per expert:

=================  =========  ==========================================================
column             required   what
=================  =========  ==========================================================
expert_id          yes        letters, digits, ``.``, ``_``, ``-`` (at most 100)
name, email        yes        contact details: they never leave the pool
domains            yes        ``;``-separated lowercase slugs (``medicine;law``)
languages          yes        ``;``-separated codes (``en;pt-BR``)
hourly_rate_usd    yes        0 to 10,000
weekly_hours       yes        0 to 168
vetting_score      no         0 to 1, for every domain the ``vetting`` column leaves out
vetting            no         per domain: ``medicine:0.81:2026-05-01;law:0.7``
subspecialties     no         ``medicine:cardiology;medicine:oncology``
skills             no         ``;``-separated
timezone           no         an IANA name (``Europe/Berlin``); UTC by default
banned             no         true/false (``ban_reason`` says why)
excluded_clients   no         ``;``-separated client ids who do not want this expert
=================  =========  ==========================================================

In JSONL and Parquet a list column may hold a real list, and ``vetting`` a mapping of
domain to score. Every problem is reported with its file, row and field; a file with any
problem changes nothing (``connectors.pool_registry``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable
from zoneinfo import ZoneInfo, available_timezones

import pandas as pd
from pydantic import BaseModel, Field, model_validator

REQUIRED = ("expert_id", "name", "email", "domains", "languages", "hourly_rate_usd",
            "weekly_hours")
OPTIONAL = ("vetting_score", "vetting", "subspecialties", "skills", "timezone", "banned",
            "ban_reason", "excluded_clients")
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2}|-[A-Z][a-z]{3})?$")
EMAIL = re.compile(r"^[^@\s;,<>\"]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
CLIENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TEXT = 200
TRUE, FALSE = {"true", "yes", "1", "y", "t"}, {"false", "no", "0", "n", "f", ""}

#: the quality prior an expert's history is shrunk toward, and its weight in observations:
#: an expert with few judgments scores near the prior, one with a long record near it
QUALITY_PRIOR = 0.75
PRIOR_STRENGTH = 20.0
#: the hourly rate that scores 0.5 on cost (cost = RATE_REF / (RATE_REF + rate))
RATE_REF = 100.0
#: weekly hours that score 1 on availability
FULL_WEEK = 40.0


class MatchWeights(BaseModel):
    """How much each named part counts in an expert's score for a request (``workforce``)."""
    model_config = {"extra": "forbid", "frozen": True}
    domain_fit: float = Field(1.0, ge=0)
    quality: float = Field(3.0, ge=0)
    vetting: float = Field(2.0, ge=0)
    cost: float = Field(1.0, ge=0)
    availability: float = Field(1.0, ge=0)

    def total(self) -> float:
        return self.domain_fit + self.quality + self.vetting + self.cost + self.availability

    @model_validator(mode="after")
    def _some_weight(self) -> "MatchWeights":
        if self.total() <= 0:
            raise ValueError("at least one weight must be above 0")
        return self


PARTS = ("domain_fit", "quality", "vetting", "cost", "availability")


class DomainRecord(BaseModel):
    domain: str
    subspecialties: list[str] = []
    vetting_score: float | None = None
    vetted_at: date | None = None


class ExpertProfile(BaseModel):
    """One expert in the pool (contact details included: they stay in the pool)."""
    expert_id: str
    name: str
    email: str
    domains: list[DomainRecord]
    languages: list[str]
    skills: list[str] = []
    timezone: str = "UTC"
    hourly_rate_usd: float
    weekly_hours: float
    banned: bool = False
    ban_reason: str | None = None
    excluded_clients: list[str] = []


@dataclass(frozen=True)
class Problem:
    row: int | None     # the file's row number (1 = the first data row), None: the file
    field: str
    problem: str


def as_list(value: Any) -> list[str]:
    """A list cell: a real list, or ``;``-separated text."""
    if value is None or (isinstance(value, float) and value != value):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if hasattr(value, "tolist"):
        return as_list(value.tolist())
    return [v.strip() for v in str(value).split(";") if v.strip()]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def _number(value: Any, lo: float, hi: float, field: str, problems: list[str]) -> float | None:
    try:
        x = float(_text(value)) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        problems.append(f"{field}|expected a number between {lo:g} and {hi:g}, got {value!r}")
        return None
    if not (lo <= x <= hi) or x != x:
        problems.append(f"{field}|expected a number between {lo:g} and {hi:g}, got {value!r}")
        return None
    return x


_ZONES: set[str] | None = None


def _zone_ok(name: str) -> bool:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    if name in _ZONES:
        return True
    try:
        ZoneInfo(name)
        return True
    except (ValueError, KeyError, OSError):
        return False


def _vetting(value: Any, domains: list[str], today: date, problems: list[str]
             ) -> dict[str, tuple[float, date | None]]:
    """``domain:score[:YYYY-MM-DD];…`` (or a mapping domain -> score) -> domain -> (score, date)."""
    out: dict[str, tuple[float, date | None]] = {}
    if isinstance(value, dict):
        entries = [f"{k}:{v}" for k, v in value.items()]
    else:
        entries = as_list(value)
    for entry in entries:
        parts = entry.split(":")
        if len(parts) not in (2, 3) or not parts[0]:
            problems.append(f"vetting|expected domain:score or domain:score:YYYY-MM-DD, "
                            f"got {entry!r}")
            continue
        domain = parts[0].strip()
        if domain not in domains:
            problems.append(f"vetting|a vetting result for {domain!r}, which is not one of the "
                            f"expert's domains {domains}")
            continue
        score = _number(parts[1].strip(), 0, 1, "vetting", problems)
        when = None
        if len(parts) == 3:
            try:
                when = date.fromisoformat(parts[2].strip())
            except ValueError:
                problems.append(f"vetting|expected a date YYYY-MM-DD for {domain!r}, got "
                                f"{parts[2]!r}")
                continue
            if when > today:
                problems.append(f"vetting|the vetting date {when} of {domain!r} is in the future")
                continue
        if score is not None:
            out[domain] = (score, when)
    return out


def check_row(row: dict[str, Any], *, today: date) -> tuple[ExpertProfile | None, list[str]]:
    """One row -> its profile, or the problems found (``field|what was expected``)."""
    problems: list[str] = []
    expert_id = _text(row.get("expert_id"))
    if not expert_id:
        problems.append("expert_id|empty; every expert needs an id")
    elif not ID.match(expert_id):
        problems.append(f"expert_id|expected letters, digits, '.', '_' or '-' (at most 100), "
                        f"got {expert_id[:120]!r}")
    for field in ("name", "email", "ban_reason"):
        text = _text(row.get(field))
        if len(text) > MAX_TEXT or CONTROL.search(text):
            problems.append(f"{field}|expected text of at most {MAX_TEXT} characters without "
                            f"control characters")
    name, email = _text(row.get("name")), _text(row.get("email"))
    if not name:
        problems.append("name|empty; the expert's name is needed to contact them")
    if not EMAIL.match(email):
        problems.append(f"email|expected an email address, got {email[:80]!r}")
    domains = as_list(row.get("domains"))
    if not domains:
        problems.append("domains|empty; expected at least one domain (medicine;law)")
    for d in domains:
        if not SLUG.match(d):
            problems.append(f"domains|expected lowercase slugs (letters, digits, '-'), got {d!r}")
    if len(set(domains)) != len(domains):
        problems.append(f"domains|a domain is listed twice: {domains}")
    languages = as_list(row.get("languages"))
    if not languages:
        problems.append("languages|empty; expected at least one language code (en)")
    for lang in languages:
        if not LANGUAGE.match(lang):
            problems.append(f"languages|expected a language code such as en or pt-BR, got "
                            f"{lang!r}")
    rate = _number(row.get("hourly_rate_usd"), 0, 10_000, "hourly_rate_usd", problems)
    hours = _number(row.get("weekly_hours"), 0, 168, "weekly_hours", problems)
    default_score = None
    if _text(row.get("vetting_score")):
        default_score = _number(row.get("vetting_score"), 0, 1, "vetting_score", problems)
    vetted = _vetting(row.get("vetting"), domains, today, problems)
    subs: dict[str, list[str]] = {}
    for entry in as_list(row.get("subspecialties")):
        domain, _, sub = entry.partition(":")
        if not sub or domain not in domains or not SLUG.match(sub.strip()):
            problems.append(f"subspecialties|expected domain:subspecialty for one of the "
                            f"expert's domains {domains} (lowercase slugs), got {entry!r}")
            continue
        subs.setdefault(domain, []).append(sub.strip())
    zone = _text(row.get("timezone")) or "UTC"
    if not _zone_ok(zone):
        problems.append(f"timezone|expected an IANA time zone such as Europe/Berlin, got {zone!r}")
    banned_text = _text(row.get("banned")).lower()
    if banned_text not in TRUE | FALSE:
        problems.append(f"banned|expected true or false, got {row.get('banned')!r}")
    clients = as_list(row.get("excluded_clients"))
    for c in clients:
        if not CLIENT.match(c):
            problems.append(f"excluded_clients|expected client ids, got {c!r}")
    skills = as_list(row.get("skills"))
    if any(len(s) > 100 or CONTROL.search(s) for s in skills):
        problems.append("skills|expected short names (at most 100 characters each)")
    if problems:
        return None, problems
    # (every field checked above: built without validating it a second time)
    records = [DomainRecord.model_construct(
        domain=d, subspecialties=subs.get(d, []),
        vetting_score=vetted.get(d, (default_score, None))[0],
        vetted_at=vetted.get(d, (None, None))[1]) for d in domains]
    return ExpertProfile.model_construct(
        expert_id=expert_id, name=name, email=email, domains=records, languages=languages,
        skills=skills, timezone=zone, hourly_rate_usd=rate, weekly_hours=hours,
        banned=banned_text in TRUE, ban_reason=_text(row.get("ban_reason")) or None,
        excluded_clients=clients), []


def check_pool(df: pd.DataFrame, *, row_numbers: Iterable[int] | None = None,
               today: date | None = None) -> tuple[list[ExpertProfile], list[Problem]]:
    """Every row of a pool file -> the profiles, and every problem (the file's own first:
    missing or unknown columns, no rows). Ids and emails must be unique in the file."""
    today = today or date.today()
    columns = [str(c) for c in df.columns]
    file_problems = []
    if missing := [c for c in REQUIRED if c not in columns]:
        file_problems.append(Problem(None, ",".join(missing),
                                     f"missing column(s) {missing}; required: {list(REQUIRED)}"))
    if unknown := [c for c in columns if c not in REQUIRED + OPTIONAL]:
        file_problems.append(Problem(None, ",".join(unknown),
                                     f"unknown column(s) {unknown}; expected some of "
                                     f"{list(REQUIRED + OPTIONAL)}"))
    if not len(df):
        file_problems.append(Problem(None, "", "no rows: expected one row per expert"))
    if file_problems:
        return [], file_problems
    numbers = list(row_numbers) if row_numbers is not None else list(range(1, len(df) + 1))
    profiles: list[ExpertProfile] = []
    problems: list[Problem] = []
    ids: dict[str, int] = {}
    emails: dict[str, int] = {}
    for n, row in zip(numbers, df.to_dict("records")):
        profile, found = check_row(row, today=today)
        problems += [Problem(n, *p.split("|", 1)) for p in found]
        if profile is None:
            continue
        if profile.expert_id in ids:
            problems.append(Problem(n, "expert_id", f"duplicate id {profile.expert_id!r} "
                                                    f"(also on row {ids[profile.expert_id]})"))
            continue
        key = profile.email.lower()
        if key in emails:
            problems.append(Problem(n, "email", f"email already given for another expert on "
                                                f"row {emails[key]}"))
            continue
        ids[profile.expert_id], emails[key] = n, n
        profiles.append(profile)
    return profiles, problems


def format_problems(uri: str, problems: list[Problem], limit: int = 20) -> str:
    shown = [f"  {uri}: " + (f"row {p.row}, " if p.row is not None else "")
             + (f"field {p.field}: " if p.field else "") + p.problem for p in problems[:limit]]
    more = len(problems) - limit
    return "\n".join(shown) + (f"\n  … and {more} more" if more > 0 else "")
