"""
A local Microsoft Teams for tests and benchmarks: the Bot Framework
channel's signing keys and OpenID metadata, the token endpoint, the
Connector REST API checked against the published spec, Teams' rate
limits, per-tenant state, and signed activity deliveries to the hub
(L{TeamsChannel}).
"""

from .channel import Delivery, TeamsChannel
from .connector import ApiResponse, CallRecord, ConnectorApi, RateLimitRecord, Violation
from .keys import SigningKey, openid_metadata
from .limits import CONVERSATION_LIMITS, TENANT_LIMITS, SlidingWindows
from .simulator import CAPACITY, REAL_LIMITS, TeamsSimulator
from .spec import ConnectorSpec, Operation, default_spec_path, load_spec
from .state import BotApp, SimActivity, SimConversation, SimUser, Tenant

__all__ = [
    "CAPACITY",
    "CONVERSATION_LIMITS",
    "REAL_LIMITS",
    "TENANT_LIMITS",
    "ApiResponse",
    "BotApp",
    "CallRecord",
    "ConnectorApi",
    "ConnectorSpec",
    "Delivery",
    "Operation",
    "RateLimitRecord",
    "SigningKey",
    "SimActivity",
    "SimConversation",
    "SimUser",
    "SlidingWindows",
    "TeamsChannel",
    "TeamsSimulator",
    "Tenant",
    "Violation",
    "default_spec_path",
    "load_spec",
    "openid_metadata",
]
