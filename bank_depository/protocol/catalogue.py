"""The service catalogue: every serviceName with the fields of its reqData and respData.

One source of truth for the wire. The bank's handlers read their payloads
through :class:`bank_depository.domain.fields.Payload` with the kinds, lengths
and requiredness declared here (``tests/bank/test_openapi.py`` replays
:data:`STORY` through the bank and fails if a handler reads a field that is
not declared, or declares it differently), and ``/openapi.json`` is generated
from these tables (:mod:`bank_depository.http.openapi`). Enumerations are the
very constants the handlers check against.

Kinds of a request field: ``text`` (a JSON string; numbers are accepted and
read as their text), ``amount`` (yuan with at most two decimals, as a string
such as ``"100.00"``; a JSON number is accepted when exact), ``integer`` (a
whole number, or its text), ``items`` (a non-empty list of objects whose
fields are ``items``). Keys match case-insensitively and unknown keys are
ignored, as the original depository did.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import services as svc
from .checkfile import COLUMNS, TOTALS
from .money import YUAN_PATTERN

#: GB 11643-1999 resident ID number: 17 digits and a check character (the check is computed, not a pattern).
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9Xx]$"
MOBILE_PATTERN = r"^1[3-9][0-9]{9}$"
CARD_NUMBER_PATTERN = r"^[0-9]{12,19}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DEFAULT_MAX_LEN = 256


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "text"          # text | amount | integer | items (requests); also object, list (responses)
    required: bool = True
    description: str = ""
    max_len: int = DEFAULT_MAX_LEN
    allow_zero: bool = False    # amounts: 0.00 is accepted
    enum: tuple[str, ...] = ()
    open_enum: bool = False     # enum lists the known values; other text is accepted and stored
    pattern: str = ""
    items: tuple["Field", ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    kind: str                   # direct | gateway
    summary: str
    request: tuple[Field, ...]
    response: tuple[Field, ...] = ()
    notification: tuple[Field, ...] = ()

    def field(self, name: str) -> Field | None:
        return _find(self.request, name)


#: id(field tuple) -> (the tuple, its fields by lower-case name): a payload's reads look a declared
#: field up by name several times per request; the declarations are a few constant tuples.
_INDEX: dict[int, tuple[tuple[Field, ...], dict[str, Field]]] = {}
_INDEX_MAX = 512


def _find(fields: tuple[Field, ...], name: str) -> Field | None:
    known = _INDEX.get(id(fields))
    if known is None or known[0] is not fields:
        by_name: dict[str, Field] = {}
        for f in fields:
            by_name.setdefault(f.name.lower(), f)  # the first declaration of a name wins, as before
        if len(_INDEX) >= _INDEX_MAX:
            _INDEX.clear()
        known = _INDEX[id(fields)] = (fields, by_name)
    return known[1].get(name.lower())


def find(fields: tuple[Field, ...], path: list[str]) -> Field | None:
    """The field at ``path`` (``["details", "amount"]``) in a field tuple, or None."""
    found = _find(fields, path[0])
    if found is None or len(path) == 1:
        return found
    return find(found.items, path[1:])


REQUEST_NO = Field("requestNo", max_len=64, description="The platform's unique number of this request "
                                                        "(idempotency key: the same requestNo and payload answer "
                                                        "the stored result).")
CALLBACK = Field("callbackUrl", max_len=2000, pattern=r"^https?://",
                 description="Where the bank redirects the user's browser with `code` (and `msg`). "
                             "`callbackURL` is accepted too.")


def _money(name: str, description: str, *, required: bool = True, zero: bool = False) -> Field:
    return Field(name, "amount", required=required, allow_zero=zero, pattern=YUAN_PATTERN, description=description)


def _text(name: str, description: str, *, required: bool = True, max_len: int = DEFAULT_MAX_LEN) -> Field:
    return Field(name, required=required, max_len=max_len, description=description)


#: Fields of every respData (signed JSON answer of /service).
COMMON_RESPONSE = (
    Field("requestNo", description="The requestNo of the request answered."),
    Field("respCode", pattern=r"^[0-9]{5,6}$", description="`00000` is success; the others are in the code table "
                                                           "(`x-response-codes`; an injected reject fault may use "
                                                           "any numeric code)."),
    Field("respMsg", description="The code's message, with the reason after a colon when refused."),
    Field("status", "integer", enum=("0", "1", "2"), description="1 success, 2 failure, 0 still processing."),
)
#: Fields of every gateway notification, besides the service's own.
COMMON_NOTIFICATION = COMMON_RESPONSE

_USER_NO = _text("userNo", "The platform's number of the depository account.")
_PROJECT_NO = _text("projectNo", "The platform's number of the project (标的).", max_len=64)
_PRE_REQUEST_NO = _text("preRequestNo", "The requestNo of the USER_AUTO_PRE_TRANSACTION (the hold).")

SERVICES: tuple[Service, ...] = (
    Service(svc.PERSONAL_REGISTER, "gateway", "Open a depository account bound to a bank card (开户); the user "
            "sets the trade password on the bank's page.", (
                REQUEST_NO,
                _text("userNo", "The platform's number for the new account.", max_len=64),
                _text("fullname", "The card owner's name, as the bank knows it."),
                Field("idNumber", pattern=ID_NUMBER_PATTERN,
                      description="18-character resident ID (GB 11643 check character)."),
                Field("mobile", pattern=MOBILE_PATTERN, description="11-digit mainland mobile."),
                Field("cardNumber", description="A card of a bank customer (see POST /sim/bank-cards)."),
                Field("role", enum=svc.ROLES, description="B borrower, I investor."),
                _text("bankCode", "When given, must be the card's bank.", required=False),
                CALLBACK,
            ), notification=(
                Field("auditStatus", enum=("PASSED", "REFUSED")),
                _text("userNo", ""), _text("bankCode", "", required=False), _text("bankName", "", required=False),
            )),
    Service(svc.RECHARGE, "gateway", "Bank card → available (充值), confirmed with the trade password.", (
        REQUEST_NO, _USER_NO, _money("amount", "Yuan to move from the bound card."), CALLBACK,
    ), notification=(
        Field("transactionStatus", enum=("SUCCESS", "FAIL")), _text("userNo", ""),
        Field("amount", "amount", required=False, pattern=YUAN_PATTERN),
    )),
    Service(svc.WITHDRAW, "gateway", "Available → bank card minus commission → platform fee account (提现).", (
        REQUEST_NO, _USER_NO, _money("amount", "Yuan taken from available."),
        _money("commission", "Platform fee kept from the amount (less than the amount).", required=False, zero=True),
        CALLBACK,
    ), notification=(
        Field("transactionStatus", enum=("SUCCESS", "FAIL")), _text("userNo", ""),
        Field("amount", "amount", required=False, pattern=YUAN_PATTERN),
        Field("commission", "amount", required=False, pattern=YUAN_PATTERN),
    )),
    Service(svc.CREATE_PROJECT, "direct", "Register a project (标的) of a borrower; it starts COLLECTING.", (
        REQUEST_NO, _text("userNo", "The borrower (role B)."), _PROJECT_NO,
        _money("projectAmount", "The amount to raise."),
        Field("projectPeriod", "integer", required=False, description="Period (at least 1)."),
        Field("annualRate", required=False, pattern=r"^[0-9]+(\.[0-9]+)?$",
              description="Annual rate as a non-negative decimal, e.g. `0.10`."),
        _text("projectName", "", required=False), _text("projectDesc", "", required=False, max_len=2000),
        _text("projectType", "", required=False),
        Field("repaymentWay", required=False, enum=svc.REPAYMENT_WAYS, open_enum=True,
              description="How the platform repays; stored as given."),
    ), (Field("projectNo"), Field("projectStatus", enum=svc.PROJECT_STATUSES))),
    Service(svc.MODIFY_PROJECT, "direct", "Move a project along the allowed status transitions.", (
        REQUEST_NO, _text("projectNo", "The project."),
        Field("projectStatus", enum=svc.PROJECT_STATUSES,
              description="COLLECTING→FULLY|REPAYING|MISCARRY, FULLY→COLLECTING|REPAYING|MISCARRY, "
                          "REPAYING→FINISH (REPAYING only after CONFIRM_LOAN)."),
    ), (Field("projectNo"), Field("projectStatus", enum=svc.PROJECT_STATUSES))),
    Service(svc.USER_AUTO_PRE_TRANSACTION, "direct", "Freeze (预处理): available → frozen as a named hold.", (
        REQUEST_NO, _text("userNo", "Investor (TENDER, CREDIT_ASSIGNMENT) or the project's borrower (REPAYMENT)."),
        Field("bizType", enum=tuple(sorted(svc.BIZ_TYPES)), description="What the hold is for."),
        _money("amount", "Yuan to freeze."), _text("projectNo", "The project."),
    ), (Field("bizType", enum=tuple(sorted(svc.BIZ_TYPES))), Field("userNo"), Field("projectNo"),
        Field("amount", "amount", pattern=YUAN_PATTERN))),
    Service(svc.CANCEL_PRE_TRANSACTION, "direct", "Unfreeze what remains of a hold (流标, failed tender).", (
        REQUEST_NO, _PRE_REQUEST_NO,
    ), (Field("preRequestNo"), Field("userNo"), Field("amount", "amount", pattern=YUAN_PATTERN))),
    Service(svc.CONFIRM_LOAN, "direct", "Settle a project's tender holds: investors' frozen → borrower, "
            "commission → platform.", (
                REQUEST_NO, _text("projectNo", "The project."),
                _money("commission", "Platform fee taken from the borrower.", required=False, zero=True),
                Field("details", "items", description="Every tender hold settled, with its exact amount.", items=(
                    _PRE_REQUEST_NO, _money("amount", "The hold's amount."))),
            ), (Field("projectNo"), Field("amount", "amount", pattern=YUAN_PATTERN),
                Field("commission", "amount", pattern=YUAN_PATTERN))),
    Service(svc.CONFIRM_REPAYMENT, "direct", "Settle a REPAYMENT hold: borrower frozen → each investor "
            "(principal + interest − fee), fees → platform; the lines must add up to the hold.", (
                REQUEST_NO, _text("projectNo", "The project."), _PRE_REQUEST_NO,
                _money("commission", "Platform fee from the borrower.", required=False, zero=True),
                _money("amount", "When given, must equal what remains of the hold.", required=False),
                Field("details", "items", description="One line per investor.", items=(
                    _USER_NO, _money("amount", "Principal repaid.", zero=True),
                    _money("interest", "Interest paid.", required=False, zero=True),
                    _money("commission", "Fee kept from this investor.", required=False, zero=True))),
            ), (Field("projectNo"), Field("preRequestNo"), Field("amount", "amount", pattern=YUAN_PATTERN),
                Field("commission", "amount", pattern=YUAN_PATTERN))),
    Service(svc.CONFIRM_CREDIT_ASSIGNMENT, "direct", "Debt transfer (债权转让): the buyer's CREDIT_ASSIGNMENT "
            "hold → seller minus fee; the claim changes owner.", (
                REQUEST_NO, _text("projectNo", "The project."), _PRE_REQUEST_NO,
                _text("sellerUserNo", "The investor selling (part of) a claim."),
                _money("claimAmount", "Principal of the claim transferred."),
                _money("commission", "Fee kept from the seller.", required=False, zero=True),
                _money("amount", "When given, must equal the hold (the price).", required=False),
            ), (Field("projectNo"), Field("preRequestNo"), Field("sellerUserNo"), Field("buyerUserNo"),
                Field("claimAmount", "amount", pattern=YUAN_PATTERN), Field("amount", "amount", pattern=YUAN_PATTERN),
                Field("commission", "amount", pattern=YUAN_PATTERN))),
    Service(svc.QUERY_TRANSACTION, "direct", "The outcome of an earlier requestNo: how to recover a lost answer.", (
        REQUEST_NO, _text("transactionRequestNo", "The requestNo asked about."),
    ), (Field("transactionRequestNo"), Field("serviceName"),
        Field("transactionStatus", enum=("PROCESSING", "SUCCESS", "FAIL")),
        Field("result", "object", required=False, description="The stored respData of that request."))),
    Service(svc.QUERY_USER, "direct", "Account status and balances.", (
        REQUEST_NO, _USER_NO,
    ), (Field("userNo"), Field("role", enum=svc.ROLES), Field("balance", "amount", pattern=YUAN_PATTERN),
        Field("freezeAmount", "amount", pattern=YUAN_PATTERN), Field("cardNumber"), Field("bankCode"),
        Field("bankName"), Field("mobile"))),
    Service(svc.DOWNLOAD_CHECKFILE, "direct", "The day's check file (对账文件) in `content`; streamed with a "
            "signed trailer from POST /checkfile.", (
                REQUEST_NO, Field("fileDate", pattern=DATE_PATTERN,
                                  description="Business date YYYY-MM-DD (bank clock, China time); not in the future."),
            ), (Field("fileDate"), Field("closed", "integer", description="1 when the day is over."),
                Field("count", "integer"), Field("totalAmount", "amount", pattern=YUAN_PATTERN),
                Field("totalCommission", "amount", pattern=YUAN_PATTERN),
                Field("content", description="The CSV text; see the check-file layout."))),
)
BY_NAME: dict[str, Service] = {s.name: s for s in SERVICES}


def request_fields(service: str) -> tuple[Field, ...]:
    """The declared reqData fields of ``service`` (none for an unknown service)."""
    found = BY_NAME.get(service)
    return found.request if found else ()

#: What the bank appends to callbackUrl after a gateway page.
CALLBACK_CODES = {
    0: "success: the request executed (a notification follows)",
    1: "refused for good: a final failure (a notification with the reason follows)",
    2: "not done, nothing changed, no notification: wrong trade password, invalid input on the page, the user "
       "cancelled, or an injected reject fault; the same request may be opened again",
}

CHECKFILE_TOTALS = TOTALS
CHECKFILE_COLUMNS = COLUMNS
CHECKFILE_TRAILER = "#SIGNATURE,<fileDate>,<closed 0|1>,<content bytes>,<algorithm>,<signature>"


def _examples() -> list[tuple[str, dict[str, Any]]]:
    """A coherent story, in order: every example the document shows, each one accepted by the bank."""
    cb = "https://platform.example/done"
    return [
        (svc.PERSONAL_REGISTER, {"requestNo": "REG_0001", "userNo": "U_ZHANGSAN", "fullname": "张三",
                                 "idNumber": "110105199003070017", "mobile": "13800000001",
                                 "cardNumber": "6222020000000001", "role": "I", "callbackUrl": cb + "?st=1"}),
        (svc.PERSONAL_REGISTER, {"requestNo": "REG_0002", "userNo": "U_LISI", "fullname": "李四",
                                 "idNumber": "310104198512120023", "mobile": "13800000002",
                                 "cardNumber": "6222020000000002", "role": "B", "bankCode": "ICBC",
                                 "callbackUrl": cb + "?st=1"}),
        (svc.PERSONAL_REGISTER, {"requestNo": "REG_0003", "userNo": "U_WANGWU", "fullname": "王五",
                                 "idNumber": "440306199206150037", "mobile": "13800000003",
                                 "cardNumber": "6222020000000003", "role": "I", "callbackUrl": cb + "?st=1"}),
        (svc.RECHARGE, {"requestNo": "RCH_0001", "userNo": "U_ZHANGSAN", "amount": "5000.00",
                        "callbackUrl": cb + "?st=2"}),
        (svc.RECHARGE, {"requestNo": "RCH_0002", "userNo": "U_WANGWU", "amount": "2000.00",
                        "callbackUrl": cb + "?st=2"}),
        (svc.CREATE_PROJECT, {"requestNo": "PRJ_0001", "userNo": "U_LISI", "projectNo": "P_2026_001",
                              "projectAmount": "1000.00", "projectPeriod": 3, "annualRate": "0.10",
                              "projectName": "装修借款", "repaymentWay": "FIXED_REPAYMENT"}),
        (svc.USER_AUTO_PRE_TRANSACTION, {"requestNo": "TND_0001", "userNo": "U_ZHANGSAN", "projectNo": "P_2026_001",
                                         "bizType": "TENDER", "amount": "1000.00"}),
        (svc.MODIFY_PROJECT, {"requestNo": "MOD_0001", "projectNo": "P_2026_001", "projectStatus": "FULLY"}),
        (svc.CONFIRM_LOAN, {"requestNo": "LOAN_0001", "projectNo": "P_2026_001", "commission": "10.00",
                            "details": [{"preRequestNo": "TND_0001", "amount": "1000.00"}]}),
        (svc.MODIFY_PROJECT, {"requestNo": "MOD_0002", "projectNo": "P_2026_001", "projectStatus": "REPAYING"}),
        (svc.USER_AUTO_PRE_TRANSACTION, {"requestNo": "RPF_0001", "userNo": "U_LISI", "projectNo": "P_2026_001",
                                         "bizType": "REPAYMENT", "amount": "110.00"}),
        (svc.CONFIRM_REPAYMENT, {"requestNo": "RPY_0001", "projectNo": "P_2026_001", "preRequestNo": "RPF_0001",
                                 "amount": "110.00", "commission": "0.00",
                                 "details": [{"userNo": "U_ZHANGSAN", "amount": "100.00", "interest": "10.00",
                                              "commission": "1.00"}]}),
        (svc.USER_AUTO_PRE_TRANSACTION, {"requestNo": "CAF_0001", "userNo": "U_WANGWU", "projectNo": "P_2026_001",
                                         "bizType": "CREDIT_ASSIGNMENT", "amount": "450.00"}),
        (svc.CONFIRM_CREDIT_ASSIGNMENT, {"requestNo": "CA_0001", "projectNo": "P_2026_001",
                                         "preRequestNo": "CAF_0001", "sellerUserNo": "U_ZHANGSAN",
                                         "claimAmount": "450.00", "amount": "450.00", "commission": "4.50"}),
        (svc.CREATE_PROJECT, {"requestNo": "PRJ_0002", "userNo": "U_LISI", "projectNo": "P_2026_002",
                              "projectAmount": "500.00"}),
        (svc.USER_AUTO_PRE_TRANSACTION, {"requestNo": "TND_0002", "userNo": "U_WANGWU", "projectNo": "P_2026_002",
                                         "bizType": "TENDER", "amount": "100.00"}),
        (svc.CANCEL_PRE_TRANSACTION, {"requestNo": "CNL_0001", "preRequestNo": "TND_0002"}),
        (svc.WITHDRAW, {"requestNo": "WDR_0001", "userNo": "U_ZHANGSAN", "amount": "100.00", "commission": "1.00",
                        "callbackUrl": cb + "?st=3"}),
        (svc.QUERY_TRANSACTION, {"requestNo": "QRY_0001", "transactionRequestNo": "TND_0001"}),
        (svc.QUERY_USER, {"requestNo": "QRY_0002", "userNo": "U_ZHANGSAN"}),
        (svc.DOWNLOAD_CHECKFILE, {"requestNo": "CHK_0001", "fileDate": "2026-01-05"}),
    ]


#: The example story: bank customers first (``POST /sim/bank-cards`` bodies), then every service in order.
CARDS = [
    {"fullname": "张三", "idNumber": "110105199003070017", "mobile": "13800000001", "cardNumber": "6222020000000001",
     "bankCode": "ICBC", "balance": "10000.00"},
    {"fullname": "李四", "idNumber": "310104198512120023", "mobile": "13800000002", "cardNumber": "6222020000000002",
     "bankCode": "ICBC", "balance": "0.00"},
    {"fullname": "王五", "idNumber": "440306199206150037", "mobile": "13800000003", "cardNumber": "6222020000000003",
     "bankCode": "CCB", "balance": "3000.00"},
]
STORY: list[tuple[str, dict[str, Any]]] = _examples()
#: The trade password the story's users type on the gateway pages.
STORY_PASSWORD = "123456"
#: When the story happens (the bank clock of the example).
STORY_DAY = "2026-01-05"
