"""
A local Webex for tests and benchmarks: the Messaging REST API checked
against Webex's published spec, simulated people, spaces, messages and
webhooks with ids minted as Webex mints them, rate limits, and signed
webhook deliveries to the hub that disable a webhook after 100 failures in
5 minutes, as Webex does.
"""

from .deliveries import FAILURE_LIMIT, FAILURE_WINDOW, Attempt, WebhookSender, envelope
from .simulator import CAPACITY, REAL_LIMITS, CallRecord, Fault, WebexSimulator
from .spec import MESSAGE_BYTES, MessagingSpec, load_spec
from .state import (
    SimAction,
    SimFile,
    SimMembership,
    SimMessage,
    SimPerson,
    SimRoom,
    SimWebhook,
    WebexState,
    id_type,
    mint_id,
)
from .world import Refused, WebexWorld

__all__ = [
    "CAPACITY",
    "FAILURE_LIMIT",
    "FAILURE_WINDOW",
    "MESSAGE_BYTES",
    "REAL_LIMITS",
    "Attempt",
    "CallRecord",
    "Fault",
    "MessagingSpec",
    "Refused",
    "SimAction",
    "SimFile",
    "SimMembership",
    "SimMessage",
    "SimPerson",
    "SimRoom",
    "SimWebhook",
    "WebexSimulator",
    "WebexState",
    "WebexWorld",
    "WebhookSender",
    "envelope",
    "id_type",
    "load_spec",
    "mint_id",
]
