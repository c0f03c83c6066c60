"""Schemathesis drives every /sim operation from the published document: never a 500.

Runs in process on the Flask app through WSGI, with the operator credential,
a fixed seed (``derandomize``) and a bounded number of examples per operation.
"""
from __future__ import annotations

import os
import socket
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from bank_depository.app import create_app
from tests.conftest import SIM_HEADERS, bank_config


def _refusing_url() -> str:
    """A loopback URL nobody listens on: notification attempts fail fast, offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/notify"


@pytest.fixture(scope="module")
def sim_schema(tmp_path_factory, keys):
    cfg = bank_config(tmp_path_factory.mktemp("schemathesis"), keys, NOTIFY_TIMEOUT=1.0)
    cfg["PLATFORMS"][0]["notify_url"] = _refusing_url()
    app = create_app(cfg)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(time, "sleep", lambda seconds: None)  # a generated `delay` fault rule must not stall the run
        loaded = schemathesis.openapi.from_wsgi("/openapi.json", app)
        # Valid and invalid inputs both (schemathesis' default): a refusal must be a 4xx, never a 500.
        assert set(loaded.config.generation.modes) == {GenerationMode.POSITIVE, GenerationMode.NEGATIVE}
        yield loaded
    app.extensions["wanxin.bank"].database.close()


schema = schemathesis.pytest.from_fixture("sim_schema")


@schema.include(path_regex="^/sim/").parametrize()
@settings(max_examples=int(os.environ.get("SIM_FUZZ_EXAMPLES", "12")), derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_sim_operation_answers_a_server_error(case):
    case.call_and_validate(headers=SIM_HEADERS, checks=[not_a_server_error])
