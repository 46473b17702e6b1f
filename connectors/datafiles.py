"""Reading tabular data files (JSONL, CSV, Parquet) from a local path or ``s3://``.

Every reader returns a DataFrame with one row per record plus ``_row``: the 1-based
line (JSONL), data row (CSV, header excluded) or row (Parquet) it came from, so
problems can be reported by file and row.

Limits (README, "Guarantees, security, and how they are tested"), checked before the data is held in memory where the format
allows: a file's size is checked before it is read, a JSONL file is read a line at a time,
a Parquet file's row count is read from its footer. Past a limit the error names the file,
and the row when there is one.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow.parquet as pq

from annoflow.errors import DataError
from connectors.s3 import S3Store

ROW = "_row"
#: bytes in one file
MAX_FILE_BYTES = 2 * 1024 ** 3
#: records in one file
MAX_ROWS = 5_000_000
#: bytes in one field (and in one JSONL line: 4 fields' worth); the spec's
#: ``source.max_field_chars`` makes long values bad rows far sooner
MAX_FIELD_BYTES = 1024 ** 2
MAX_LINE_BYTES = 4 * MAX_FIELD_BYTES
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


def _too_big(uri: str, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise DataError(f"{uri}: {size:,} bytes; a data file may have at most "
                        f"{MAX_FILE_BYTES:,} (split it into several requests)")


def _open(uri: str, store: S3Store | None) -> BinaryIO:
    """The file, its size checked first (an S3 object is fetched once, after the check)."""
    if uri.startswith("s3://"):
        if store is None:
            raise DataError(f"{uri}: an s3:// file needs S3 settings")
        size = store.size(uri=uri)
        if size is None:
            raise DataError(f"{uri}: no such object")
        _too_big(uri, size)
        data = store.get_bytes(uri=uri)
        if data is None:
            raise DataError(f"{uri}: no such object")
        return io.BytesIO(data)
    path = Path(uri)
    if not path.is_file():
        raise DataError(f"{uri}: no such file")
    _too_big(uri, path.stat().st_size)
    return path.open("rb")


def read_bytes(uri: str, *, store: S3Store | None = None) -> bytes:
    with _open(uri, store) as f:
        return f.read()


def _lines(uri: str, f: BinaryIO) -> Iterator[tuple[int, str]]:
    """(line number, text) a line at a time, each decoded once; a line is bounded."""
    i = 0
    while True:
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        i += 1
        if len(raw) > MAX_LINE_BYTES:
            raise DataError(f"{uri}: line {i} is longer than {MAX_LINE_BYTES:,} bytes")
        try:
            yield i, raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"{uri}: line {i} is not valid UTF-8 (byte {err.start}); "
                            f"save the file as UTF-8") from None


def _check_rows(uri: str, n: int) -> None:
    if n > MAX_ROWS:
        raise DataError(f"{uri}: more than {MAX_ROWS:,} rows; a data file may have at most "
                        f"{MAX_ROWS:,} (split it into several requests)")


def _read_jsonl(uri: str, f: BinaryIO) -> pd.DataFrame:
    records, rows = [], []
    for i, line in _lines(uri, f):
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
            if isinstance(value, str) and len(value) > MAX_FIELD_BYTES:
                raise DataError(f"{uri}: line {i}, field {str(field)[:60]!r}: longer than "
                                f"{MAX_FIELD_BYTES:,} characters")
        records.append(rec)
        rows.append(i)
        _check_rows(uri, len(records))
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    df[ROW] = rows
    return df


def _read_csv(uri: str, f: BinaryIO) -> pd.DataFrame:
    data = f.read()
    try:
        text = data.decode("utf-8")  # once, for the whole file
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1)
        raise DataError(f"{uri}: line {line} is not valid UTF-8 (byte {column}); save the "
                        f"file as UTF-8") from None
    del data
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, nrows=MAX_ROWS + 1)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{uri}: not a readable CSV file ({err})") from None
    _check_rows(uri, len(df))
    for col in df.columns:
        lengths = df[col].str.len()
        if len(lengths) and lengths.max() > MAX_FIELD_BYTES:
            row = int(lengths.idxmax()) + 1
            raise DataError(f"{uri}: row {row}, field {str(col)[:60]!r}: longer than "
                            f"{MAX_FIELD_BYTES:,} characters")
    df[ROW] = range(1, len(df) + 1)
    return df


def _read_parquet(uri: str, f: BinaryIO) -> pd.DataFrame:
    try:
        pf = pq.ParquetFile(f)
        _check_rows(uri, pf.metadata.num_rows)
        df = pf.read().to_pandas()
    except DataError:
        raise
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
    with _open(uri, store) as f:
        return readers[suffix](uri, f)
