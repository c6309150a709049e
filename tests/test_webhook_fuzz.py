"""Property-based fuzzing of the webhook: validly signed arbitrary JSON never yields a 5xx,
and the worker never raises on whatever was stored."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storage.models import InboundEvent
from tests.conftest import PAYLOADS, Harness, load_payload

REAL_PAYLOADS = sorted(p.name for p in PAYLOADS.glob("*.json"))

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)


@st.composite
def mutated_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A real payload with a few of its values replaced, removed or retyped."""
    body = copy.deepcopy(load_payload(draw(st.sampled_from(REAL_PAYLOADS))))
    for _ in range(draw(st.integers(1, 6))):
        paths = list(_paths(body))
        if not paths:
            break
        container, key = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "delete":
            del container[key]
        elif action == "duplicate" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        else:
            container[key] = draw(json_values)
    return body


def _paths(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield value, key
            yield from _paths(child)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield value, index
            yield from _paths(child)


@pytest.fixture
def fuzz_app(make_harness: Any) -> Harness:
    h: Harness = make_harness()
    h.add_user("+2250707000001", "Awa Kouassi", wa_user_id="CI.13491208655302741918")
    h.add_user("+33612345678", "Jean Dupont", admin=False)
    return h


def check_worker(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h.drain()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    with h.services.db.session() as session:
        failed = session.scalars(select(InboundEvent).where(InboundEvent.error.is_not(None))).all()
        assert not failed, [e.error for e in failed]


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(body=json_values)
def test_arbitrary_json_never_5xx(fuzz_app: Harness, caplog: pytest.LogCaptureFixture, body: Any) -> None:
    raw = json.dumps(body).encode()
    response = fuzz_app.post(raw)
    assert response.status_code < 500
    assert response.status_code in (200, 400)
    check_worker(fuzz_app, caplog)


@FUZZ
@given(body=mutated_payloads())
def test_mutated_real_payloads_never_5xx_nor_crash_the_worker(
    fuzz_app: Harness, caplog: pytest.LogCaptureFixture, body: dict[str, Any]
) -> None:
    response = fuzz_app.post(json.dumps(body).encode())
    assert response.status_code in (200, 400)
    check_worker(fuzz_app, caplog)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_never_5xx(fuzz_app: Harness, raw: bytes) -> None:
    assert fuzz_app.post(raw).status_code in (200, 400)
