# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Contacts (L{nextplane.storage.interfaces.IContacts}) as SQL programs.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed

from ...model.address import Address
from ..records import ContactChange, ContactRecord
from .runtime import Op, Query, Row, SQLBase, first_row, parse_address, to_datetime, where_clause
from .schema import CONTACTS

__all__ = ["ContactsSQL"]


_PUT_CONTACT = CONTACTS.upsert()


def _contact(row: Row) -> ContactRecord:
    _, _, owner, external, state, direction, created_at, updated_at = row
    return ContactRecord(
        parse_address(owner),
        parse_address(external),
        state,
        direction,
        to_datetime(created_at),
        to_datetime(updated_at),
    )


def _like_suffix(suffix: str) -> str:
    """
    A C{LIKE} pattern (escape character C{!}) matching text ending in
    C{suffix}.
    """
    escaped = suffix.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}"


def _contact_order(contact: ContactRecord) -> tuple[str, str]:
    return (contact.owner.key, contact.external.key)


class ContactsSQL(SQLBase):
    """
    L{IContacts} for the SQL stores.
    """

    # contacts

    def put_contact(self, contact: ContactRecord) -> Deferred[None]:
        """
        Insert or replace C{contact} by (owner, external).
        """

        def op() -> Op[None]:
            c = contact
            params = (
                c.owner.key,
                c.external.key,
                str(c.owner),
                str(c.external),
                c.state.value,
                c.direction.value,
                c.created_at,
                c.updated_at,
            )
            yield Query(_PUT_CONTACT, params)

        return self._write(op())

    def get_contact(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        """
        @return: A L{Deferred} firing with the contact or C{None}.
        """

        def op() -> Op[ContactRecord | None]:
            sql = f"{CONTACTS.select} WHERE owner_key = ? AND external_key = ?"
            row = first_row((yield Query(sql, (owner.key, external.key))))
            return None if row is None else _contact(row)

        return self._read(op())

    def list_contacts(
        self,
        owner: Address | None = None,
        external_domain: str | None = None,
        state: str | None = None,
    ) -> Deferred[list[ContactRecord]]:
        """
        Contacts filtered by owner, external domain and/or state.

        @return: A L{Deferred} firing with a list ordered by (owner,
            external).
        """
        where, params = where_clause(
            [
                ("owner_key = ?", None if owner is None else owner.key),
                (f"{self.dialect.external_domain} = ?", external_domain),
                ("state = ?", None if state is None else str(state)),
            ]
        )

        def op() -> Op[list[ContactRecord]]:
            sql = f"{CONTACTS.select}{where} ORDER BY owner_key, external_key"
            return [_contact(row) for row in (yield Query(sql, params))]

        return self._read(op())

    def change_contacts(self, change: ContactChange) -> Deferred[list[ContactRecord]]:
        """
        Apply C{change} with one C{UPDATE ... RETURNING}.

        @return: A L{Deferred} firing with the contacts changed, ordered by
            (owner, external).
        """
        if change.from_states == () or change.owner_domains == ():
            return succeed([])  # an empty set of states or tenants matches nothing
        domain = self.dialect.external_domain
        pattern = change.external_pattern or ""
        wildcard = pattern.startswith("*.")
        conditions: list[tuple[Any, ...]] = [
            ("state <> ?", change.state.value),
            ("owner_key = ?", None if change.owner is None else change.owner.key),
            ("external_key = ?", None if change.external is None else change.external.key),
            (f"{domain} = ?", None if wildcard or not pattern else pattern),
            (f"{domain} LIKE ? ESCAPE '!'", _like_suffix(pattern[1:]) if wildcard else None),
            ("updated_at < ?", change.updated_before),
        ]
        for column, values in (
            ("state", [s.value for s in change.from_states or ()]),
            (self.dialect.owner_domain, list(change.owner_domains or ())),
        ):
            if values:
                conditions.append((f"{column} IN ({', '.join('?' for _ in values)})", *values))
        where, params = where_clause(conditions)

        def op() -> Op[list[ContactRecord]]:
            sql = (
                f"UPDATE contacts SET state = ?, updated_at = ?{where}"
                f" RETURNING {', '.join(CONTACTS.columns)}"
            )
            rows = yield Query(sql, (change.state.value, change.at, *params))
            return sorted((_contact(row) for row in rows), key=_contact_order)

        return self._write(op())
