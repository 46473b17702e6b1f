"""Documented limits of data files (issue 9, item 13): a file's size is checked before it is
read, JSONL is read a line at a time, and past a limit the error names the file and row.
The limits are lowered here so that small files cross them."""
from __future__ import annotations

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
