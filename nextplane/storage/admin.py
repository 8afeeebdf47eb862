# -*- test-case-name: tests.storage.test_admin -*-
"""
The L{IAdminStore} that goes with an L{IStore}: the same database for the
SQL backends, memory beside a memory store.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from .admin_memory import MemoryAdminStore
from .admin_records import IAdminStore
from .cache import CachingStore
from .memory import MemoryStore

# One memory admin store per memory store, so every part sees the same.
_BESIDE: WeakKeyDictionary[MemoryStore, MemoryAdminStore] = WeakKeyDictionary()

__all__ = ["admin_store_for"]


def admin_store_for(store: Any) -> IAdminStore:
    """
    The admin tables of C{store}'s backend (through a cache to the store
    behind it).
    """
    while isinstance(store, CachingStore):
        store = store.store
    if IAdminStore.providedBy(store):
        return store  # type: ignore[no-any-return]
    if isinstance(store, MemoryStore):
        if store not in _BESIDE:
            _BESIDE[store] = MemoryAdminStore(store)
        return _BESIDE[store]
    return MemoryAdminStore(None)
