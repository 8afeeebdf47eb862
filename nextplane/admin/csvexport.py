# -*- test-case-name: tests.admin.test_api -*-
"""
CSV export of the metadata log, safe to open in a spreadsheet.

A cell starting with C{=}, C{+}, C{-} or C{@} (or a tab or carriage return,
which some spreadsheets skip before reading a formula) is prefixed with
C{'} so that it is shown as text and never evaluated as a formula: senders,
receivers and reasons come from remote parties and must not run as code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from ..storage.records import MetadataRecord

__all__ = ["CSV_FIELDS", "csv_safe", "metadata_csv", "rows_csv"]

#: The header row, in column order.
CSV_FIELDS = (
    "time",
    "sender",
    "receiver",
    "type",
    "kind",
    "session_id",
    "decision",
    "reason",
    "tenant",
    "remote_domain",
    "platform",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str | None) -> str:
    """
    A cell value that a spreadsheet will not evaluate as a formula.

    @param value: The raw value; C{None} becomes an empty cell.
    @return: C{value}, prefixed with C{'} if it could start a formula.
    """
    if value is None:
        return ""
    if value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def metadata_row(record: MetadataRecord) -> list[str]:
    """
    One record as CSV cells in L{CSV_FIELDS} order, already made safe.
    """
    raw = (
        record.timestamp.isoformat(),
        record.sender,
        record.receiver,
        record.category,
        record.kind,
        record.session_id,
        record.decision.value,
        record.reason,
        record.tenant,
        record.remote_domain,
        record.platform,
    )
    return [csv_safe(value) for value in raw]


def metadata_csv(records: Iterable[MetadataRecord]) -> bytes:
    """
    The metadata log as UTF-8 CSV (RFC 4180: CRLF line ends), header first.

    @param records: L{MetadataRecord}s in the order to write them.
    @return: The whole document.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for record in records:
        writer.writerow(metadata_row(record))
    return out.getvalue().encode("utf-8")


def rows_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """
    Any table as UTF-8 CSV (RFC 4180), header first, every cell made safe
    for spreadsheets with L{csv_safe}.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([v if isinstance(v, int) else csv_safe(str(v)) for v in row])
    return out.getvalue().encode("utf-8")
