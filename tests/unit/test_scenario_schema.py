"""``wanxin scenario schema``: a JSON Schema of the format, generated from the STEPS registry."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

import cli
from scenarios import schema, spec
from tests.e2e.test_runner import ACTORS, EVERY_STEP
from tests.e2e.test_scenario_any_platform import ACME_STORY


@pytest.fixture(scope="module")
def validator():
    printed = CliRunner().invoke(cli.main, ["scenario", "schema"])
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.output)
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def test_every_shipped_scenario_validates_against_the_schema(validator):
    files = sorted(Path(spec.__file__).parent.glob("*.yaml"))
    assert len(files) >= 15
    for path in files:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
        assert errors == [], path


def test_the_every_step_story_and_an_external_scenario_validate(validator):
    story = yaml.safe_load(ACTORS.format(name="story", seed=1) + EVERY_STEP)
    assert list(validator.iter_errors(story)) == []
    assert list(validator.iter_errors(yaml.safe_load(ACME_STORY))) == []


def test_the_schema_has_one_alternative_per_registered_step():
    assert len(schema.schema()["$defs"]["step"]["anyOf"]) == len(spec.STEPS)


@pytest.mark.parametrize("step", [
    {"recharge": {"user": "ivy", "amount": 10}},               # money as a YAML number
    {"recharge": {"user": "ivy", "amount": "1.00", "colour": "red"}},
    {"open_acount": "ivy"},
    {"gateway": {"request": "u", "password": "1", "outcome": "maybe"}},
    {"http": {"method": "FETCH", "url": "http://a"}},
    {"expect_request": {"request_no": "R", "status": "DONE"}},
])
def test_the_schema_refuses_what_validation_refuses(validator, step):
    doc = {"name": "x", "actors": {"ivy": {"role": "investor"}}, "steps": [step]}
    assert not validator.is_valid(doc)
