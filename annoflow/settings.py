"""The one settings object. Defaults point at the embedded local services.

Environment variables override them:
  ANNOFLOW_LABEL_STUDIO_URL, ANNOFLOW_LABEL_STUDIO_TOKEN, ANNOFLOW_S3_ENDPOINT_URL,
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, PREFECT_API_URL,
  ANNOFLOW_RAW_ZONE_URI, ANNOFLOW_PSEUDONYM_KEY,
  ANNOFLOW_STATE_URL, ANNOFLOW_ANNOTATOR_URL, ANNOFLOW_CLIENT_BUCKETS,
  ANNOFLOW_RETRY_BUDGET_S, ANNOFLOW_HTTP_TIMEOUT_S.
"""
from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from annoflow.errors import SettingsError
from annoflow.identity import client_key

REPO_ROOT = Path(__file__).resolve().parent.parent

# The embedded services' credentials (scripts/services.py creates them). Local only.
EMBEDDED_LS_URL = "http://127.0.0.1:8080"
EMBEDDED_LS_LOGIN = ("admin@annoflow.local", "annoflow-admin")
EMBEDDED_CLIENT_BUCKETS = {"demo-lab": ["s3://demo-deliveries/", "s3://annoflow-it/",
                                        "s3://annoflow-bench/"]}
#: public (it is in this file): with it, every pseudonym can be reversed by trying all pool
#: ids, so it is refused for anything but the local embedded services
DEV_PSEUDONYM_KEY = "annoflow-local-pseudonym-key"
MIN_KEY_CHARS = 16


def _loopback(url: str | None) -> bool:
    return urlparse(url or "").hostname in ("127.0.0.1", "localhost", "::1")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANNOFLOW_", extra="ignore")

    label_studio_url: str = EMBEDDED_LS_URL
    label_studio_token: SecretStr = SecretStr("annoflow-local-dev-token-0000000000000000")
    s3_endpoint_url: str | None = Field(
        "http://127.0.0.1:8333",
        description="S3 endpoint; set to an empty string to use AWS S3 itself.",
    )
    aws_access_key_id: str = Field(
        "annoflow", validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "ANNOFLOW_AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr = Field(
        SecretStr("annoflow-local-secret"),
        validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "ANNOFLOW_AWS_SECRET_ACCESS_KEY"))
    aws_region: str = Field(
        "us-east-1", validation_alias=AliasChoices("AWS_DEFAULT_REGION", "AWS_REGION"))
    prefect_api_url: str = Field(
        "http://127.0.0.1:4200/api", validation_alias=AliasChoices("PREFECT_API_URL"))
    raw_zone_uri: str = "s3://annoflow-raw"
    pseudonym_key: SecretStr = SecretStr(DEV_PSEUDONYM_KEY)
    #: annoflow's transactional state (campaign ids, expert identities); SQLite or PostgreSQL
    state_url: str = f"sqlite:///{REPO_ROOT / '.local' / 'annoflow-state.db'}"
    #: where experts sign in (the Label Studio server experts reach; TLS in production)
    annotator_url: str | None = None
    #: which delivery prefixes each client owns (per deployment; JSON in the environment):
    #: a campaign delivers only under its client's prefixes, never into the raw zone's
    #: bucket, and never into a bucket that does not exist. The default fits the local
    #: demo and tests (``make services`` creates these buckets)
    client_buckets: dict[str, list[str]] = Field(default_factory=lambda: dict(EMBEDDED_CLIENT_BUCKETS))
    http_timeout_s: float = 30.0
    #: how long one call to a service is retried on transport failures, all attempts
    #: together (connectors/retry.py); past it the error names the service
    retry_budget_s: float = Field(60.0, gt=0)

    @field_validator("s3_endpoint_url", mode="before")
    @classmethod
    def _empty_means_aws(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def prefect_ui_url(self) -> str:
        base = self.prefect_api_url.rstrip("/")
        return base[: -len("/api")] if base.endswith("/api") else base

    @property
    def expert_url(self) -> str:
        return (self.annotator_url or self.label_studio_url).rstrip("/")

    @property
    def embedded_services(self) -> bool:
        """Label Studio and S3 are this machine's own (the local development services)."""
        return _loopback(self.label_studio_url) and _loopback(self.s3_endpoint_url)

    def require_secret_key(self) -> None:
        """Refuse the public development pseudonym key (or a short one) anywhere but on the
        local embedded services: with it, anyone could map a client's pseudonyms back to
        talent-pool ids by trying them all."""
        key = self.pseudonym_key.get_secret_value()
        if self.embedded_services or (key != DEV_PSEUDONYM_KEY and len(key) >= MIN_KEY_CHARS):
            return
        why = ("is the public development default" if key == DEV_PSEUDONYM_KEY
               else f"is shorter than {MIN_KEY_CHARS} characters")
        raise SettingsError(
            f"ANNOFLOW_PSEUDONYM_KEY {why}, and these services are not the local embedded "
            f"ones (Label Studio {self.label_studio_url}, S3 {self.s3_endpoint_url or 'AWS'}). "
            f"With it every pseudonym a client receives could be reversed. Set a secret key, "
            f"e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`, keep it, "
            f"and use the same one for every run: the pseudonyms depend on it.")

    def check_delivery_target(self, client: str, uri: str) -> None:
        """Refuse a delivery URI the client does not own (ANNOFLOW_CLIENT_BUCKETS), or one in
        the raw zone's bucket. SettingsError names the client, the URI and what is allowed."""
        target = uri.rstrip("/") + "/"
        raw_bucket = urlparse(self.raw_zone_uri).netloc
        if urlparse(target).netloc == raw_bucket:
            raise SettingsError(f"delivery.uri {uri} is in the raw zone's bucket ({raw_bucket}), "
                                f"which holds every campaign's internal data; deliver to the "
                                f"client's own bucket")
        owned = {client_key(c): [p.rstrip("/") + "/" for p in prefixes]
                 for c, prefixes in self.client_buckets.items()}.get(client_key(client), [])
        if not any(target.startswith(p) for p in owned):
            raise SettingsError(
                f"delivery.uri {uri} is not under a prefix client {client!r} owns "
                f"({', '.join(owned) if owned else 'none is configured'}). Each client's "
                f"prefixes are set per deployment in ANNOFLOW_CLIENT_BUCKETS, e.g. "
                f"'{{\"{client}\": [\"s3://its-bucket/\"]}}'.")

    def derived_key(self, purpose: str) -> bytes:
        """A secret for one purpose (task refs, login aliases, stored passwords), derived
        from ANNOFLOW_PSEUDONYM_KEY so that one secret is managed, not several."""
        return hmac.new(self.pseudonym_key.get_secret_value().encode(), purpose.encode(),
                        hashlib.sha256).digest()

    @property
    def label_studio_login(self) -> tuple[str, str] | None:
        """The admin login to print, only for the embedded server (never a real one's)."""
        return EMBEDDED_LS_LOGIN if self.label_studio_url.rstrip("/") == EMBEDDED_LS_URL else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
