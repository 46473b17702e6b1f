"""Reading tabular data files (JSONL, CSV, Parquet) from a local path or ``s3://``.

Every reader returns a DataFrame with one row per record plus ``_row``: the 1-based
line (JSONL), data row (CSV, header excluded) or row (Parquet) it came from, so
problems can be reported by file and row.

Limits (README, "Guarantees, security, and how they are tested") are checked as the file is
read, not once it is held whole: a file's size before it is read (an ``s3://`` object is then
fetched whole, a local file is not); a JSONL or CSV file is read and decoded (once) a line at
a time, each record checked as it arrives; a Parquet file's row count is read from its footer,
then its record batches are checked one at a time. Past a limit the error names the file, and
the row and field where there is one.
"""
from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annoflow.errors import DataError
from annoflow.records import ROW
from connectors.s3 import S3Store

#: bytes in one file
MAX_FILE_BYTES = 2 * 1024 ** 3
#: records in one file
MAX_ROWS = 5_000_000
#: bytes (UTF-8) in one field, and in one line of a JSONL or CSV file (4 fields' worth);
#: the spec's ``source.max_field_chars`` makes long values bad rows far sooner
MAX_FIELD_BYTES = 1024 ** 2
MAX_LINE_BYTES = 4 * MAX_FIELD_BYTES
#: how deep a row's values may nest (a gold answer is an object of scores: 2)
MAX_DEPTH = 16

#: CSV rows held as Python lists at a time, before they join the (more compact) DataFrame
_CSV_CHUNK_ROWS = 50_000
#: what the ``surrogateescape`` error handler decodes a byte that is not UTF-8 to
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
#: Parquet column types whose values are checked against MAX_FIELD_BYTES (a view type is
#: cast to large_binary first: pyarrow's binary_length has no kernel for it)
_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
               pa.types.is_large_binary, pa.types.is_fixed_size_binary)
_VIEW_TYPES = (pa.types.is_string_view, pa.types.is_binary_view)


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
    """The file, its size checked first. An S3 object is fetched once, after the check,
    streamed into a temporary file (deleted when closed): never whole in memory."""
    if uri.startswith("s3://"):
        if store is None:
            raise DataError(f"{uri}: an s3:// file needs S3 settings")
        size = store.size(uri=uri)
        if size is None:
            raise DataError(f"{uri}: no such object")
        _too_big(uri, size)
        spool = tempfile.TemporaryFile()
        try:
            if not store.download(uri=uri, into=spool):
                raise DataError(f"{uri}: no such object")
        except BaseException:
            spool.close()
            raise
        return spool
    path = Path(uri)
    if not path.is_file():
        raise DataError(f"{uri}: no such file")
    _too_big(uri, path.stat().st_size)
    return path.open("rb")


def read_bytes(uri: str, *, store: S3Store | None = None) -> bytes:
    with _open(uri, store) as f:
        return f.read()


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _longer_than(text: str, limit: int) -> bool:
    """Whether ``text`` is more than ``limit`` bytes in UTF-8 (a character is 1 to 4 bytes:
    encoded only when that does not tell)."""
    return len(text) > limit or (4 * len(text) > limit and _utf8_size(text) > limit)


def _lines(uri: str, f: BinaryIO) -> Iterator[tuple[int, str]]:
    """(line number, text) a line at a time, decoded once as it is read; a line is bounded.

    A line ends at ``\\n``, ``\\r\\n`` or ``\\r`` and keeps its ending (as the csv module
    expects); a UTF-8 byte order mark at the start is dropped."""
    text = io.TextIOWrapper(f, encoding="utf-8-sig", errors="surrogateescape", newline="")
    i = 0
    while line := text.readline(MAX_LINE_BYTES + 1):
        i += 1
        if _longer_than(line, MAX_LINE_BYTES):
            raise DataError(f"{uri}: line {i} is longer than {MAX_LINE_BYTES:,} bytes")
        if not line.isascii() and (bad := _NOT_UTF8.search(line)):
            raise DataError(f"{uri}: line {i} is not valid UTF-8 (byte "
                            f"{_utf8_size(line[:bad.start()])}); save the file as UTF-8")
        yield i, line


def _check_rows(uri: str, n: int) -> None:
    if n > MAX_ROWS:
        raise DataError(f"{uri}: more than {MAX_ROWS:,} rows; a data file may have at most "
                        f"{MAX_ROWS:,} (split it into several requests)")


def _field_too_long(uri: str, where: str, field: object) -> DataError:
    return DataError(f"{uri}: {where}, field {str(field)[:60]!r}: longer than "
                     f"{MAX_FIELD_BYTES:,} bytes")


def _check_fields(uri: str, where: str, fields: Iterable[tuple[object, object]]) -> None:
    """Each text value of a record, (field, value), is at most MAX_FIELD_BYTES in UTF-8."""
    for field, value in fields:
        if isinstance(value, str) and _longer_than(value, MAX_FIELD_BYTES):
            raise _field_too_long(uri, where, field)


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
        _check_fields(uri, f"line {i}", rec.items())
        records.append(rec)
        rows.append(i)
        _check_rows(uri, len(records))
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    df[ROW] = rows
    return df


def _csv_records(uri: str, f: BinaryIO) -> Iterator[list[str]]:
    """The records of a CSV file (the header first) as they are read; a blank line (nothing,
    or only spaces and tabs, unquoted) is skipped, as pandas skips it."""
    # the csv module's own cap on a field is process-wide (128 Ki characters by default): set
    # it to a line's worth, so that only a quoted value running over several lines meets it
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader((line for _, line in _lines(uri, f)), strict=True)
    start = 1  # the line the next record starts on
    try:
        for record in reader:
            blank = not record or (len(record) == 1 and record[0] and not record[0].strip(" \t"))
            if not blank:
                yield record
            start = reader.line_num + 1
    except csv.Error as err:  # a stray or unclosed quote, or a quoted value past the cap
        raise DataError(f"{uri}: line {start} is not readable CSV ({err})") from None


def _csv_columns(header: list[str]) -> list[str]:
    """The header's names as pandas.read_csv makes them (``Unnamed: 1`` for an empty one,
    ``a.1`` for a second ``a``…): pandas reads the header line, written back."""
    line = io.StringIO()
    csv.writer(line).writerow(header)
    line.seek(0)
    return [str(name) for name in pd.read_csv(line, nrows=0).columns]


def _read_csv(uri: str, f: BinaryIO) -> pd.DataFrame:
    records = _csv_records(uri, f)
    header = next(records, None)
    if header is None:
        raise DataError(f"{uri}: not a readable CSV file (no header line)")
    columns = _csv_columns(header)
    chunks, rows = [], []
    for n, record in enumerate(records, start=1):
        _check_rows(uri, n)
        if len(record) > len(columns):
            raise DataError(f"{uri}: row {n} has {len(record)} fields; the header has "
                            f"{len(columns)}")
        _check_fields(uri, f"row {n}", zip(columns, record))
        rows.append(record + [""] * (len(columns) - len(record)))  # a short row ends empty
        if len(rows) == _CSV_CHUNK_ROWS:
            chunks.append(pd.DataFrame(rows, columns=columns, dtype=str))
            rows = []
    chunks.append(pd.DataFrame(rows, columns=columns, dtype=str))
    df = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    df[ROW] = range(1, len(df) + 1)
    return df


def _value_sizes(column: pa.Array) -> pa.Array | None:
    """Bytes in each value of a string or binary column; None for a column of another type."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if any(is_view(column.type) for is_view in _VIEW_TYPES):
        column = column.cast(pa.large_binary())
    if not any(is_text(column.type) for is_text in _TEXT_TYPES):
        return None
    return pc.binary_length(column)


def _check_batch(uri: str, batch: pa.RecordBatch, first_row: int) -> None:
    """Each string or binary value of a Parquet record batch is at most MAX_FIELD_BYTES."""
    for field, column in zip(batch.schema, batch.columns):
        sizes = _value_sizes(column)
        if sizes is None:
            continue
        over = pc.greater(sizes, MAX_FIELD_BYTES)
        if pc.any(over).as_py():
            raise _field_too_long(uri, f"row {first_row + pc.index(over, True).as_py()}",
                                  field.name)


def _read_parquet(uri: str, f: BinaryIO) -> pd.DataFrame:
    try:
        pf = pq.ParquetFile(f)
        _check_rows(uri, pf.metadata.num_rows)  # from the footer, before any data is read
        batches, n = [], 0
        for batch in pf.iter_batches():
            _check_batch(uri, batch, first_row=n + 1)
            n += batch.num_rows
            _check_rows(uri, n)
            batches.append(batch)
        df = pa.Table.from_batches(batches, schema=pf.schema_arrow).to_pandas()
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
