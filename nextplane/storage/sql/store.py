# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
The SQL store: the role programs of this package in one L{IStore}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from ...interfaces import IStore
from ..admin_records import IAdminStore
from .admin import ADMIN_TABLES, AdminSQL
from .contacts import ContactsSQL
from .directory import DirectorySQL
from .installations import InstallationsSQL
from .message_refs import MessageRefsSQL
from .metadata import MetadataSQL
from .policy import PolicySQL
from .runtime import Op, Query, dump_value
from .schema import TABLES
from .sessions import SessionsSQL
from .sip import SipSubscriptionsSQL
from .work import WorkSQL

__all__ = ["SQLStore"]


@implementer(IStore, IAdminStore)
class SQLStore(
    DirectorySQL,
    ContactsSQL,
    SessionsSQL,
    MessageRefsSQL,
    PolicySQL,
    InstallationsSQL,
    MetadataSQL,
    SipSubscriptionsSQL,
    AdminSQL,
    WorkSQL,
):
    """
    The L{IStore} both SQL backends share: every role's programs, run by
    the backend's L{SQLBase._run}.

    Subclasses set L{dialect} and L{backend_name}, implement C{open},
    C{close} and L{_run}, and inherit everything else.
    """

    def dump_tables(self) -> Deferred[dict[str, list[tuple[Any, ...]]]]:
        """
        Every row of every data table as text (C{None} for SQL C{NULL}),
        ordered by key, for privacy audits and backups. Secret columns
        (L{Table.secret}: bot tokens) read C{"[redacted]"}, so no dump
        holds a token; a hub rebuilt from a dump needs its Slack
        workspaces installed (or their tokens configured) again.
        """

        def op() -> Op[dict[str, list[tuple[Any, ...]]]]:
            dump: dict[str, list[tuple[Any, ...]]] = {}
            for table in (*TABLES, *ADMIN_TABLES):
                rows = yield Query(table.dump)
                dump[table.name] = [tuple(dump_value(v) for v in row) for row in rows]
            return dump

        return self._read(op())
