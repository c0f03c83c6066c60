"""``wait_for_notification``: dispatch until the platform acknowledges, or say what happened to it.

A platform (``Moody``, the ``acme`` test platform with a notify endpoint that answers as told) opens
an account; the step waits for the bank's PERSONAL_REGISTER notification. A refused attempt is
retried at once (``POST /sim/notifications/{id}/due``) instead of waiting out the backoff on the
bank's clock; a dropped, never-queued or never-acknowledged notification fails the step with its
attempts, state and last answer. Only notifications of the run count.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Response

from scenarios import runner, spec
from tests.e2e.test_scenario_any_platform import PLATFORM_NO, Acme, _pem_public, served_bank, wanxin  # noqa: F401

HEAD = """\
name: waiting for the bank's notification
platform: external
platform_no: acme
actors:
  zoe: {role: investor, card_balance: "100.00"}
steps:
  - http:
      method: POST
      url: ${acme}/users
      json: {userNo: "zoe-${run}", fullname: "${zoe.fullname}", idNumber: "${zoe.idNumber}",
             mobile: "${zoe.mobile}", cardNumber: "${zoe.cardNumber}"}
      expect: {status: 201}
      save: {register: body}
"""
OPEN = HEAD + """\
  - gateway: {request: "${register}", password: "135790"}
"""


class Moody(Acme):
    """The acme platform whose notify endpoint gives the answers queued in ``answers`` first, then OK."""

    def __init__(self, key):
        self.answers: list[tuple[int, str]] = []
        super().__init__(key)

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/notify" and self.answers:
            status, body = self.answers.pop(0)
            return Response(body, status=status)(environ, start_response)
        return super().__call__(environ, start_response)


@pytest.fixture
def acme():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = Moody(key)
    platform.registration = {"platform_no": PLATFORM_NO, "public_key": _pem_public(key),  # type: ignore[attr-defined]
                             "notify_url": platform.url + "/notify"}
    yield platform
    platform.stop()


def run(acme, tmp_path: Path, text: str) -> tuple[runner.RunResult, list[str]]:
    path = tmp_path / "wait.yaml"
    path.write_text(text, encoding="utf-8")
    lines: list[str] = []
    result = runner.run_file(path, echo=lines.append, variables={"acme": acme.url}, platforms=[acme.registration])
    return result, lines


def test_a_refused_notification_is_retried_at_once_until_the_platform_acknowledges_it(acme, tmp_path):
    acme.answers = [(500, "busy"), (200, "NOT OK")]
    result, lines = run(acme, tmp_path, OPEN + """\
  - wait_for_notification: {service: PERSONAL_REGISTER, user: zoe}
  - expect_notifications: {service: PERSONAL_REGISTER, delivered: 1, pending: 0}
""")
    assert result.ok, "\n".join(lines)
    waited = result.steps[2]
    assert waited.name == "wait_for_notification"
    assert "acknowledged after 3 attempt(s)" in waited.detail
    assert waited.seconds < 5  # not the 10 s + 30 s backoff of the bank's schedule
    assert acme.notified == ["PERSONAL_REGISTER"]  # only the acknowledged attempt reached acme's own handler


def test_a_notification_never_acknowledged_fails_with_its_attempts_and_last_answer(acme, tmp_path):
    acme.answers = [(500, "database is down")] * 200
    result, lines = run(acme, tmp_path, OPEN + """\
  - wait_for_notification: {service: PERSONAL_REGISTER, user: zoe, timeout_s: 0.5}
""")
    assert not result.ok
    detail = result.steps[-1].detail
    assert "PERSONAL_REGISTER notification" in detail and "is PENDING after" in detail
    assert ": not acknowledged (HTTP 500), body 'database is down'" in detail
    assert "next attempt due" in detail and "after waiting" in detail
    assert "step 3 (wait_for_notification, line" in "\n".join(lines)


def test_a_dropped_notification_fails_at_once_naming_the_fault_rule(acme, tmp_path):
    text = HEAD + """\
  - fault: {action: drop_notification, service: PERSONAL_REGISTER}
  - gateway: {request: "${register}", password: "135790"}
  - wait_for_notification: {service: PERSONAL_REGISTER, user: zoe}
"""
    result, lines = run(acme, tmp_path, text)
    assert not result.ok
    detail = result.steps[-1].detail
    assert "is DROPPED after 0 attempt(s)" in detail and "dropped by fault rule" in detail
    assert result.steps[-1].seconds < 5  # a dropped notification is final: no waiting for the timeout


def test_no_notification_queued_says_so_after_the_timeout(acme, tmp_path):
    result, _ = run(acme, tmp_path, OPEN + """\
  - wait_for_notification: {service: RECHARGE, user: zoe, timeout_s: 0.2}
""")
    assert not result.ok
    assert result.steps[-1].detail.startswith("no RECHARGE notification for zoe (")
    assert "was queued during this run" in result.steps[-1].detail


def test_against_a_served_bank_only_the_run_s_own_notifications_count(acme, served_bank, tmp_path):  # noqa: F811
    dropped = tmp_path / "dropped.yaml"
    dropped.write_text(HEAD + """\
  - fault: {action: drop_notification, service: PERSONAL_REGISTER}
  - gateway: {request: "${register}", password: "135790"}
  - expect_notifications: {service: PERSONAL_REGISTER, user: zoe, dropped: 1}
""", encoding="utf-8")
    done = wanxin("scenario", "run", dropped, "--bank-url", served_bank, "--var", f"acme={acme.url}")
    assert done.exit_code == 0, done.output
    later = tmp_path / "later.yaml"
    later.write_text(HEAD + "  - wait_for_notification: {service: PERSONAL_REGISTER, timeout_s: 0.3}\n",
                     encoding="utf-8")
    done = wanxin("scenario", "run", later, "--bank-url", served_bank, "--var", f"acme={acme.url}")
    assert done.exit_code != 0
    assert "no PERSONAL_REGISTER notification was queued during this run" in done.stdout  # not the earlier DROPPED


def test_wait_for_notification_mistakes_are_all_reported_before_anything_runs(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("""\
name: bad waits
platform: external
actors:
  zoe: {role: investor}
  fans: {role: investor, count: 2}
steps:
  - wait_for_notification: {service: RECHARG}
  - wait_for_notification: {service: CONFIRM_LOAN}
  - wait_for_notification: {service: RECHARGE, user: zeo}
  - wait_for_notification: {service: RECHARGE, user: fans}
  - wait_for_notification: {service: RECHARGE, timeout_s: 0}
  - wait_for_notification: {service: RECHARGE, timeout: 5}
  - wait_for_notification: {user: zoe}
""", encoding="utf-8")
    with pytest.raises(spec.ScenarioError) as caught:
        spec.load(path)
    problems = caught.value.problems
    assert len(problems) == 7, problems
    assert "step 1" in problems[0] and "'RECHARG' is unknown (did you mean 'RECHARGE'?)" in problems[0]
    assert "'CONFIRM_LOAN' is answered directly and sends no notification" in problems[1]
    assert "unknown actor 'zeo' (did you mean 'zoe'?)" in problems[2]
    assert "names one actor, not a group" in problems[3]
    assert "timeout_s must be a number of seconds > 0" in problems[4]
    assert "unknown key(s) timeout (did you mean 'timeout_s'?)" in problems[5]
    assert "missing key(s) service" in problems[6]
