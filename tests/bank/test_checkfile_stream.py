"""The streamed check file (``POST /checkfile``): the same bytes as DOWNLOAD_CHECKFILE, then a signed trailer.

The stream is read from one SQLite snapshot in chunks; its last line signs the
hash of every byte before the signature with the platform's algorithm, so a
reader can verify it without holding the file. Refusals are the ordinary
signed JSON answers of ``/service``.
"""
from __future__ import annotations

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import envelope, signing, trailer
from bank_depository.services import checkfile
from tests.conftest import BankDriver, bank_config

from tests.bank.test_checkfile import DAY, checkfile as respdata_checkfile, script_day, tick


def stream(bank, day: str, service: str = "DOWNLOAD_CHECKFILE", **kw):
    return bank.client.post("/checkfile", data=bank.signed(service, {"requestNo": bank.next_no("CFS"),
                                                                     "fileDate": day}, **kw))


def split(body: bytes) -> tuple[bytes, bytes]:
    content, _, last = body[:-1].rpartition(b"\n")
    return content + b"\n", last + b"\n"


def refusal(resp, keys) -> dict:
    assert resp.status_code == 200 and resp.content_type.startswith("application/json")
    return envelope.verify_response(resp.get_data(as_text=True), keys["bank_public_key"])


def test_the_stream_is_the_respdata_content_byte_for_byte_followed_by_a_trailer_that_verifies(bank, keys):
    script_day(bank)
    content = respdata_checkfile(bank, DAY)["content"].encode("utf-8")

    resp = stream(bank, DAY)

    assert resp.status_code == 200 and resp.content_type == "text/csv; charset=utf-8"
    assert (resp.headers["X-Checkfile-Date"], resp.headers["X-Checkfile-Closed"]) == (DAY, "false")
    body, last = split(resp.get_data())
    assert body == content
    verifier = trailer.Verifier(signing.SHA256)
    verifier.feed(body)
    assert verifier.check(last, keys["bank_public_key"], DAY) == trailer.Verified(DAY, False, len(content))
    prefix, _, signature = last[:-1].rpartition(b",")
    assert prefix == f"#SIGNATURE,{DAY},0,{len(content)},SHA256withRSA".encode()
    assert signing.verify(keys["bank_public_key"], body + prefix + b",", signature.decode(), signing.SHA256)


def test_a_closed_day_streams_the_same_bytes_every_time_and_says_it_is_closed(bank, keys):
    script_day(bank)
    open_body, _ = split(stream(bank, DAY).get_data())
    tick(bank, 86400)

    first, second = stream(bank, DAY).get_data(), stream(bank, DAY).get_data()

    assert first == second and split(first)[0] == open_body
    assert split(first)[1].startswith(f"#SIGNATURE,{DAY},1,".encode())


def test_a_long_file_goes_out_in_many_chunks_with_the_same_bytes(bank, monkeypatch):
    script_day(bank)
    whole = stream(bank, DAY).get_data()
    monkeypatch.setattr(checkfile, "CHUNK_BYTES", 100)

    chunks = list(stream(bank, DAY).response)

    assert len(chunks) > 10 and b"".join(chunks) == whole
    assert all(len(c) < 100 + 200 for c in chunks[:-1])


def test_the_stream_reads_one_snapshot_while_the_bank_keeps_moving_money(bank, monkeypatch):
    script_day(bank)
    before = stream(bank, DAY).get_data()
    monkeypatch.setattr(checkfile, "CHUNK_BYTES", 100)
    chunks = iter(stream(bank, DAY).response)
    started = [next(chunks)]

    bank.recharge("USR_0002", "1.00")  # committed while the stream is half read
    rest = list(chunks)

    assert b"".join(started + rest) == before
    assert respdata_checkfile(bank, DAY)["count"] == 13


def test_an_empty_day_is_the_three_header_lines_and_a_trailer(bank, keys):
    tick(bank, 86400)
    body, last = split(stream(bank, "2026-01-05").get_data())
    assert body == respdata_checkfile(bank, "2026-01-05")["content"].encode() and body.count(b"\n") == 3
    verifier = trailer.Verifier(signing.SHA256)
    verifier.feed(body)
    assert verifier.check(last, keys["bank_public_key"], "2026-01-05").closed is True


def test_a_future_or_malformed_date_is_a_signed_refusal(bank, keys):
    assert refusal(stream(bank, "2026-01-06"), keys)["respCode"] == "40002"
    malformed = refusal(stream(bank, "2026-13-01"), keys)
    assert malformed["respCode"] == "00003" and "fileDate" in malformed["respMsg"]


def test_only_download_checkfile_is_served_and_only_to_a_verified_platform(bank, keys):
    wrong = refusal(stream(bank, DAY, service="QUERY_USER"), keys)
    assert wrong["respCode"] == "00006"
    forged = refusal(stream(bank, "2026-01-05", key=keys["other_private_key"]), keys)
    assert forged["respCode"] == "00004"
    missing = refusal(bank.client.post("/checkfile", data={"serviceName": "DOWNLOAD_CHECKFILE"}), keys)
    assert missing["respCode"] == "00003"


def test_fault_rules_reject_or_cut_the_stream_before_its_trailer(bank, keys):
    bank.client.post("/sim/faults", json={"action": "reject", "code": "00001", "service": "DOWNLOAD_CHECKFILE"})
    assert refusal(stream(bank, "2026-01-05"), keys)["respCode"] == "00001"
    whole = stream(bank, "2026-01-05").get_data()

    bank.client.post("/sim/faults", json={"action": "lose_response", "service": "DOWNLOAD_CHECKFILE"})
    cut = stream(bank, "2026-01-05")

    assert cut.status_code == 200 and cut.get_data() == split(whole)[0]
    assert b"#SIGNATURE" not in cut.get_data()


def test_a_legacy_platform_gets_a_trailer_signed_with_its_own_algorithm(tmp_path, keys):
    cfg = bank_config(tmp_path, keys)
    cfg["PLATFORMS"] = [dict(cfg["PLATFORMS"][0], algorithm=signing.SHA1)]
    app = create_app(cfg)
    try:
        bank = BankDriver(app, keys)
        req = envelope.sign_request("DOWNLOAD_CHECKFILE", "wanxinp2p", {"requestNo": "L1", "fileDate": "2026-01-05"},
                                    keys["platform_private_key"], signing.SHA1)
        body, last = split(bank.client.post("/checkfile", data=req.fields()).get_data())
        assert last.startswith(f"#SIGNATURE,2026-01-05,0,{len(body)},SHA1withRSA,".encode())
        verifier = trailer.Verifier(signing.SHA1)
        verifier.feed(body)
        assert verifier.check(last, keys["bank_public_key"], "2026-01-05").size == len(body)
        with pytest.raises(trailer.TrailerError, match="names 'SHA1withRSA'"):
            sha256 = trailer.Verifier(signing.SHA256)
            sha256.feed(body)
            sha256.check(last, keys["bank_public_key"], "2026-01-05")
    finally:
        app.extensions["wanxin.bank"].database.close()


@pytest.mark.parametrize("damage, message", [
    (lambda body, last: (body.replace(b"12.34", b"12.35"), last), "signature does not verify"),
    (lambda body, last: (body + b"X,RECHARGE\n", last), "covers"),
    (lambda body, last: (body, last[:-1]), "cut short"),
    (lambda body, last: (body, last.replace(b",0,", b",1,")), "signature does not verify"),
    (lambda body, last: (body, b"REQ_1,RECHARGE,,U,,1.00,0.00,SUCCESS,x\n"), "not a signature trailer"),
])
def test_a_damaged_file_or_trailer_never_verifies(bank, keys, damage, message):
    user = bank.open_account(1)
    bank.recharge(user, "12.34")
    body, last = damage(*split(stream(bank, "2026-01-05").get_data()))
    verifier = trailer.Verifier(signing.SHA256)
    verifier.feed(body)
    with pytest.raises(trailer.TrailerError, match=message):
        verifier.check(last, keys["bank_public_key"], "2026-01-05")
