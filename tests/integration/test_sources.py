"""Source and gold data from s3:// in every supported format, read by the real S3."""
from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.integration.conftest import REPO, annoflow, last_json, unique_id, write_spec


def test_s3_parquet_items_and_csv_gold(tmp_path, s3) -> None:
    items = pd.read_json(REPO / "data/demo/items.jsonl", lines=True)
    gold = pd.read_json(REPO / "data/demo/gold.jsonl", lines=True)
    base = f"s3://annoflow-it/sources/{unique_id('src')}"
    s3.ensure_bucket(bucket="annoflow-it")
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(items, preserve_index=False), buf)
    s3.put_bytes(uri=f"{base}/items.parquet", data=buf.getvalue())
    s3.put_bytes(uri=f"{base}/gold.csv", data=gold.to_csv(index=False).encode())
    spec = write_spec(tmp_path, request_id=unique_id("it-src"), source__uri=f"{base}/items.parquet",
                      gold__uri=f"{base}/gold.csv")
    proc = annoflow("validate", str(spec), "--json")
    assert proc.returncode == 0, proc.stderr
    plan = last_json(proc)
    assert plan["items"] == 200 and plan["gold_items"] == 39 and plan["quarantined_rows"] == 0


def test_missing_s3_object_is_named(tmp_path, s3) -> None:
    s3.ensure_bucket(bucket="annoflow-it")
    uri = f"s3://annoflow-it/sources/{unique_id('none')}/items.jsonl"
    spec = write_spec(tmp_path, request_id=unique_id("it-src"), source__uri=uri)
    proc = annoflow("validate", str(spec))
    assert proc.returncode == 2
    assert f"{uri}: no such object" in proc.stderr


def test_an_s3_file_is_streamed_to_disk_not_held_in_memory(tmp_path, s3, settings) -> None:
    """read_table fetches an s3:// file in chunks into a temporary file; the rows come out
    the same as from the local copy, and a missing object is named."""
    import tempfile
    from connectors.datafiles import read_table
    s3.ensure_bucket(bucket="annoflow-it")
    uri = f"s3://annoflow-it/sources/{unique_id('stream')}/items.jsonl"
    local = REPO / "data/demo/items.jsonl"
    s3.put_bytes(uri=uri, data=local.read_bytes())
    with tempfile.TemporaryFile() as f:  # many small chunks, the same bytes
        assert s3.download(uri=uri, into=f, chunk_bytes=4096)
        assert f.read() == local.read_bytes()
        assert not s3.download(uri=uri + ".missing", into=f)
    remote, here = read_table(uri, store=s3), read_table(str(local))
    pd.testing.assert_frame_equal(remote, here)
