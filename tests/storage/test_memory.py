# -*- test-case-name: tests.storage.test_memory -*-
"""
The store contract against L{MemoryStore}, the reference semantics.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from nextplane.storage.memory import MemoryStore

from .contract import StoreContract


class MemoryStoreTests(StoreContract, TestCase):
    """
    L{MemoryStore} honours the L{IStore} contract.
    """

    async def make_store(self) -> MemoryStore:
        return MemoryStore()
