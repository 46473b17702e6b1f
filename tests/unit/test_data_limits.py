"""Documented limits of data files (issue 9, item 13): a file's size is checked before it is
read, JSONL is read a line at a time, and past a limit the error names the file and row.
The limits are lowered here so that small files cross them."""
from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annoflow.errors import DataError
from connectors import datafiles
from connectors.datafiles import read_table


def _jsonl(path, n: int, text: str = "x") -> str:
    path.write_text("".join(json.dumps({"item_id": f"i{i}", "text": text}) + "\n" for i in range(n)))
    return str(path)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch) -> None:
    uri = _jsonl(tmp_path / "items.jsonl", 50)
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 100)
    opened = []
    monkeypatch.setattr(datafiles.Path, "open", lambda *a, **k: opened.append(a) or None)
    with pytest.raises(DataError, match=r"items.jsonl: [\d,]+ bytes; a data file may have at most 100"):
        read_table(uri)
    assert opened == []  # refused on its size alone


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_too_many_rows(tmp_path, monkeypatch, suffix: str) -> None:
    df = pd.DataFrame({"item_id": [f"i{i}" for i in range(30)], "text": ["x"] * 30})
    path = tmp_path / f"items{suffix}"
    if suffix == ".jsonl":
        _jsonl(path, 30)
    elif suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(df), path)
    monkeypatch.setattr(datafiles, "MAX_ROWS", 20)
    with pytest.raises(DataError, match=f"items{suffix}: more than 20 rows"):
        read_table(str(path))
    monkeypatch.setattr(datafiles, "MAX_ROWS", 30)
    assert len(read_table(str(path))) == 30


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_field_over_the_limit_names_the_row_and_field(tmp_path, monkeypatch, suffix: str) -> None:
    rows = [{"item_id": f"i{i}", "text": "y" * (500 if i == 3 else 5)} for i in range(6)]
    path = tmp_path / f"items{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        where = "line 4"
    else:
        pd.DataFrame(rows).to_csv(path, index=False)
        where = "row 4"
    monkeypatch.setattr(datafiles, "MAX_FIELD_BYTES", 100)
    with pytest.raises(DataError, match=f"items{suffix}: {where}, field 'text': longer than 100"):
        read_table(str(path))


def test_a_jsonl_line_over_the_limit_is_refused_without_reading_it_whole(tmp_path, monkeypatch) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"item_id": "a", "text": "x"}) + "\n" + "[" * 5000 + "\n")
    monkeypatch.setattr(datafiles, "MAX_LINE_BYTES", 1000)
    with pytest.raises(DataError, match="items.jsonl: line 2 is longer than 1,000 bytes"):
        read_table(str(path))


def test_csv_non_utf8_names_the_line_and_byte(tmp_path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"item_id,text\ni1,ok\ni2,caf\xe9\n")
    with pytest.raises(DataError, match=r"items.csv: line 3 is not valid UTF-8 \(byte 6\)"):
        read_table(str(path))


# --- CSV and Parquet are read as a stream: checked record by record (batch by batch), never
# held whole; the output is the DataFrame pandas made of the whole file before.

def _parquet(path, df: pd.DataFrame, **kwargs) -> str:
    pq.write_table(pa.Table.from_pandas(df), path, **kwargs)
    return str(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_the_field_limit_counts_utf8_bytes(tmp_path, monkeypatch, suffix: str) -> None:
    rows = [{"item_id": f"i{i}", "text": "é" * (60 if i == 2 else 5)} for i in range(4)]
    path = tmp_path / f"items{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        _parquet(path, pd.DataFrame(rows))
    monkeypatch.setattr(datafiles, "MAX_FIELD_BYTES", 100)  # 60 characters, 120 bytes
    where = "line 3" if suffix == ".jsonl" else "row 3"
    with pytest.raises(DataError, match=f"items{suffix}: {where}, field 'text': longer than 100 "
                                        f"bytes"):
        read_table(str(path))
    monkeypatch.setattr(datafiles, "MAX_FIELD_BYTES", 120)
    assert len(read_table(str(path))) == 4


def test_a_parquet_field_over_the_limit_names_its_row_in_any_batch(tmp_path, monkeypatch) -> None:
    texts = ["y" * (500 if i == 776 else 5) for i in range(1000)]
    uri = _parquet(tmp_path / "items.parquet",
                   pd.DataFrame({"item_id": range(1000), "text": texts}), row_group_size=100)
    monkeypatch.setattr(datafiles, "MAX_FIELD_BYTES", 100)
    with pytest.raises(DataError, match="items.parquet: row 777, field 'text': longer than 100"):
        read_table(uri)


def test_a_parquet_file_over_the_row_limit_fails_from_its_footer(tmp_path, monkeypatch) -> None:
    uri = _parquet(tmp_path / "items.parquet",
                   pd.DataFrame({"item_id": [f"i{i}" for i in range(30)]}))
    monkeypatch.setattr(datafiles, "MAX_ROWS", 20)
    read = []
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", lambda *a, **k: read.append(a) or iter(()))
    monkeypatch.setattr(pq.ParquetFile, "read", lambda *a, **k: read.append(a))
    with pytest.raises(DataError, match="items.parquet: more than 20 rows"):
        read_table(uri)
    assert read == []  # no data was read


def test_a_csv_stops_at_the_row_limit_without_reading_on(tmp_path, monkeypatch) -> None:
    path = tmp_path / "items.csv"
    rows = b"".join(b"i%d,x\n" % i for i in range(30))
    path.write_bytes(b"item_id,text\n" + rows + b"i30,caf\xe9\n")
    monkeypatch.setattr(datafiles, "MAX_ROWS", 20)
    with pytest.raises(DataError, match="items.csv: more than 20 rows"):  # not the bad line 32
        read_table(str(path))


class _Recorded(io.BytesIO):
    """A file that records the size of each read asked of it."""

    def __init__(self, data: bytes, sizes: list) -> None:
        super().__init__(data)
        self.sizes = sizes

    def read(self, size: int | None = -1) -> bytes:
        self.sizes.append(size)
        return super().read(size)

    def read1(self, size: int | None = -1) -> bytes:
        self.sizes.append(size)
        return super().read1(size)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_file_is_read_a_piece_at_a_time(tmp_path, monkeypatch, suffix: str) -> None:
    n = 40_000
    path = tmp_path / f"items{suffix}"
    if suffix == ".jsonl":
        _jsonl(path, n, text="z" * 100)
    else:
        pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "text": ["z" * 100] * n}).to_csv(
            path, index=False)
    data = path.read_bytes()
    sizes: list = []
    monkeypatch.setattr(datafiles, "_open", lambda uri, store: _Recorded(data, sizes))
    df = read_table(str(path))
    assert len(df) == n and df[datafiles.ROW].iat[-1] == n
    assert sizes and all(s is not None and 0 < s <= 64 * 1024 for s in sizes), set(sizes)
    assert len(data) > 4_000_000  # so the whole file was never asked for at once


@pytest.mark.parametrize("text", [
    "a,b\n1,2\n",
    "a,a,a.1,\n1,2,3,4\n",                     # repeated and empty names, as pandas names them
    "\n\na,b\n\n1,2\n  \t\n,\n3\n",               # blank lines skipped, a short row ends empty
    'a,b\r\n1,"x\r\ny, ""z"""\r\n',             # CRLF, a quoted value over two lines
    "a,b\r1,2\r3,4\r",                          # old Mac line ends
    "\ufeffitem_id,text\ni1,café 😀\n",         # byte order mark, non-ASCII text
    'a,b\n""\n1,NA\n',                          # a quoted empty value is a row; NA is text
])
def test_a_csv_reads_as_pandas_read_it(tmp_path, monkeypatch, text: str) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(text.encode())
    monkeypatch.setattr(datafiles, "_CSV_CHUNK_ROWS", 2)  # rows joined a chunk at a time
    df = read_table(str(path))
    assert list(df[datafiles.ROW]) == list(range(1, len(df) + 1))
    expected = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(df.drop(columns=datafiles.ROW), expected)


@pytest.mark.parametrize(("data", "error"), [
    (b"a,b\n1,2,3\n", "row 1 has 3 fields; the header has 2"),
    (b'a,b\n1,2\n"3,4\n5,6\n', r"line 3 is not readable CSV \(unexpected end of data\)"),
    (b"", r"not a readable CSV file \(no header line\)"),
])
def test_a_malformed_csv_is_refused_naming_the_row_or_line(tmp_path, data: bytes,
                                                           error: str) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(data)
    with pytest.raises(DataError, match=f"items.csv: {error}"):
        read_table(str(path))


def test_csv_fields_up_to_the_limit_are_read(tmp_path) -> None:
    path = tmp_path / "items.csv"  # past the csv module's own default cap of 128 Ki characters
    pd.DataFrame({"item_id": ["i1"], "text": ["w" * 200_000]}).to_csv(path, index=False)
    assert read_table(str(path))["text"].iat[0] == "w" * 200_000


def test_a_quoted_csv_value_over_many_lines_stops_at_the_line_limit(tmp_path, monkeypatch) -> None:
    path = tmp_path / "items.csv"
    path.write_text('item_id,text\ni1,ok\ni2,"' + ("v" * 99 + "\n") * 30 + '"\n')
    monkeypatch.setattr(datafiles, "MAX_LINE_BYTES", 1000)
    cap = csv.field_size_limit()  # the csv module's cap is process-wide: put back after
    try:
        with pytest.raises(DataError, match=r"items.csv: line 3 is not readable CSV \(field larger "
                                            r"than field limit \(1000\)\)"):
            read_table(str(path))
    finally:
        csv.field_size_limit(cap)
