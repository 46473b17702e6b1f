"""S3 (AWS or any S3-compatible store, SeaweedFS locally): the raw zone and client buckets.

Keyword-only methods, explicit timeouts and retries, errors translated into
``ConnectorError``. Conditional writes (``if_none_match``) make "never overwrite"
a property of the store, not of the caller's luck.
"""
from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import EndpointConnectionError

from annoflow.errors import ConnectorError
from annoflow.settings import Settings
from annoflow.uris import split_uri

from connectors.retry import unreachable, with_retries

T = TypeVar("T")


class ObjectExists(ConnectorError):
    """A conditional write found the key already taken."""


@dataclass(frozen=True)
class StoredObject:
    uri: str
    size: int
    sha256: str


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _transient(err: BaseException) -> bool:
    if isinstance(err, (BotoConnectionError, HTTPClientError)):
        return True
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = err.response.get("Error", {}).get("Code")
        return status in (500, 502, 503, 504) or code in ("SlowDown", "RequestTimeout",
                                                           "InternalError", "ServiceUnavailable")
    return False


class S3Store:
    """Typed access to one S3 endpoint."""

    def __init__(self, settings: Settings) -> None:
        self.endpoint = settings.s3_endpoint_url or "AWS S3"
        self._client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key.get_secret_value(),
            region_name=settings.aws_region,
            config=Config(
                connect_timeout=settings.http_timeout_s, read_timeout=settings.http_timeout_s,
                retries={"total_max_attempts": 1},  # the one retry layer is connectors.retry
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"}),
        )
        self._budget_s = settings.retry_budget_s

    def _do(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` (one boto call) through the one retry layer; transport failures and the
        server's 5xx are retried within the retry budget."""
        return with_retries(fn, what=f"S3: {what}", budget_s=self._budget_s,
                            transient=_transient,
                            give_up=unreachable("S3", self.endpoint, what, "ANNOFLOW_S3_ENDPOINT_URL"))

    def _fail(self, what: str, err: Exception) -> ConnectorError:
        if isinstance(err, EndpointConnectionError):
            return ConnectorError(f"S3 at {self.endpoint} is unreachable while trying to {what}. "
                                  f"Is it running? `make services` starts the local one; "
                                  f"ANNOFLOW_S3_ENDPOINT_URL points elsewhere.")
        if isinstance(err, ClientError):
            code = err.response.get("Error", {}).get("Code", "?")
            msg = err.response.get("Error", {}).get("Message", "")
            hint = (" Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."
                    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied") else "")
            return ConnectorError(f"S3 refused to {what}: {code} {msg}.{hint}")
        return ConnectorError(f"S3 failed to {what}: {err}")

    def bucket_exists(self, *, bucket: str) -> bool:
        try:
            self._do(f"check bucket {bucket}", lambda: self._client.head_bucket(Bucket=bucket))
            return True
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise self._fail(f"check bucket {bucket}", err) from None
        except BotoCoreError as err:
            raise self._fail(f"check bucket {bucket}", err) from None

    def ensure_bucket(self, *, bucket: str) -> None:
        if self.bucket_exists(bucket=bucket):
            return
        try:
            self._do(f"create bucket {bucket}", lambda: self._client.create_bucket(Bucket=bucket))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",
                                                                  "BucketAlreadyExists"):
                raise self._fail(f"create bucket {bucket}", err) from None

    def put_bytes(self, *, uri: str, data: bytes, if_none_match: bool = False,
                  content_type: str = "application/octet-stream") -> StoredObject:
        bucket, key = split_uri(uri)
        kwargs = {"IfNoneMatch": "*"} if if_none_match else {}
        try:
            self._do(f"write {uri}", lambda: self._client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentType=content_type, **kwargs))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                raise ObjectExists(f"{uri} already exists and is never overwritten") from None
            raise self._fail(f"write {uri}", err) from None
        except BotoCoreError as err:
            raise self._fail(f"write {uri}", err) from None
        return StoredObject(uri=uri, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def get_bytes(self, *, uri: str) -> bytes | None:
        """The object's bytes, or None if it does not exist."""
        bucket, key = split_uri(uri)
        try:
            return self._do(f"read {uri}", lambda: self._client.get_object(
                Bucket=bucket, Key=key)["Body"].read())
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise self._fail(f"read {uri}", err) from None
        except BotoCoreError as err:
            raise self._fail(f"read {uri}", err) from None

    def download(self, *, uri: str, into: BinaryIO, chunk_bytes: int = 1 << 20) -> bool:
        """Stream the object into ``into`` a chunk at a time (never whole in memory); False if
        it does not exist. A failed attempt starts again from the beginning of ``into``."""
        bucket, key = split_uri(uri)

        def fetch() -> bool:
            into.seek(0)
            into.truncate()
            body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
            for chunk in body.iter_chunks(chunk_bytes):
                into.write(chunk)
            into.seek(0)
            return True
        try:
            return self._do(f"read {uri}", fetch)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                return False
            raise self._fail(f"read {uri}", err) from None
        except BotoCoreError as err:
            raise self._fail(f"read {uri}", err) from None

    def size(self, *, uri: str) -> int | None:
        """The object's size in bytes, or None if it does not exist."""
        bucket, key = split_uri(uri)
        try:
            head = self._do(f"check {uri}", lambda: self._client.head_object(Bucket=bucket, Key=key))
            return int(head["ContentLength"])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound",
                                                              "NoSuchBucket"):
                return None
            raise self._fail(f"check {uri}", err) from None
        except BotoCoreError as err:
            raise self._fail(f"check {uri}", err) from None

    def exists(self, *, uri: str) -> bool:
        return self.size(uri=uri) is not None

    def list_uris(self, *, prefix_uri: str) -> list[str]:
        bucket, prefix = split_uri(prefix_uri)
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix)
            out = self._do(f"list {prefix_uri}", lambda: [
                f"s3://{bucket}/{o['Key']}" for page in pages for o in page.get("Contents", [])])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return []
            raise self._fail(f"list {prefix_uri}", err) from None
        except BotoCoreError as err:
            raise self._fail(f"list {prefix_uri}", err) from None
        return sorted(out)

    def put_parquet(self, *, uri: str, table: pa.Table, if_none_match: bool = False) -> StoredObject:
        return self.put_bytes(uri=uri, data=parquet_bytes(table), if_none_match=if_none_match,
                              content_type="application/vnd.apache.parquet")

    def get_parquet(self, *, uri: str) -> pa.Table | None:
        data = self.get_bytes(uri=uri)
        return None if data is None else pq.read_table(io.BytesIO(data))
