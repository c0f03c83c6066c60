"""The ``wanxin`` commands that make the bank a sandbox for any platform, through click's CliRunner
against a live bank on loopback: platforms, the request log, reset, clock set/freeze, faults rm, and
``bank serve --platform`` (its configuration, without starting gunicorn)."""
from __future__ import annotations

import json

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import envelope, operator, signing
from scenarios.harness import LiveServer
from tests.conftest import PLATFORM_NO, SIM_TOKEN, bank_config
from tests.test_cli import assert_one_line_error, invoke, json_of


@pytest.fixture
def served(tmp_path, keys):
    """A live bank with the conftest's platform; the CLI finds it by --bank-url and the token."""
    app = create_app(bank_config(tmp_path, keys))
    server = LiveServer().start(app)
    server.app, server.db, server.keys = app, tmp_path / "bank.sqlite", keys
    yield server
    server.stop()
    app.extensions["wanxin.bank"].database.close()


def run(server, *args):
    return invoke(*args, "--bank-url", server.url, env={"WANXIN_SIM_TOKEN": SIM_TOKEN})


def call(server, service: str, payload: dict, key=None, platform_no: str = PLATFORM_NO):
    import requests
    fields = envelope.sign_request(service, platform_no, payload, key or server.keys["platform_private_key"]).fields()
    return requests.post(server.url + "/service", data=fields, timeout=10)


def key_file(tmp_path, name="acme.pem"):
    private_pem, public_pem = signing.generate_key_pair()
    path = tmp_path / name
    path.write_bytes(public_pem)
    return path, signing.load_private_key(private_pem)


# -- platforms ------------------------------------------------------------------------------------
def test_platforms_add_registers_a_platform_the_bank_then_serves(served, tmp_path):
    path, private = key_file(tmp_path)
    added = json_of(run(served, "platforms", "add", f"no=acme,key={path},notify=http://acme.test/n", "--json"))
    assert (added["platformNo"], added["notifyUrl"], added["algorithm"]) == ("acme", "http://acme.test/n",
                                                                             signing.SHA256)
    listed = json_of(run(served, "platforms", "list", "--json"))
    assert [p["platformNo"] for p in listed] == ["acme", PLATFORM_NO]
    answer = envelope.verify_response(call(served, "QUERY_USER", {"requestNo": "Q1", "userNo": "x"}, private,
                                           "acme").text, served.keys["bank_public_key"])
    assert answer["respCode"] == "600201"
    table = run(served, "platforms", "list")
    assert "acme" in table.stdout and "http://acme.test/n" in table.stdout


def test_platforms_list_reads_the_database_offline(served):
    online = json_of(run(served, "platforms", "list", "--json"))
    offline = json_of(invoke("platforms", "list", "--db", served.db, "--json"))
    assert online == offline


def test_platforms_add_with_a_corrupt_key_file_is_one_line_naming_it(served, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n")
    assert_one_line_error(run(served, "platforms", "add", f"no=acme,key={bad}"), str(bad), "cannot load public key")


# -- the request log ------------------------------------------------------------------------------
def test_requests_list_shows_accepted_and_refused_requests_and_filters(served):
    call(served, "QUERY_USER", {"requestNo": "Q1", "userNo": "nobody"})
    call(served, "QUERY_USER", {"requestNo": "Q2", "userNo": "nobody"}, served.keys["other_private_key"])
    every = json_of(run(served, "requests", "list", "--json"))
    assert [(e["requestNo"], e["respCode"]) for e in every] == [("Q1", "600201"), ("Q2", "00004")]
    refused = json_of(run(served, "requests", "list", "--refused", "--platform-no", PLATFORM_NO, "--json"))
    assert len(refused) == 2
    text = run(served, "requests", "list")
    assert text.exit_code == 0 and "QUERY_USER  Q2  00004" in text.stdout and "diagnosis:" in text.stdout


def test_requests_list_follow_prints_one_json_line_per_request(served):
    call(served, "QUERY_USER", {"requestNo": "Q1", "userNo": "nobody"})
    result = run(served, "requests", "list", "--follow", "--polls", "1", "--json")
    assert result.exit_code == 0
    assert [json.loads(line)["requestNo"] for line in result.stdout.splitlines()] == ["Q1"]


def test_requests_show_has_the_record_and_every_attempt(served):
    call(served, "USER_AUTO_PRE_TRANSACTION", {"requestNo": "T1", "userNo": "u", "projectNo": "p",
                                               "bizType": "TENDER", "amount": "1.00"})
    call(served, "QUERY_USER", {"requestNo": "T1", "userNo": "u"}, served.keys["other_private_key"])
    data = json_of(run(served, "requests", "show", "T1", "--json"))
    assert [r["serviceName"] for r in data["recorded"]] == ["USER_AUTO_PRE_TRANSACTION"]
    assert [e["respCode"] for e in data["log"]] == ["600201", "00004"]
    offline = json_of(invoke("requests", "show", "T1", "--db", served.db, "--json"))
    assert offline == data
    assert run(served, "requests", "show", "T1").exit_code == 0


def test_requests_show_of_an_unknown_request_is_one_line_error(served):
    assert_one_line_error(run(served, "requests", "show", "NOPE"), "no request NOPE")


# -- reset, clock, faults -------------------------------------------------------------------------
def test_bank_reset_empties_the_bank_and_reports_what_went(served):
    served.app.test_client().post("/sim/bank-cards", headers=operator.header(SIM_TOKEN), json={
        "fullname": "张三", "idNumber": "11010519491231002X", "mobile": "13800000000",
        "cardNumber": "6222020000000001", "balance": "10.00"})
    data = json_of(run(served, "bank", "reset", "--json"))
    assert data["platformNo"] is None and data["removed"]["bank_cards"] == 1
    assert json_of(run(served, "accounts", "list", "--json"))["cards"] == []
    assert run(served, "bank", "reset", "--platform-no", PLATFORM_NO).exit_code == 0


def test_bank_reset_of_an_unknown_platform_is_one_line_error(served):
    assert_one_line_error(run(served, "bank", "reset", "--platform-no", "nobody"), "no platform 'nobody'")


def test_clock_set_freeze_and_unfreeze(served):
    assert json_of(run(served, "clock", "set", "2026-03-01T08:00:00", "--json"))["now"].startswith(
        "2026-03-01T08:00:00")
    assert json_of(run(served, "clock", "unfreeze", "--json"))["frozen"] is False
    frozen = json_of(run(served, "clock", "freeze", "--json"))
    assert frozen["frozen"] is True
    assert_one_line_error(run(served, "clock", "set", "2020-01-01T00:00:00"), "back")


def test_faults_rm_removes_one_rule_and_an_unknown_id_is_one_line_error(served):
    first = json_of(run(served, "faults", "set", '{"action": "reject", "service": "QUERY_USER"}', "--json"))
    json_of(run(served, "faults", "set", '{"action": "reject", "service": "CONFIRM_LOAN"}', "--json"))
    assert json_of(run(served, "faults", "rm", str(first["id"]), "--json"))["removed"] is True
    assert [r["service"] for r in json_of(run(served, "faults", "list", "--json"))["rules"]] == ["CONFIRM_LOAN"]
    assert_one_line_error(run(served, "faults", "rm", str(first["id"])), f"no fault rule {first['id']}")


def test_a_misspelt_fault_rule_is_one_line_error_with_a_did_you_mean(served):
    assert_one_line_error(run(served, "faults", "set", '{"action": "reject", "service": "CONFIRM_LAON"}'),
                          "did you mean CONFIRM_LOAN?")


# -- bank serve --platform ------------------------------------------------------------------------
@pytest.fixture
def captured(monkeypatch):
    """bank serve up to the point it would start gunicorn: the app factory and the options."""
    import serving
    seen: dict = {}

    def fake(factory, **options):
        seen["factory"], seen["options"] = factory, options
    monkeypatch.setattr(serving, "serve", fake)
    return seen


def keys_dir(tmp_path):
    from scenarios.harness import write_keys
    write_keys(tmp_path / "keys")
    return tmp_path / "keys"


def served_platforms(seen) -> dict:
    app = seen["factory"]()
    try:
        return {no: (p.profile.name, p.algorithm, p.notify_url)
                for no, p in app.extensions["wanxin.bank"].refresh_platforms().items()}
    finally:
        app.extensions["wanxin.bank"].database.close()


def test_bank_serve_takes_repeatable_platform_specs_without_the_shorthand(tmp_path, captured):
    keys = keys_dir(tmp_path)
    a, _ = key_file(tmp_path, "a.pem")
    b, _ = key_file(tmp_path, "b.pem")
    result = invoke("bank", "serve", "--keys", keys, "--db", tmp_path / "b.sqlite", "--port", "0",
                    "--platform", f"no=acme,key={a},notify=http://acme.test/n",
                    "--platform", f"no=old,key={b},profile=legacy,notify=http://old.test/")
    assert result.exit_code == 0, result.output
    assert served_platforms(captured) == {"acme": ("modern", signing.SHA256, "http://acme.test/n"),
                                          "old": ("legacy", signing.SHA1, "http://old.test/")}


def test_bank_serve_adds_the_shorthand_platform_too_when_platform_no_is_given(tmp_path, captured):
    keys = keys_dir(tmp_path)
    a, _ = key_file(tmp_path, "a.pem")
    result = invoke("bank", "serve", "--keys", keys, "--db", tmp_path / "b.sqlite", "--platform-no", "wanxinp2p",
                    "--platform", f"no=acme,key={a}")
    assert result.exit_code == 0, result.output
    assert set(served_platforms(captured)) == {"acme", "wanxinp2p"}
    assert captured["options"]["host"] == "127.0.0.1"


def test_bank_serve_without_platform_specs_serves_the_shorthand_and_logs_access_unless_quiet(tmp_path, captured):
    keys = keys_dir(tmp_path)
    assert invoke("bank", "serve", "--keys", keys, "--db", tmp_path / "b.sqlite").exit_code == 0
    app = captured["factory"]()
    assert app.config["ACCESS_LOG"] is True and set(app.extensions["wanxin.bank"].refresh_platforms()) == \
        {"wanxinp2p"}
    app.extensions["wanxin.bank"].database.close()
    assert invoke("bank", "serve", "--keys", keys, "--db", tmp_path / "b.sqlite", "--quiet").exit_code == 0
    quiet = captured["factory"]()
    assert quiet.config["ACCESS_LOG"] is False
    quiet.extensions["wanxin.bank"].database.close()


@pytest.mark.parametrize("spec, fragment", [
    ("no=acme,key=MISSING", "cannot read key file"),
    ("no=acme,key=CORRUPT", "cannot load public key"),
    ("no=acme", "key= is required"),
    ("no=acme,key=GOOD,notify=nope", "must be an http:// or https:// URL"),
])
def test_a_bad_platform_spec_stops_bank_serve_with_one_line(tmp_path, captured, spec, fragment):
    keys = keys_dir(tmp_path)
    good, _ = key_file(tmp_path, "good.pem")
    (tmp_path / "corrupt.pem").write_text("not a key at all")
    spec = (spec.replace("MISSING", str(tmp_path / "missing.pem")).replace("CORRUPT", str(tmp_path / "corrupt.pem"))
            .replace("GOOD", str(good)))
    result = invoke("bank", "serve", "--keys", keys, "--db", tmp_path / "b.sqlite", "--platform", spec)
    assert_one_line_error(result, fragment)
    assert "factory" not in captured
    if "corrupt" in spec or "missing" in spec:
        assert spec.split("key=")[1].split(",")[0] in result.stderr


def test_the_same_platform_twice_is_one_line_error(tmp_path, captured):
    keys = keys_dir(tmp_path)
    a, _ = key_file(tmp_path, "a.pem")
    assert_one_line_error(invoke("bank", "serve", "--keys", keys, "--db", tmp_path / "b.sqlite",
                                 "--platform", f"no=acme,key={a}", "--platform", f"no=acme,key={a}"), "twice")


def test_the_sandbox_commands_are_in_the_tree_with_json():
    from tests.test_cli import COMMANDS
    tree = {" ".join(path): command for path, command in COMMANDS}
    for name in ("platforms list", "platforms add", "requests list", "requests show", "bank reset", "clock set",
                 "clock freeze", "clock unfreeze", "faults rm"):
        assert name in tree, name
        assert "as_json" in {p.name for p in tree[name].params}, name
    assert {"platform_specs", "quiet"} <= {p.name for p in tree["bank serve"].params}


@pytest.mark.parametrize("how, said", [
    ({"env": {"WANXIN_SIM_TOKEN": "from-env-token"}}, "operator credential: WANXIN_SIM_TOKEN ("),
    ({"args": ("--sim-token", "given-token")}, "operator credential: the --sim-token given ("),
])
def test_bank_serve_says_where_its_operator_credential_came_from(tmp_path, monkeypatch, how, said):
    import serving
    monkeypatch.setattr(serving, "serve", lambda factory, on_ready, **options: on_ready("127.0.0.1", 1))
    keys = keys_dir(tmp_path)
    result = invoke("bank", "serve", "--keys", keys, "--db", tmp_path / "b.sqlite", *how.get("args", ()),
                    env=how.get("env", {"WANXIN_SIM_TOKEN": None}))
    assert result.exit_code == 0, result.output
    assert said in result.stdout


def test_platforms_add_of_a_registered_platform_says_it_updated_it_and_what_changed(served, tmp_path):
    path, _ = key_file(tmp_path)
    legacy = run(served, "platforms", "add", f"no=acme,key={path},notify=http://acme.test/n,profile=legacy")
    assert legacy.stdout.startswith("platform acme registered (legacy, SHA1withRSA, notify http://acme.test/n)")
    again = run(served, "platforms", "add", f"no=acme,key={path},notify=http://acme.test/m")
    assert again.exit_code == 0, again.output
    assert again.stdout == ("platform acme updated (modern, SHA256withRSA, notify http://acme.test/m): profile legacy"
                            " → modern, algorithm SHA1withRSA → SHA256withRSA, notify http://acme.test/n →"
                            " http://acme.test/m\n")
