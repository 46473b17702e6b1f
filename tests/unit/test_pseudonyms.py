"""Pseudonyms a client can trust (issue 9, item 7): keyed on a normalised client name, and
never with the public development key outside the local embedded services."""
from __future__ import annotations

import pytest

from annoflow.delivery import pseudonym, pseudonymized
from annoflow.errors import SettingsError
from annoflow.settings import DEV_PSEUDONYM_KEY, Settings


def test_one_client_however_its_name_is_typed() -> None:
    names = ["Acme Labs", " acme  labs ", "ACME LABS", "Ａｃｍｅ Labs"]
    assert len({pseudonym("ex-0001", client=n, key=b"k") for n in names}) == 1
    assert pseudonym("ex-0001", client="Acme Labs", key=b"k") != \
        pseudonym("ex-0001", client="Acme Lab", key=b"k")


def _settings(**env) -> Settings:
    return Settings(**env)


@pytest.mark.parametrize("key", [DEV_PSEUDONYM_KEY, "short"])
def test_the_public_or_a_short_key_is_refused_off_the_local_services(key: str) -> None:
    remote = _settings(pseudonym_key=key, s3_endpoint_url="", label_studio_url="https://ls.example.org")
    with pytest.raises(SettingsError, match="ANNOFLOW_PSEUDONYM_KEY"):
        remote.require_secret_key()
    # one remote service is enough to refuse it
    with pytest.raises(SettingsError):
        _settings(pseudonym_key=key, s3_endpoint_url="https://s3.example.org").require_secret_key()
    _settings(pseudonym_key=key).require_secret_key()  # the embedded services: allowed


def test_a_real_key_is_accepted_anywhere() -> None:
    _settings(pseudonym_key="x" * 32, s3_endpoint_url="",
              label_studio_url="https://ls.example.org").require_secret_key()


def test_pool_ids_in_qc_findings_become_pseudonyms() -> None:
    names = {"ex-0057": "ann-aaaaaaaaaaaa"}
    metrics = {"below_threshold": ["ex-0057"], "per": {"ex-0057": 0.4}, "n": 3, "other": "ex-00571"}
    assert pseudonymized(metrics, names) == {"below_threshold": ["ann-aaaaaaaaaaaa"],
                                             "per": {"ann-aaaaaaaaaaaa": 0.4}, "n": 3,
                                             "other": "ex-00571"}


# -- delivery targets tied to their client (issue 9, item 9) ----------------------------
def test_a_client_delivers_only_under_its_own_prefixes() -> None:
    s = Settings(client_buckets={"Acme Labs": ["s3://acme-data/annoflow"], "Other": ["s3://other/"]})
    s.check_delivery_target("acme labs", "s3://acme-data/annoflow/prefs/")
    s.check_delivery_target("ACME LABS", "s3://acme-data/annoflow")
    for client, uri, why in [
            ("Acme Labs", "s3://other/x/", "not under a prefix client 'Acme Labs' owns"),
            ("Acme Labs", "s3://acme-data/annoflow-evil/", "not under a prefix"),  # not a sibling
            ("Acme Labs", "s3://acme-data/", "not under a prefix"),
            ("Nobody", "s3://acme-data/annoflow/", "none is configured"),
            ("Acme Labs", "s3://annoflow-raw/acme/", "raw zone's bucket")]:
        with pytest.raises(SettingsError, match=why):
            s.check_delivery_target(client, uri)


def test_the_raw_zone_bucket_is_refused_even_when_mapped() -> None:
    s = Settings(client_buckets={"acme": ["s3://annoflow-raw/"]})
    with pytest.raises(SettingsError, match="raw zone's bucket"):
        s.check_delivery_target("acme", "s3://annoflow-raw/deliveries/")
