"""The check file's layout (对账文件), the part of the wire contract both sides read.

CSV text (``\\n`` line ends): the :data:`TOTALS` header, one totals line, the
:data:`COLUMNS` header, then one line per movement. Served as
``respData.content`` of ``DOWNLOAD_CHECKFILE``, or streamed from ``/checkfile``
with the same bytes and a signed trailer line (:mod:`.trailer`).
"""
from __future__ import annotations

COLUMNS = ("requestNo", "serviceName", "bizType", "userNo", "counterparty", "amount", "commission", "status",
           "finishedAt")
TOTALS = ("fileDate", "platformNo", "count", "totalAmount", "totalCommission")
