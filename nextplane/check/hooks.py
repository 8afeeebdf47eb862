# -*- test-case-name: tests.check.test_check -*-
"""
What a platform credential check is given, and its type: an async
function of the context, the connector's parsed configuration and the
tenants it serves, returning findings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from attrs import frozen

from ..config import TenantConfig
from .findings import Finding

__all__ = ["PlatformCheck", "PlatformCheckContext"]


@frozen
class PlatformCheckContext:
    """
    What a platform check may use.

    @ivar reactor: The clock.
    @ivar http: A treq-like HTTP client.
    @ivar timeout: Seconds to wait for each answer.
    """

    reactor: Any
    http: Any
    timeout: float = 10.0


PlatformCheck = Callable[
    [PlatformCheckContext, Any, Sequence[TenantConfig]], Awaitable[list[Finding]]
]
