"""Realistic talent pools of any size, for tests and benchmarks (``annoflow pool generate``).

An expert has one to three domains (some domains far more common than others), a few
subspecialties, English and often another language, a time zone that goes with the
language, a rate that depends on the domain, 5 to 40 weekly hours and a vetting score per
domain. A small share is banned, and a few are excluded by a client. Deterministic for a
seed. The rows are in the pool file format of ``annoflow.pool``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: domain -> (share of experts, typical hourly rate USD, subspecialties)
DOMAINS = {
    "software-engineering": (0.22, 90, ["backend", "frontend", "security", "ml", "databases"]),
    "medicine": (0.14, 140, ["cardiology", "oncology", "pediatrics", "radiology", "neurology"]),
    "law": (0.10, 150, ["contracts", "ip", "tax", "criminal", "employment"]),
    "finance": (0.10, 110, ["accounting", "trading", "risk", "banking"]),
    "music": (0.05, 60, ["theory", "composition", "performance", "production"]),
    "mathematics": (0.08, 80, ["algebra", "analysis", "statistics", "geometry"]),
    "physics": (0.06, 85, ["quantum", "optics", "astrophysics", "condensed-matter"]),
    "chemistry": (0.06, 85, ["organic", "analytical", "biochemistry"]),
    "biology": (0.06, 80, ["genetics", "ecology", "microbiology"]),
    "education": (0.05, 50, ["k-12", "higher-ed", "curriculum"]),
    "linguistics": (0.04, 60, ["syntax", "translation", "phonetics"]),
    "history": (0.04, 55, ["ancient", "modern", "economic"]),
}
#: language -> (share of experts speaking it besides English, time zones)
LANGUAGES = {
    "de": (0.10, ["Europe/Berlin", "Europe/Vienna", "Europe/Zurich"]),
    "fr": (0.10, ["Europe/Paris", "America/Montreal"]),
    "es": (0.12, ["Europe/Madrid", "America/Mexico_City", "America/Bogota"]),
    "pt-BR": (0.05, ["America/Sao_Paulo"]),
    "ja": (0.04, ["Asia/Tokyo"]),
    "hi": (0.05, ["Asia/Kolkata"]),
    "zh": (0.05, ["Asia/Shanghai"]),
}
EN_ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London",
            "Australia/Sydney", "UTC"]
FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Donald", "Barbara", "Edsger", "Frances",
         "John", "Katherine", "Tim", "Radia", "Ken", "Dennis", "Shafi", "Leslie", "Hedy",
         "Mary", "Niklaus", "Guido", "Yukihiro", "Anita", "Sophie", "Ravi", "Mei", "Omar"]
LAST = ["Lovelace", "Turing", "Hopper", "Nakamura", "Hamilton", "Knuth", "Liskov", "Dijkstra",
        "Allen", "McCarthy", "Johnson", "Berners", "Perlman", "Thompson", "Ritchie", "Novak",
        "Moreau", "Svensson", "Okafor", "Silva", "Kowalski", "Haddad", "Tanaka", "Rossi"]


def generate_pool(n: int, *, seed: int = 0, id_prefix: str = "gx",
                  banned_share: float = 0.005, excluded_share: float = 0.002,
                  excluding_client: str = "acme-labs") -> pd.DataFrame:
    """``n`` experts as a pool file's rows (list columns ``;``-separated)."""
    rng = np.random.default_rng(seed)
    names = list(DOMAINS)
    share = np.array([DOMAINS[d][0] for d in names])
    share = share / share.sum()
    n_domains = rng.choice([1, 2, 3], size=n, p=[0.6, 0.3, 0.1])
    first_domain = rng.choice(len(names), size=n, p=share)
    others = rng.choice(len(names), size=(n, 2), p=share)
    ids = [f"{id_prefix}-{i:07d}" for i in range(n)]
    first = rng.choice(FIRST, size=n)
    last = rng.choice(LAST, size=n)
    langs = list(LANGUAGES)
    extra = rng.random((n, len(langs))) < np.array([LANGUAGES[lang][0] for lang in langs])
    zone_pick = rng.random(n)
    vet = np.clip(rng.beta(6, 2, size=(n, 3)), 0, 1).round(2)
    vet_day = rng.integers(0, 700, size=(n, 3))
    rate_noise = rng.lognormal(0, 0.25, size=n)
    hours = rng.choice([5, 10, 15, 20, 30, 40], size=n, p=[0.15, 0.25, 0.2, 0.2, 0.1, 0.1])
    banned = rng.random(n) < banned_share
    excluded = rng.random(n) < excluded_share
    sub_pick = rng.random((n, 3))
    today = pd.Timestamp("2026-11-01")
    rows = {k: [] for k in ("domains", "vetting", "subspecialties", "languages", "timezone",
                            "hourly_rate_usd")}
    for i in range(n):
        ds = [names[first_domain[i]]]
        for j in range(n_domains[i] - 1):
            d = names[others[i, j]]
            if d not in ds:
                ds.append(d)
        rows["domains"].append(";".join(ds))
        rows["vetting"].append(";".join(
            f"{d}:{vet[i, j]:.2f}:{(today - pd.Timedelta(days=int(vet_day[i, j]))).date()}"
            for j, d in enumerate(ds)))
        subs = []
        for j, d in enumerate(ds):
            options = DOMAINS[d][2]
            subs.append(f"{d}:{options[int(sub_pick[i, j] * len(options))]}")
        rows["subspecialties"].append(";".join(subs))
        spoken = [lang for lang, on in zip(langs, extra[i]) if on]
        rows["languages"].append(";".join(["en", *spoken]))
        zones = LANGUAGES[spoken[0]][1] if spoken else EN_ZONES
        rows["timezone"].append(zones[int(zone_pick[i] * len(zones))])
        rows["hourly_rate_usd"].append(round(DOMAINS[ds[0]][1] * rate_noise[i]))
    return pd.DataFrame({
        "expert_id": ids, "name": [f"{a} {b}" for a, b in zip(first, last)],
        "email": [f"{a.lower()}.{b.lower()}.{i}@experts.example.org"
                  for i, (a, b) in enumerate(zip(first, last))],
        "domains": rows["domains"], "languages": rows["languages"],
        "vetting": rows["vetting"], "subspecialties": rows["subspecialties"],
        "skills": "", "timezone": rows["timezone"],
        "hourly_rate_usd": np.clip(rows["hourly_rate_usd"], 15, 2000).astype(float),
        "weekly_hours": hours.astype(float),
        "banned": np.where(banned, "true", "false"),
        "ban_reason": np.where(banned, "conduct", ""),
        "excluded_clients": np.where(excluded, excluding_client, ""),
    })
