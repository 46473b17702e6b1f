"""The talent pool store: vetted experts, read from CSV/JSONL/Parquet (local or S3).

Columns: expert_id, name, email, domains, languages (``;``-separated in CSV),
vetting_score (0-1), hourly_rate_usd, weekly_hours. Contact details (name, email)
stay here: nothing downstream of sourcing receives them except Label Studio, which
needs an email to let the expert log in.
"""
from __future__ import annotations

import pandas as pd

from annoflow.errors import DataError
from connectors.datafiles import ROW, read_table
from connectors.s3 import S3Store

REQUIRED = ("expert_id", "name", "email", "domains", "languages", "vetting_score",
            "hourly_rate_usd", "weekly_hours")


def _as_list(value: object) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if hasattr(value, "tolist"):
        return _as_list(value.tolist())
    return [v.strip() for v in str(value or "").split(";") if v.strip()]


def load_talent_pool(uri: str, *, store: S3Store | None = None) -> pd.DataFrame:
    """Read and type-check the pool; errors name the file, row and field."""
    df = read_table(uri, store=store)
    if missing := [c for c in REQUIRED if c not in df.columns]:
        raise DataError(f"{uri}: talent pool is missing column(s) {missing}; "
                        f"expected {list(REQUIRED)}")
    out = pd.DataFrame({"expert_id": df["expert_id"].astype(str).str.strip(),
                        "name": df["name"].astype(str), "email": df["email"].astype(str)})
    out["domains"] = df["domains"].map(_as_list)
    out["languages"] = df["languages"].map(_as_list)
    for col, lo, hi in (("vetting_score", 0, 1), ("hourly_rate_usd", 0, 10_000),
                        ("weekly_hours", 0, 168)):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values < lo) | (values > hi)
        if bad.any():
            i = int(bad.idxmax())
            raise DataError(f"{uri}: row {df[ROW].iat[i]}, field {col}: expected a number "
                            f"between {lo} and {hi}, got {df[col].iat[i]!r}")
        out[col] = values.astype("float64")
    empty = out["expert_id"].eq("")
    if empty.any():
        raise DataError(f"{uri}: row {df[ROW][empty].iat[0]}, field expert_id: empty")
    dup = out["expert_id"].duplicated()
    if dup.any():
        raise DataError(f"{uri}: row {df[ROW][dup].iat[0]}, field expert_id: duplicate id "
                        f"{out['expert_id'][dup].iat[0]!r}")
    return out
