"""Many platforms on one bank: each sees only its own users, projects, requests, notifications and
check files, whatever userNo / projectNo / requestNo they choose; platforms registered at run time
reach every worker and survive a restart."""
from __future__ import annotations

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import codes, envelope, signing
from bank_depository.services import platforms
from tests.bank.two_platforms import ACME, ACME_NOTIFY
from tests.conftest import PLATFORM_NO, bank_config, operator_client


def test_the_same_user_no_on_two_platforms_is_two_accounts_with_their_own_balances(two):
    ours, acme = two
    assert ours.open_account(1, user_no="U1") == acme.open_account(1, user_no="U1") == "U1"
    ours.recharge("U1", "100.00")
    acme.recharge("U1", "30.00")
    assert ours.call("QUERY_USER", {"requestNo": "Q1", "userNo": "U1"})["balance"] == "100.00"
    assert acme.call("QUERY_USER", {"requestNo": "Q1", "userNo": "U1"})["balance"] == "30.00"
    assert ours.client.get("/sim/accounts/U1?platformNo=acme").json["available"] == "30.00"
    listed = ours.client.get("/sim/accounts?platformNo=acme").json["users"]
    assert [(u["platformNo"], u["userNo"]) for u in listed] == [(ACME, "U1")]


def test_an_ambiguous_user_no_needs_a_platform_no_at_the_simulator(two):
    ours, acme = two
    ours.open_account(1, user_no="U1")
    acme.open_account(1, user_no="U1")
    resp = ours.client.get("/sim/accounts/U1")
    assert resp.status_code == 400 and "platformNo" in resp.json["error"]["message"]


def test_the_same_project_and_request_numbers_on_two_platforms_never_meet(two):
    ours, acme = two
    for side in two:
        side.open_account(1, "B", user_no="B1")
        side.open_account(2, "I", user_no="I1")
        side.recharge("I1", "500.00")
        assert side.project("P1", "B1", request_no="PRJ1")["respCode"] == codes.SUCCESS
    tender = {"requestNo": "T1", "userNo": "I1", "projectNo": "P1", "bizType": "TENDER", "amount": "200.00"}
    assert ours.call("USER_AUTO_PRE_TRANSACTION", tender)["respCode"] == codes.SUCCESS
    # acme's T1 is its own request: not a replay of ours, not a conflict with it
    other = {**tender, "amount": "50.00"}
    assert acme.call("USER_AUTO_PRE_TRANSACTION", other)["respCode"] == codes.SUCCESS
    assert ours.balances("I1")[:2] == ("300.00", "200.00")
    assert acme.client.get("/sim/accounts/I1?platformNo=acme").json["frozen"] == "50.00"
    projects = ours.client.get("/sim/projects?platformNo=acme").json
    assert [(p["projectNo"], p["tendered"]) for p in projects] == [("P1", "50.00")]


def test_a_request_of_one_platform_can_never_touch_another_platforms_data(two):
    ours, acme = two
    acme.open_account(1, "I", user_no="ONLY_ACME")
    acme.recharge("ONLY_ACME", "100.00")
    acme.open_account(2, "B", user_no="B1")
    acme.project("P1", "B1")
    hold = {"requestNo": "H1", "userNo": "ONLY_ACME", "projectNo": "P1", "bizType": "TENDER", "amount": "10.00"}
    assert acme.call("USER_AUTO_PRE_TRANSACTION", hold)["respCode"] == codes.SUCCESS
    before = ours.snapshot()
    assert ours.call("QUERY_USER", {"requestNo": "Q", "userNo": "ONLY_ACME"})["respCode"] == codes.USER_NOT_FOUND
    assert ours.call("USER_AUTO_PRE_TRANSACTION", {**hold, "requestNo": "H2"})["respCode"] in (
        codes.USER_NOT_FOUND, codes.PROJECT_NOT_FOUND)
    assert ours.call("CANCEL_PRE_TRANSACTION", {"requestNo": "C1", "preRequestNo": "H1", "userNo": "ONLY_ACME",
                                                "amount": "10.00"})["respCode"] != codes.SUCCESS
    assert ours.call("MODIFY_PROJECT", {"requestNo": "M1", "projectNo": "P1", "projectStatus": "MISCARRY"}
                     )["respCode"] == codes.PROJECT_NOT_FOUND
    assert ours.call("QUERY_TRANSACTION", {"requestNo": "QT", "transactionRequestNo": "H1"}
                     )["respCode"] == codes.TRANSACTION_NOT_FOUND
    day = ours.ctx.clock.now().date().isoformat()
    assert "ONLY_ACME" not in ours.call("DOWNLOAD_CHECKFILE", {"requestNo": "CF", "fileDate": day})["content"]
    assert "ONLY_ACME" in acme.call("DOWNLOAD_CHECKFILE", {"requestNo": "CF", "fileDate": day})["content"]
    after = ours.snapshot()
    assert after["accounts"] == before["accounts"] and after["holds"] == before["holds"]
    assert after["projects"] == before["projects"]


def test_a_gateway_confirmation_names_its_platform_and_cannot_finish_anothers_request(two):
    ours, acme = two
    card = acme.card(7)
    payload = {"requestNo": "R1", "userNo": "U7", "fullname": card["fullname"], "idNumber": card["idNumber"],
               "mobile": card["mobile"], "cardNumber": card["cardNumber"], "role": "I",
               "callbackUrl": "http://acme.test/cb"}
    page = acme.client.get("/gateway", query_string=acme.signed("PERSONAL_REGISTER", payload))
    assert page.status_code == 200
    stolen = ours.client.post("/gateway/confirm", data={"platformNo": PLATFORM_NO, "requestNo": "R1",
                                                        "password": "123456", "confirmPassword": "123456"})
    assert stolen.status_code == 400
    assert ours.client.get("/sim/accounts?platformNo=acme").json["users"] == []


def test_notifications_go_to_each_platforms_own_url_and_are_listed_per_platform(two):
    ours, acme = two
    ours.open_account(1, user_no="U1")
    acme.open_account(1, user_no="U1")
    rows = acme.ctx.conn().execute("SELECT platform_no FROM notifications ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [PLATFORM_NO, ACME]
    listed = acme.client.get("/sim/notifications?platformNo=acme").json
    assert [n["platformNo"] for n in listed] == [ACME]
    assert acme.ctx.platform(ACME).notify_url == ACME_NOTIFY


def test_a_request_signed_with_one_platforms_key_under_anothers_number_is_refused_with_a_diagnosis(two):
    ours, acme = two
    fields = acme.signed("QUERY_USER", {"requestNo": "X1", "userNo": "U1"}, platform_no=PLATFORM_NO)
    data = envelope.verify_response(ours.client.post("/service", data=fields).get_data(as_text=True),
                                    ours.keys["bank_public_key"])
    assert data["respCode"] == codes.SIGN_FAIL and "platform acme" in data["respMsg"]
    log = ours.client.get("/sim/requests?status=refused").json
    assert log[-1]["diagnosis"]["matchesPlatform"] == ACME


# -- registration at run time ------------------------------------------------------------------------------
def test_a_platform_registered_at_run_time_is_served_by_every_worker_and_after_a_restart(tmp_path, keys):
    cfg = bank_config(tmp_path, keys)
    worker_a, worker_b = create_app(cfg), create_app(cfg)  # two workers: one database, two processes' state
    private_pem, public_pem = signing.generate_key_pair()
    client_a = operator_client(worker_a)
    resp = client_a.post("/sim/platforms", json={"platformNo": "beta", "publicKey": public_pem.decode(),
                                                  "notifyUrl": "http://beta.test/n", "name": "Beta"})
    assert resp.status_code == 201 and resp.json["platformNo"] == "beta" and resp.json["algorithm"] == signing.SHA256
    key = signing.load_private_key(private_pem)
    fields = envelope.sign_request("QUERY_USER", "beta", {"requestNo": "Q1", "userNo": "nobody"}, key).fields()
    answer = envelope.verify_response(worker_b.test_client().post("/service", data=fields).get_data(as_text=True),
                                      keys["bank_public_key"])
    assert answer["respCode"] == codes.USER_NOT_FOUND  # verified and served: beta is known to worker b
    restarted = create_app(cfg)
    listed = operator_client(restarted).get("/sim/platforms").json
    assert [p["platformNo"] for p in listed] == ["beta", PLATFORM_NO]
    assert [p["notifyUrl"] for p in listed if p["platformNo"] == "beta"] == ["http://beta.test/n"]
    for app in (worker_a, worker_b, restarted):
        app.extensions["wanxin.bank"].database.close()


def test_registering_again_updates_the_platform_and_answers_200(bank):
    _, public_pem = signing.generate_key_pair()
    body = {"platformNo": "beta", "publicKey": public_pem.decode()}
    assert bank.client.post("/sim/platforms", json=body).status_code == 201
    again = bank.client.post("/sim/platforms", json={**body, "notifyUrl": "http://beta.test/x"})
    assert again.status_code == 200 and again.json["notifyUrl"] == "http://beta.test/x"


@pytest.mark.parametrize("body, mentions", [
    ({"platformNo": "beta"}, "publicKey is required"),
    ({"platformNo": "beta", "publicKey": "not a key"}, "cannot load public key"),
    ({"platformNo": "b c", "publicKey": "x"}, "platformNo"),
    ({"platformNo": "beta", "publicKey": "x", "profile": "ancient"}, "profile must be one of"),
    ({"platformNo": "beta", "publicKey": "x", "algorithm": "MD5withRSA"}, "algorithm must be one of"),
    ({"platformNo": "beta", "publicKey": "x", "notifyUrl": "ftp://x"}, "must be an http:// or https:// URL"),
    ({"platformNo": "beta", "publicKey": "x", "colour": "red"}, "unknown field(s) colour"),
])
def test_a_bad_registration_is_refused_with_a_clear_message_and_registers_nothing(bank, body, mentions):
    resp = bank.client.post("/sim/platforms", json=body)
    assert resp.status_code == 400 and mentions in resp.json["error"]["message"]
    assert [p["platformNo"] for p in bank.client.get("/sim/platforms").json] == [PLATFORM_NO]


def test_a_key_file_path_sent_over_the_wire_is_never_read(bank, tmp_path):
    _, public_pem = signing.generate_key_pair()
    path = tmp_path / "pub.pem"
    path.write_bytes(public_pem)
    resp = bank.client.post("/sim/platforms", json={"platformNo": "beta", "publicKey": str(path)})
    assert resp.status_code == 400


# -- the --platform spec -----------------------------------------------------------------------------------
def _key_forms():
    from cryptography.hazmat.primitives import serialization as ser
    import base64
    private_pem, public_pem = signing.generate_key_pair()
    key = signing.load_public_key(public_pem)
    return {"pem": public_pem.decode(),
            "pkcs1": key.public_bytes(ser.Encoding.PEM, ser.PublicFormat.PKCS1).decode(),
            "bare": base64.b64encode(key.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo))
            .decode()}


@pytest.mark.parametrize("form", ["pem", "pkcs1", "bare"])
def test_a_platform_spec_takes_a_pem_pkcs1_or_bare_base64_key_file(tmp_path, form):
    path = tmp_path / "key"
    path.write_text(_key_forms()[form])
    spec = platforms.parse_spec(f"no=acme,key={path},notify=http://acme.test/n,algorithm=SHA1withRSA")
    platform, _ = platforms.build(spec)
    assert (platform.platform_no, platform.algorithm, platform.notify_url, platform.profile.name) == \
        ("acme", signing.SHA1, "http://acme.test/n", "modern")


def test_a_legacy_platform_spec_defaults_to_sha1(tmp_path):
    path = tmp_path / "key"
    path.write_text(_key_forms()["pem"])
    platform, _ = platforms.build(platforms.parse_spec(f"no=old,key={path},profile=legacy"))
    assert platform.algorithm == signing.SHA1 and platform.profile.name == "legacy"


@pytest.mark.parametrize("spec, mentions", [
    ("no=acme", "key= is required"),
    ("key=/x", "no= is required"),
    ("no=acme,key=KEY,colour=red", "'colour=red' is not one of"),
    ("no=acme,key=/does/not/exist", "cannot read key file /does/not/exist"),
    ("no=acme,key=CORRUPT", "cannot load public key"),
    ("no=acme,key=KEY,notify=mailto:x", "must be an http:// or https:// URL"),
    ("no=acme,key=KEY,profile=ancient", "profile must be one of"),
])
def test_a_bad_platform_spec_is_one_line_naming_the_problem(tmp_path, spec, mentions):
    (tmp_path / "key").write_text(_key_forms()["pem"])
    (tmp_path / "corrupt").write_text("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n")
    spec = spec.replace("KEY", str(tmp_path / "key")).replace("CORRUPT", str(tmp_path / "corrupt"))
    with pytest.raises(platforms.PlatformSpecError) as err:
        platforms.parse_spec(spec)
    assert mentions in str(err.value) and "\n" not in str(err.value)
    if "CORRUPT" in spec or "corrupt" in spec:
        assert str(tmp_path / "corrupt") in str(err.value)


def lifecycle(side, scale: int) -> None:
    """Open, fund, tender, loan, repay and sell a claim, with the same numbers on every platform."""
    def yuan(amount: int) -> str:
        return f"{amount * scale}.00"

    def ok(service, payload):
        data = side.call(service, payload)
        assert data["respCode"] == codes.SUCCESS, data
        return data
    side.open_account(1, "B", user_no="B1")
    side.open_account(2, "I", user_no="I1")
    side.open_account(3, "I", user_no="I2")
    for user in ("I1", "I2", "B1"):
        side.recharge(user, yuan(500))
    ok("CREATE_PROJECT", {"requestNo": "PRJ", "userNo": "B1", "projectNo": "P1", "projectAmount": yuan(300),
                          "projectPeriod": 1, "annualRate": "0.12", "repaymentWay": "FIXED"})
    for no, user, amount in (("T1", "I1", 200), ("T2", "I2", 100)):
        ok("USER_AUTO_PRE_TRANSACTION", {"requestNo": no, "userNo": user, "projectNo": "P1", "bizType": "TENDER",
                                         "amount": yuan(amount)})
    ok("CONFIRM_LOAN", {"requestNo": "LOAN", "projectNo": "P1", "commission": "0",
                        "details": [{"preRequestNo": "T1", "amount": yuan(200)},
                                    {"preRequestNo": "T2", "amount": yuan(100)}]})
    ok("MODIFY_PROJECT", {"requestNo": "MOD", "projectNo": "P1", "projectStatus": "REPAYING"})
    ok("USER_AUTO_PRE_TRANSACTION", {"requestNo": "R1", "userNo": "B1", "projectNo": "P1", "bizType": "REPAYMENT",
                                     "amount": yuan(10)})
    ok("CONFIRM_REPAYMENT", {"requestNo": "RPY", "projectNo": "P1", "preRequestNo": "R1", "commission": "0",
                             "details": [{"userNo": "I1", "amount": yuan(10)}]})
    ok("USER_AUTO_PRE_TRANSACTION", {"requestNo": "BUY", "userNo": "I2", "projectNo": "P1",
                                     "bizType": "CREDIT_ASSIGNMENT", "amount": yuan(50)})
    ok("CONFIRM_CREDIT_ASSIGNMENT", {"requestNo": "SELL", "projectNo": "P1", "preRequestNo": "BUY",
                                     "sellerUserNo": "I1", "claimAmount": yuan(50), "commission": "0"})


def test_a_whole_lending_cycle_with_the_same_numbers_on_two_platforms_settles_each_on_its_own(two):
    ours, acme = two
    lifecycle(ours, 1)
    lifecycle(acme, 2)
    for side, scale in ((ours, 1), (acme, 2)):
        assert side.balances("I1")[:2] == (f"{360 * scale}.00", "0.00")  # 500 - 200 + 10 + 50
        assert side.balances("I2")[:2] == (f"{350 * scale}.00", "0.00")  # 500 - 100 - 50
        assert side.balances("B1")[:2] == (f"{790 * scale}.00", "0.00")  # 500 + 300 - 10
        claims = dict(side.ctx.conn().execute("SELECT user_no, principal FROM claims WHERE platform_no = ?",
                                              (side.platform_no,)).fetchall())
        assert claims == {"I1": 140_00 * scale, "I2": 150_00 * scale}
        day = side.ctx.clock.now().date().isoformat()
        content = side.call("DOWNLOAD_CHECKFILE", {"requestNo": "CF", "fileDate": day})["content"]
        # 3 recharges, 2 tenders, the loan, the repayment's hold and settlement, the claim's hold and sale
        assert content.splitlines()[1] == f"{day},{side.platform_no},10,{2220 * scale}.00,0.00"
        assert len(content.splitlines()) == 3 + 10
