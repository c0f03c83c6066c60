"""Scenarios that drive a platform that is not the built-in one (issue 12's first part).

``Acme`` is a tiny WSGI platform of a few routes with its own key and platformNo: it answers the
scenario's ``http`` steps with signed gateway requests, the ``gateway`` step acts as its user on the
bank's pages, and bank-side steps (``expect_balance``, ``deposit_card``, ``fault`` with an actor's
``userNo``, ``expect_request``) check what the bank holds. Templating (``vars:``, ``--var``,
``${env.…}``, ``${actor.…}``, saved values, ``${run}``) is checked before anything runs.
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import cli
from bank_depository.app import create_app
from scenarios import runner, spec, templating
from scenarios.harness import LiveServer
from tests.conftest import START
from tests.e2e.test_foreign_platform import acme_sign

PLATFORM_NO = "acme"


class Acme:
    """A platform of four routes: open an account, recharge, list a user, receive the bank's notifications."""

    def __init__(self, key):
        self.key = key
        self.notified: list[str] = []
        self.credentials: list[str] = []  # Authorization headers that reached this platform
        self.server = make_server("127.0.0.1", 0, self)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __call__(self, environ, start_response):
        req = Request(environ)
        if req.headers.get("Authorization"):
            self.credentials.append(req.headers["Authorization"])
        body = req.get_json(silent=True) or {}
        parts = req.path.strip("/").split("/")
        if req.method == "POST" and parts == ["notify"]:
            self.notified.append(req.form.get("serviceName", ""))
            answer = Response("OK")
        elif req.method == "POST" and parts == ["users"]:
            fields = {k: body[k] for k in ("userNo", "fullname", "idNumber", "mobile", "cardNumber")}
            answer = self._json(acme_sign(self.key, "PERSONAL_REGISTER", {
                "requestNo": "REG-" + body["userNo"], **fields, "role": "I",
                "callbackUrl": "https://acme.example/opened"}), 201)
        elif req.method == "POST" and len(parts) == 3 and parts[0] == "users" and parts[2] == "recharges":
            answer = self._json(acme_sign(self.key, "RECHARGE", {
                "requestNo": body["requestNo"], "userNo": parts[1], "amount": body["amount"],
                "callbackUrl": "https://acme.example/paid"}))
        elif req.method == "GET" and len(parts) == 2 and parts[0] == "users":
            answer = self._json({"data": {"items": [{"userNo": parts[1], "tags": ["a", "b"]}]}})
        else:
            answer = self._json({"error": {"code": "NOT_FOUND", "message": "no such route"}}, 404)
        return answer(environ, start_response)

    @staticmethod
    def _json(obj, status: int = 200) -> Response:
        return Response(json.dumps(obj), status=status, mimetype="application/json")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _pem_public(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def acme():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = Acme(key)
    platform.registration = {"platform_no": PLATFORM_NO, "public_key": _pem_public(key),  # type: ignore[attr-defined]
                             "notify_url": platform.url + "/notify"}
    yield platform
    platform.stop()


ACME_STORY = """\
name: acme opens an account and pays in
platform: external
platform_no: acme
vars:
  amount: "800.00"
actors:
  zoe: {role: investor, card_balance: "1000.00"}
steps:
  - http:
      method: POST
      url: ${acme}/users
      json: {userNo: "zoe-${run}", fullname: "${zoe.fullname}", idNumber: "${zoe.idNumber}",
             mobile: "${zoe.mobile}", cardNumber: "${zoe.cardNumber}"}
      expect: {status: 201, json: {serviceName: PERSONAL_REGISTER, platformNo: acme}}
      save: {register: body}
  - gateway: {request: "${register}", password: "135790", save: {opened: request_no, back: location}}
  - expect_request: {request_no: "${opened}", status: SUCCESS, code: "00000"}
  - http:
      method: GET
      url: ${acme}/users/${zoe.userNo}
      expect: {json: {data: {items: [{tags: [a, b]}]}}}
      save: {who: data.items.0.userNo, got: status}
  - http:
      method: POST
      url: ${acme}/users/${who}/recharges
      json: {amount: "${amount}", requestNo: "RCH-1-${run}"}
      save: {pay: body}
  - gateway: {request: "${pay}", password: "135790"}
  - expect_balance: {zoe: {available: "${amount}", frozen: "0.00", card: "200.00"}}
  - deposit_card: {user: zoe, amount: "50.00"}
  - fault: {action: drop_notification, service: RECHARGE, userNo: zoe, times: 1}
  - http:
      method: POST
      url: ${acme}/users/${who}/recharges
      json: {amount: "10.00", requestNo: "RCH-2-${run}"}
      save: {pay2: body}
  - gateway: {request: "${pay2}", password: "135790", outcome: wrong_password, expect_code: 2}
  - gateway: {request: "${pay2}", password: "135790"}
  - expect_balance: {zoe: {available: "810.00", card: "240.00"}}
  - expect_request: {request_no: "NEVER-${run}", status: NOT_FOUND}
  - expect_notifications: {user: zoe, service: RECHARGE, delivered: 1, dropped: 1}
  - expect_notifications: {user: zoe, delivered: 2, pending: 0, dead: 0}
  - expect_ledger_sound
"""


def write(tmp_path: Path, text: str, name: str = "acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_external_platform_is_driven_by_http_and_gateway_steps_against_an_in_process_bank(acme, tmp_path):
    lines: list[str] = []
    keep = tmp_path / "keep"
    result = runner.run_file(write(tmp_path, ACME_STORY), echo=lines.append, keep=keep,
                             variables={"acme": acme.url}, platforms=[acme.registration])
    assert result.ok, "\n".join(lines)
    # the built-in platform never started: only the bank's database exists
    assert sorted(p.name for p in (keep / "acme").glob("*.sqlite")) == ["bank.sqlite"]
    # the bank notified acme of the opening and the first recharge; the rule dropped the second
    assert acme.notified == ["PERSONAL_REGISTER", "RECHARGE"]
    assert acme.credentials == []  # the bank's operator credential never goes to an absolute URL


@pytest.fixture
def served_bank(acme, tmp_path):
    """A bank served on loopback trusting acme and a second platform, reached with --bank-url."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bank_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = bank_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    app = create_app({"DATABASE": str(tmp_path / "bank.sqlite"), "PRIVATE_KEY": pem,
                      "PLATFORMS": [acme.registration,
                                    {"platform_no": "other", "public_key": _pem_public(other), "notify_url": ""}],
                      "PASSWORD_ITERATIONS": 1000, "CLOCK_FROZEN": True, "CLOCK_START": START,
                      "SIM_TOKEN": "acme-operator"})
    app.extensions["wanxin.dispatcher"].session.trust_env = False
    server = LiveServer().start(app)
    yield server.url
    server.stop()
    app.extensions["wanxin.bank"].database.close()


def wanxin(*args, env: dict | None = None):
    env = {"WANXIN_SIM_TOKEN": "acme-operator", "WANXIN_BANK_URL": None, "WANXIN_PLATFORM_URL": None, **(env or {})}
    try:
        cli_runner = CliRunner(env=env, mix_stderr=False)  # click 8.1
    except TypeError:
        cli_runner = CliRunner(env=env)
    return cli_runner.invoke(cli.main, [str(a) for a in args])


def test_with_bank_url_the_external_scenario_runs_as_its_platform_twice_in_a_row(acme, served_bank, tmp_path):
    path = write(tmp_path, ACME_STORY)
    for _ in range(2):  # ${run} and the run's own identities keep a second run from colliding
        done = wanxin("scenario", "run", path, "--bank-url", served_bank, "--var", f"acme={acme.url}")
        assert done.exit_code == 0, done.output
        assert "1 scenario(s) passed, 0 failed" in done.stdout


def test_a_failed_http_expectation_prints_the_request_and_the_response(acme, tmp_path):
    text = ACME_STORY.split("steps:")[0] + f"""steps:
  - http:
      method: POST
      url: {acme.url}/nowhere
      json: {{hello: world}}
      expect: {{status: 200, json: {{ok: true}}}}
"""
    lines: list[str] = []
    result = runner.run_file(write(tmp_path, text), echo=lines.append, platforms=[acme.registration])
    assert not result.ok
    detail = result.steps[0].detail
    assert "status expected 200, actual 404" in detail and "json.ok missing" in detail
    assert f"request: POST {acme.url}/nowhere" in detail and '{"hello": "world"}' in detail
    assert "response: 404" in detail and "no such route" in detail


def test_expect_json_is_a_subset_match_with_lists_element_by_element():
    assert runner._subset({"a": 1}, {"a": 1, "b": 2}, "json") == []
    assert runner._subset({"l": [1, {"x": 2}]}, {"l": [1, {"x": 2, "y": 3}]}, "json") == []
    assert runner._subset({"l": [1, 2]}, {"l": [1]}, "json") == ["json.l expected a list of 2, actual [1]"]
    assert runner._subset({"l": [1, 3]}, {"l": [1, 2]}, "json") == ["json.l.1 expected 3, actual 2"]


# -- templating, checked before anything runs -----------------------------------
BASE = {"name": "t", "platform": "external", "actors": {"zoe": {"role": "investor", "card_balance": "1.00"}}}


def parse(steps: list, **kw) -> spec.Scenario:
    return spec.parse({**BASE, **kw.pop("top", {}), "steps": steps}, "t.yaml", env=kw.pop("env", {}), **kw)


def test_vars_give_defaults_and_var_overrides_them_and_env_is_read():
    s = parse([{"http": {"method": "GET", "url": "${base}/x/${env.WHO}", "expect": {"status": "${code}"}}}],
              top={"vars": {"base": "http://a", "code": 204}}, variables={"base": "http://b"}, env={"WHO": "me"})
    assert s.steps[0].arg["url"] == "http://b/x/me"
    assert s.steps[0].arg["expect"]["status"] == 204  # a string that is exactly ${x} keeps the value's type


def test_an_undefined_name_is_reported_with_file_step_line_and_a_suggestion():
    steps = [{"http": {"method": "GET", "url": "http://a", "save": {"user_no": "data.userNo"}}},
             {"http": {"method": "GET", "url": "http://a/${user_n}"}}]
    with pytest.raises(spec.ScenarioError) as caught:
        parse(steps)
    assert re.search(r"t\.yaml: step 2 \(line \d+\): undefined name \$\{user_n\}.*did you mean 'user_no'",
                     str(caught.value))


def test_a_saved_name_used_before_the_step_that_saves_it_is_undefined():
    steps = [{"http": {"method": "GET", "url": "http://a/${later}"}},
             {"http": {"method": "GET", "url": "http://a", "save": {"later": "status"}}}]
    with pytest.raises(spec.ScenarioError, match=r"step 1 .*undefined name \$\{later\}"):
        parse(steps)


def test_actor_fields_env_and_actor_names_are_checked():
    with pytest.raises(spec.ScenarioError, match=r"unknown actor field 'idnumber'.*did you mean 'idNumber'"):
        parse([{"http": {"method": "GET", "url": "http://a/${zoe.idnumber}"}}])
    with pytest.raises(spec.ScenarioError, match=r"unknown actor 'zoey'.*did you mean 'zoe'"):
        parse([{"http": {"method": "GET", "url": "http://a/${zoey.mobile}"}}])
    with pytest.raises(spec.ScenarioError, match="environment variable 'NOPE' is not set"):
        parse([{"http": {"method": "GET", "url": "http://a/${env.NOPE}"}}])
    assert parse([{"http": {"method": "GET", "url": "http://a/${zoe.userNo}/${run}"}}]).steps[0].arg["url"] \
        == "http://a/${zoe.userNo}/${run}"  # known only when the step runs


def test_a_whole_string_reference_keeps_a_mapping_and_text_interpolates_it():
    saved = {"g": {"reqData": "x"}, "n": 3}
    look = lambda name: saved[name] if name in saved else (_ for _ in ()).throw(templating.Unresolved(name))  # noqa: E731
    assert templating.substitute({"request": "${g}"}, look) == {"request": {"reqData": "x"}}
    assert templating.substitute("n=${n}, left ${other}", look) == "n=3, left ${other}"


def test_an_external_scenario_refuses_steps_of_the_built_in_platform():
    with pytest.raises(spec.ScenarioError, match=r"step 1 \(open_account.*drives the built-in platform"):
        parse([{"open_account": "zoe"}])


def test_the_new_steps_refuse_bad_arguments_before_anything_runs():
    cases = [({"http": {"method": "FETCH", "url": "http://a"}}, "method must be one of"),
             ({"http": {"method": "GET", "url": "http://a", "expect": {"statuss": 200}}}, "did you mean 'status'"),
             ({"expect_request": {"request_no": "R1", "status": "SUCESS"}}, "did you mean 'SUCCESS'"),
             ({"gateway": {"request": "http://b/gateway", "password": "1", "outcome": "cancell"}},
              "did you mean 'cancel'"),
             ({"gateway": {"request": "http://b/gateway", "password": "1", "save": {"x": "cod"}}},
              "did you mean 'code'")]
    for step, message in cases:
        with pytest.raises(spec.ScenarioError, match=re.escape(message)):
            parse([step])


def test_var_on_the_command_line_must_be_name_equals_value(tmp_path):
    path = write(tmp_path, ACME_STORY)
    bad = wanxin("scenario", "validate", path, "--var", "acme")
    assert bad.exit_code == 2 and "--var needs NAME=VALUE" in bad.output
    missing = wanxin("scenario", "validate", path)
    assert missing.exit_code != 0 and "undefined name ${acme}" in missing.output
    good = wanxin("scenario", "validate", path, "--var", "acme=http://127.0.0.1:9")
    assert good.exit_code == 0, good.output


# -- every problem in one pass ---------------------------------------------------
MANY_PROBLEMS = """\
name: many problems
actors:
  bob: {role: borrower, card_balance: "100.00"}
  ivy: {role: investor, card_balance: "100.00"}
steps:
  - open_acount: ivy
  - recharge: {user: ivi, amount: "10.00"}
  - recharge: {user: ivy, amount: 10}
  - create_project: {name: kiosk, borrower: bob, amount: "100.00", periods: 1, method: bullet, rate: "0.1"}
  - approve_project: kiosks
  - tender: {user: ivy, project: kiosk, amount: "10.00"}
  - http: {method: GET, url: "http://a/${nope}"}
"""


def test_every_problem_of_a_file_is_reported_in_one_pass_with_suggestions(tmp_path):
    with pytest.raises(spec.ScenarioError) as caught:
        spec.load(write(tmp_path, MANY_PROBLEMS, "many.yaml"))
    problems = caught.value.problems
    assert [re.match(r".*?: step (\d+)", p).group(1) for p in problems] == ["1", "2", "3", "4", "5", "7"]
    assert "unknown step 'open_acount' (did you mean 'open_account'?)" in problems[0]
    assert "unknown actor 'ivi' (did you mean 'ivy'?)" in problems[1]
    assert 'amount is a YAML number (10); quote amounts: "10.00"' in problems[2]
    assert "unknown key(s) rate (did you mean 'annual_rate'?)" in problems[3]
    assert "unknown project 'kiosks' (did you mean 'kiosk'?)" in problems[4]  # the refused step still declared it
    assert "undefined name ${nope}" in problems[5]
    assert all("line " in p for p in problems)


def test_the_cli_prints_every_problem_of_every_file(tmp_path):
    one = write(tmp_path, MANY_PROBLEMS, "one.yaml")
    two = write(tmp_path, MANY_PROBLEMS.replace("open_acount", "open_account"), "two.yaml")
    done = wanxin("scenario", "validate", one, two)
    assert done.exit_code != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 11 and all(line.startswith("✗ ") for line in lines)
    assert sum(str(two) in line for line in lines) == 5


def test_a_card_balance_written_as_a_yaml_number_is_refused(tmp_path):
    text = 'name: x\nactors: {ivy: {role: investor, card_balance: 6000}}\nsteps: [open_account: ivy]\n'
    with pytest.raises(spec.ScenarioError, match=r'card_balance is a YAML number \(6000\); quote amounts: "6000.00"'):
        spec.load(write(tmp_path, text, "n.yaml"))


def test_the_readme_example_for_your_own_platform_is_a_valid_scenario():
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = text.index("## Scenarios for your own platform")
    block = text[text.index("```yaml\n", start) + 8:text.index("```\n", text.index("```yaml\n", start) + 8)]
    import yaml
    s = spec.parse(yaml.safe_load(block), "README.md", env={})
    assert s.platform == "external" and s.platform_no == "acme"
    assert [st.name for st in s.steps][:3] == ["http", "gateway", "expect_request"]


def test_scenario_run_platform_makes_the_in_process_bank_trust_that_platform(acme, tmp_path):
    key_file = tmp_path / "acme_public.pem"
    key_file.write_text(acme.registration["public_key"], encoding="utf-8")
    spec_text = f"no=acme,key={key_file},notify={acme.url}/notify"
    done = wanxin("scenario", "run", write(tmp_path, ACME_STORY), "--var", f"acme={acme.url}", "--platform", spec_text)
    assert done.exit_code == 0, done.output
    assert acme.notified == ["PERSONAL_REGISTER", "RECHARGE"]


def test_platform_no_must_name_a_platform_of_the_bank_and_is_needed_when_it_has_several(acme, served_bank, tmp_path):
    typo = wanxin("scenario", "run", write(tmp_path, ACME_STORY.replace("platform_no: acme", "platform_no: acmee")),
                  "--bank-url", served_bank, "--var", f"acme={acme.url}")
    assert typo.exit_code == 1
    assert "the bank has no platform 'acmee' (did you mean 'acme'?); it has acme, other" in typo.output
    unnamed = wanxin("scenario", "run", write(tmp_path, ACME_STORY.replace("platform_no: acme\n", ""), "b.yaml"),
                     "--bank-url", served_bank, "--var", f"acme={acme.url}")
    assert unnamed.exit_code == 1 and "give platform_no:" in unnamed.output


def test_without_platform_no_the_in_process_bank_s_only_platform_is_used(acme, tmp_path):
    lines: list[str] = []
    result = runner.run_file(write(tmp_path, ACME_STORY.replace("platform_no: acme\n", "")), echo=lines.append,
                             variables={"acme": acme.url}, platforms=[acme.registration])
    assert result.ok, "\n".join(lines)


def test_a_negative_amount_says_it_must_be_positive():
    base = {"name": "x", "actors": {"ivy": {"role": "investor"}}}
    with pytest.raises(spec.ScenarioError, match=r"bad amount '-5' for amount: must be positive$"):
        spec.parse({**base, "steps": [{"recharge": {"user": "ivy", "amount": "-5"}}]})
    with pytest.raises(spec.ScenarioError, match=r"bad amount '-1' for card_balance: must be positive or zero$"):
        spec.parse({**base, "actors": {"ivy": {"role": "investor", "card_balance": "-1"}}, "steps": ["run_daily"]})


def test_the_sandbox_can_start_the_bank_alone(tmp_path):
    from scenarios.harness import Sandbox
    with Sandbox(tmp_path / "alone", with_platform=False) as sb:
        assert sb.platform_url == "" and sb.platform_app is None and sb.platform_ctx is None
        import requests
        listed = requests.get(sb.bank_url + "/sim/platforms", headers={"Authorization": "Bearer " + sb.sim_token},
                              timeout=30)
        assert [p["platformNo"] for p in listed.json()] == ["wanxinp2p"]
        sb.advance(60)  # only the bank's clock to move
    assert not (tmp_path / "alone" / "platform.sqlite").exists()


def test_a_status_given_on_the_command_line_is_a_number_to_http():
    s = parse([{"http": {"method": "GET", "url": "http://a", "expect": {"status": "${code}"}}}],
              top={"vars": {"code": 200}}, variables={"code": "201"})
    assert s.steps[0].arg["expect"]["status"] == 201


def test_top_level_problems_and_step_problems_are_reported_together():
    data = {"name": "x", "colur": "red", "seed": "one", "profile": "java",
            "actors": {"ivy": {"role": "investor"}}, "steps": [{"open_account": "ivv"}]}
    with pytest.raises(spec.ScenarioError) as caught:
        spec.parse(data, "t.yaml")
    problems = caught.value.problems
    assert len(problems) == 4
    assert "unknown top-level key(s): colur" in problems[0]
    assert "seed must be an integer" in problems[1] and "profile must be one of" in problems[2]
    assert "unknown actor 'ivv' (did you mean 'ivy'?)" in problems[3]


ENUM_PROBLEMS = """\
name: enumerations
actors:
  bob: {role: borrower, card_balance: "100.00"}
  ivy: {role: investor, card_balance: "100.00"}
steps:
  - open_account: bob
  - create_project: {name: p, borrower: bob, amount: "100.00", periods: 1, method: bullet}
  - expect_project: {p: COLECTING}
  - expect_plan: {project: p, period: 1, status: PAYED}
  - expect_reconciled: {breaks: [{kind: missing_at_bnak}]}
  - fault: {action: lose_response, service: RECHARGE, userNo: ivvy}
  - expect_notifications: {service: RECHARG, delivered: 1}
  - fault: {action: lose_response, service: RECHARGE, userNo: "BANK-USER-000123"}
"""


def test_statuses_break_kinds_notified_services_and_actor_names_in_fault_rules_are_checked_in_one_pass(tmp_path):
    with pytest.raises(spec.ScenarioError) as caught:
        spec.load(write(tmp_path, ENUM_PROBLEMS, "enums.yaml"))
    problems = caught.value.problems
    assert [re.match(r".*?: step (\d+)", p).group(1) for p in problems] == ["3", "4", "5", "6", "7"]
    assert "p: status 'COLECTING' is not one of DRAFT, COLLECTING" in problems[0]
    assert "(did you mean 'COLLECTING'?)" in problems[0]
    assert "status 'PAYED' is not one of UNPAID, FROZEN, PAID (did you mean 'PAID'?)" in problems[1]
    assert "break kind 'missing_at_bnak' is not one of" in problems[2] and "'missing_at_bank'?" in problems[2]
    assert "userNo 'ivvy' is not an actor (did you mean 'ivy'?)" in problems[3]
    assert "service 'RECHARG' is never notified (did you mean 'RECHARGE'?)" in problems[4]


ACTOR_TYPOS = """name: typos
platform: external
vars: {own: "http://127.0.0.1:1"}
actors:
  zoe: {role: investor, card_balanse: "1000.00"}
  ivy: {role: investr, card_balance: 500}
steps:
  - http: {methd: GET, url: "${onw}/users"}
  - expect_balance: {zoee: {available: "10.00"}}
  - deposit_card: {user: ivy, amount: -5}
"""


def test_every_actor_problem_and_every_step_after_them_are_reported_in_one_pass(tmp_path):
    with pytest.raises(spec.ScenarioError) as caught:
        spec.load(write(tmp_path, ACTOR_TYPOS, "typos.yaml"))
    problems = caught.value.problems
    assert "actor 'zoe': unknown key(s) card_balanse (did you mean 'card_balance'?)" in problems[0]
    assert "actor 'ivy': role must be borrower or investor, got 'investr' (did you mean 'investor'?)" in problems[1]
    assert 'actor \'ivy\': card_balance is a YAML number (500); quote amounts: "500.00"' in problems[2]
    assert "step 1 (line 8): undefined name ${onw}" in problems[3] and "(did you mean 'own'?)" in problems[3]
    assert "step 1 (http, line 8): unknown key(s) methd (did you mean 'method'?)" in problems[4]
    assert "step 2 (expect_balance, line 9): unknown actor 'zoee' (did you mean 'zoe'?)" in problems[5]
    assert "bad amount -5 for amount: must be positive" in problems[6]
    assert len(problems) == 7


def test_an_in_process_run_for_a_platform_the_bank_lacks_says_how_to_add_it(tmp_path):
    done = wanxin("scenario", "run", write(tmp_path, ACME_STORY), "--var", "acme=http://127.0.0.1:9")
    assert done.exit_code == 1
    assert "the bank has no platform 'acme'; it has wanxinp2p (the bank runs in process: give --platform" \
           " no=acme,key=PATH,notify=URL" in done.output


def test_an_in_process_bank_for_an_external_platform_prints_its_url(acme, tmp_path):
    key_file = tmp_path / "acme_public.pem"
    key_file.write_text(acme.registration["public_key"], encoding="utf-8")
    done = wanxin("scenario", "run", write(tmp_path, ACME_STORY), "--var", f"acme={acme.url}",
                  "--platform", f"no=acme,key={key_file},notify={acme.url}/notify")
    assert done.exit_code == 0, done.output
    assert re.search(r"^  bank in process at http://127\.0\.0\.1:\d+$", done.stdout, re.M), done.stdout


@pytest.mark.parametrize("token, sent", [("", "this run sent none"),
                                         ("wrong", "this run sent a credential that server does not accept")])
def test_a_refused_operator_credential_says_what_the_run_sent_and_how_to_give_one(acme, served_bank, tmp_path,
                                                                                 token, sent):
    done = wanxin("scenario", "run", write(tmp_path, ACME_STORY), "--bank-url", served_bank,
                  "--var", f"acme={acme.url}", env={"WANXIN_SIM_TOKEN": token})
    assert done.exit_code == 1
    assert "UNAUTHORIZED: the simulator's control API needs the operator credential" in done.output
    assert f"; {sent}: give --sim-token or set WANXIN_SIM_TOKEN" in done.output


def test_a_fault_step_reports_its_action_its_service_and_its_user_together():
    text = ("name: f\nactors: {zoe: {role: investor}}\nsteps:\n"
            "  - fault: {action: lose_respons, service: RECHARG, userNo: zoee}\n")
    import yaml
    with pytest.raises(spec.ScenarioError) as caught:
        spec.parse(yaml.safe_load(text), "f.yaml", env={})
    problems = caught.value.problems
    assert len(problems) == 3 and all(p.startswith("f.yaml: step 1 (fault, line 0): ") for p in problems)
    assert "action 'lose_respons' is unknown" in problems[0]
    assert "service 'RECHARG' would never match" in problems[1]
    assert "userNo 'zoee' is not an actor (did you mean 'zoe'?)" in problems[2]
