"""Schemathesis over the app's own OpenAPI schema: generated requests (valid and invalid, with the write
key so writes really happen) must never get a 5xx, and every response must match the schema."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from tests.support.api import WRITE, make_settings, registry_records, seed

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 45  # x 27 operations (all under /v1): well over 1,000 requests
COUNTER = {"requests": 0, "statuses": set()}


# schemathesis parametrizes at collection, so the app exists then; its lifespan (registry load) runs in the fixture
DATA_DIR = Path(tempfile.mkdtemp(prefix="partnermatch-schemathesis-"))
APP = create_app(make_settings(DATA_DIR, max_body_bytes=200_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def running_app():
    with TestClient(APP) as client:  # runs the lifespan: registry loaded
        seed(client, registry_records(60, seed=2))
        yield
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    print(f"\nschemathesis: {COUNTER['requests']} requests, statuses {sorted(COUNTER['statuses'])}")
    assert COUNTER["requests"] >= 1000, COUNTER


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
def test_api_never_fails_and_matches_its_schema(case):
    response = case.call_and_validate(headers=WRITE, checks=CHECKS)
    COUNTER["requests"] += 1
    COUNTER["statuses"].add(response.status_code)
