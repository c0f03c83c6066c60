"""Response codes of the depository protocol: the one table both apps read.

Codes reuse the original Wanxin depository's where they fit (00000, 00003,
00004, 30041, 30042, 30010, 600xx) and extend it for what the original never
did. A code's meaning never changes once published.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    message: str


_TABLE = [
    Code("00000", "SUCCESS", "成功"),
    Code("00001", "EXCEPTION", "系统异常"),
    Code("00003", "PARAM_FAIL", "参数校验不通过"),
    Code("00004", "SIGN_FAIL", "签名验证失败"),
    Code("00005", "REQUEST_CONFLICT", "请求流水号重复且请求内容不一致"),
    Code("00006", "UNKNOWN_SERVICE", "不支持的服务"),
    Code("00007", "UNKNOWN_PLATFORM", "平台未注册"),
    Code("00008", "NOT_FOUND", "记录不存在"),
    Code("30010", "HOLD_NOT_FOUND", "预处理(冻结)记录不存在"),
    Code("30011", "HOLD_NOT_FROZEN", "预处理记录不是冻结状态"),
    Code("30012", "AMOUNT_MISMATCH", "金额与预处理记录不符"),
    Code("30020", "PROJECT_NOT_FOUND", "标的不存在"),
    Code("30021", "PROJECT_EXISTS", "标的已存在"),
    Code("30022", "PROJECT_STATUS", "标的状态不允许该操作"),
    Code("30023", "PROJECT_OVER_AMOUNT", "投标金额超过标的剩余可投金额"),
    Code("30030", "CLAIM_NOT_ENOUGH", "债权不足"),
    Code("30041", "BANK_CARD_BALANCE_NOT_ENOUGH", "银行卡余额不足"),
    Code("30042", "BALANCE_NOT_ENOUGH", "账户余额不足"),
    Code("30050", "ROLE_NOT_ALLOWED", "用户角色不允许该操作"),
    Code("40001", "TRANSACTION_NOT_FOUND", "交易不存在"),
    Code("40002", "CHECKFILE_NOT_READY", "对账文件未生成(营业日未结束)"),
    Code("60101", "CARD_EXISTS", "银行卡号已存在"),
    Code("60102", "CARD_NOT_FOUND", "银行卡号不存在"),
    Code("60103", "CARD_INFO_MISMATCH", "银行卡信息错误"),
    Code("60104", "CARD_ALREADY_BOUND", "银行卡已绑定存管账户"),
    Code("60105", "USER_EXISTS", "存管账户已存在"),
    Code("600201", "USER_NOT_FOUND", "用户编码不存在"),
    Code("60301", "IDENTITY_MISMATCH", "个人信息验证失败"),
    Code("60302", "PASSWORD_WRONG", "用户交易密码错误"),
    Code("60303", "PASSWORD_LOCKED", "交易密码已锁定"),
    Code("60401", "PAGE_EXPIRED", "页面已失效, 请重新发起"),
    Code("99999", "UNKNOWN", "未知错误"),
]

BY_CODE: dict[str, Code] = {c.code: c for c in _TABLE}
BY_NAME: dict[str, Code] = {c.name: c for c in _TABLE}

SUCCESS = "00000"
EXCEPTION = "00001"
PARAM_FAIL = "00003"
SIGN_FAIL = "00004"
REQUEST_CONFLICT = "00005"
UNKNOWN_SERVICE = "00006"
UNKNOWN_PLATFORM = "00007"
NOT_FOUND = "00008"
HOLD_NOT_FOUND = "30010"
HOLD_NOT_FROZEN = "30011"
AMOUNT_MISMATCH = "30012"
PROJECT_NOT_FOUND = "30020"
PROJECT_EXISTS = "30021"
PROJECT_STATUS = "30022"
PROJECT_OVER_AMOUNT = "30023"
CLAIM_NOT_ENOUGH = "30030"
BANK_CARD_BALANCE_NOT_ENOUGH = "30041"
BALANCE_NOT_ENOUGH = "30042"
ROLE_NOT_ALLOWED = "30050"
TRANSACTION_NOT_FOUND = "40001"
CHECKFILE_NOT_READY = "40002"
CARD_EXISTS = "60101"
CARD_NOT_FOUND = "60102"
CARD_INFO_MISMATCH = "60103"
CARD_ALREADY_BOUND = "60104"
USER_EXISTS = "60105"
USER_NOT_FOUND = "600201"
IDENTITY_MISMATCH = "60301"
PASSWORD_WRONG = "60302"
PASSWORD_LOCKED = "60303"
PAGE_EXPIRED = "60401"
UNKNOWN = "99999"

#: ``status`` values carried in every respData.
STATUS_PROCESSING = 0
STATUS_SUCCESS = 1
STATUS_FAILURE = 2


def message(code: str) -> str:
    found = BY_CODE.get(code)
    return found.message if found else "未知错误"


def markdown_table() -> str:
    """The code table as Markdown, for the README and `wanxin codes`."""
    rows = ["| code | name | message |", "|---|---|---|"]
    rows += [f"| `{c.code}` | {c.name} | {c.message} |" for c in _TABLE]
    return "\n".join(rows)
