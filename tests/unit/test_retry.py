"""The one retry layer (connectors/retry.py): what is retried, for how long, and how a
create is recovered instead of repeated. The integration tests (test_retries.py) show the
same against a real Label Studio behind a faulty network."""
from __future__ import annotations

import time

import pytest

from connectors.retry import with_retries


class Lost(Exception):
    pass


class GiveUp(Exception):
    pass


def _run(fn, *, budget_s=5.0, recover=None, slept=None):
    return with_retries(fn, what="test", budget_s=budget_s,
                        transient=lambda e: isinstance(e, Lost),
                        give_up=lambda e, waited: GiveUp(f"{type(e).__name__} after {waited:.1f}s"),
                        recover=recover, sleep=(slept.append if slept is not None else lambda s: None))


def test_a_bug_or_refusal_is_raised_at_once() -> None:
    calls = []

    def fn():
        calls.append(1)
        raise KeyError("bug")
    with pytest.raises(KeyError):
        _run(fn)
    assert calls == [1]


def test_transient_failures_are_retried_with_growing_waits() -> None:
    calls, slept = [], []

    def fn():
        calls.append(1)
        if len(calls) < 4:
            raise Lost()
        return "ok"
    assert _run(fn, slept=slept) == "ok"
    assert len(calls) == 4 and slept == [0.5, 1.0, 2.0]


def test_recover_finds_what_the_lost_attempt_made() -> None:
    made = []

    def create():
        made.append("project")
        raise Lost()  # made, but the answer was lost
    assert _run(create, recover=lambda: made[0] if made else None) == "project"
    assert made == ["project"]  # not created again


def test_recover_that_finds_nothing_lets_the_create_be_tried_again() -> None:
    tries = []

    def create():
        tries.append(1)
        if len(tries) == 1:
            raise Lost()  # the request never reached the server
        return "project"
    assert _run(create, recover=lambda: None) == "project" and len(tries) == 2


def test_one_deadline_for_every_attempt_and_every_nested_call() -> None:
    started = time.monotonic()

    def inner():
        raise Lost()

    def outer():
        return _run(inner, budget_s=60)  # nested: bounded by the outer budget, not its own
    with pytest.raises(GiveUp):
        with_retries(outer, what="outer", budget_s=0.3, transient=lambda e: isinstance(e, (Lost, GiveUp)),
                     give_up=lambda e, w: GiveUp("outer"), sleep=time.sleep)
    assert time.monotonic() - started < 2
