"""Reading tabular data files (JSONL, CSV, Parquet) from a local path or ``s3://``.

Every reader returns a DataFrame with one row per record plus ``_row``: the 1-based
line (JSONL), data row (CSV, header excluded) or row (Parquet) it came from, so
problems can be reported by file and row.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from annoflow.errors import DataError
from connectors.s3 import S3Store

ROW = "_row"
#: how deep a row's values may nest (a gold answer is an object of scores: 2)
MAX_DEPTH = 16


def _depth(value: object) -> int:
    """Nesting depth of a JSON value, without recursion (stops past MAX_DEPTH)."""
    stack, deepest = [(value, 1)], 0
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > MAX_DEPTH:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def read_bytes(uri: str, *, store: S3Store | None = None) -> bytes:
    if uri.startswith("s3://"):
        if store is None:
            raise DataError(f"{uri}: an s3:// file needs S3 settings")
        data = store.get_bytes(uri=uri)
        if data is None:
            raise DataError(f"{uri}: no such object")
        return data
    path = Path(uri)
    if not path.is_file():
        raise DataError(f"{uri}: no such file")
    return path.read_bytes()


def _decode_lines(uri: str, data: bytes) -> list[str]:
    lines = data.split(b"\n")
    out = []
    for i, raw in enumerate(lines, start=1):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise DataError(f"{uri}: line {i} is not valid UTF-8 (byte {err.start}); "
                            f"save the file as UTF-8") from None
    return out


def _read_jsonl(uri: str, data: bytes) -> pd.DataFrame:
    records, rows = [], []
    for i, line in enumerate(_decode_lines(uri, data), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{uri}: line {i} is not valid JSON ({err.msg} at column "
                            f"{err.colno})") from None
        except RecursionError:
            raise DataError(f"{uri}: line {i} nests JSON deeper than this reader goes; a row "
                            f"nests at most {MAX_DEPTH} levels") from None
        if not isinstance(rec, dict):
            raise DataError(f"{uri}: line {i} is a JSON {type(rec).__name__}, expected an object")
        for field, value in rec.items():
            if _depth(value) > MAX_DEPTH:
                raise DataError(f"{uri}: line {i}, field {str(field)[:60]!r}: nested more than "
                                f"{MAX_DEPTH} levels deep; a row nests at most {MAX_DEPTH}")
        records.append(rec)
        rows.append(i)
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    df[ROW] = rows
    return df


def _read_csv(uri: str, data: bytes) -> pd.DataFrame:
    _decode_lines(uri, data)  # precise line of any non-UTF-8 byte
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{uri}: not a readable CSV file ({err})") from None
    df[ROW] = range(1, len(df) + 1)
    return df


def _read_parquet(uri: str, data: bytes) -> pd.DataFrame:
    try:
        df = pq.read_table(io.BytesIO(data)).to_pandas()
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{uri}: not a readable Parquet file ({err})") from None
    df[ROW] = range(1, len(df) + 1)
    return df


def read_table(uri: str, *, store: S3Store | None = None) -> pd.DataFrame:
    """Read a JSONL, CSV or Parquet file into a DataFrame with a ``_row`` column."""
    suffix = Path(uri.split("?")[0]).suffix.lower()
    readers = {".jsonl": _read_jsonl, ".csv": _read_csv, ".parquet": _read_parquet}
    if suffix not in readers:
        raise DataError(f"{uri}: unsupported file type {suffix!r}; use .jsonl, .csv or .parquet")
    return readers[suffix](uri, read_bytes(uri, store=store))
