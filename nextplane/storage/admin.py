# -*- test-case-name: tests.storage.test_admin -*-
"""
The L{IAdminStore} that goes with an L{IStore}: the same database for the
SQL backends, memory beside a memory store.
"""

from __future__ import annotations

from typing import Any

from ._sql import SQLStore
from .admin_memory import MemoryAdminStore
from .admin_records import IAdminStore
from .cache import CachingStore
from .memory import MemoryStore

__all__ = ["admin_store_for"]


def admin_store_for(store: Any) -> IAdminStore:
    """
    The admin tables of C{store}'s backend (through a cache to the store
    behind it).
    """
    while isinstance(store, CachingStore):
        store = store.store
    if isinstance(store, SQLStore):
        from .admin_sql import SQLAdminStore

        return SQLAdminStore(store)
    return MemoryAdminStore(store if isinstance(store, MemoryStore) else None)
