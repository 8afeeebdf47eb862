"""
A local Slack for tests and benchmarks: the Web API checked against
Slack's published spec, a simulated workspace, rate limits, fault
injection and signed event deliveries to the hub; L{SlackCloud} puts
several workspaces behind one API, as one app installed in many
workspaces sees Slack.
"""

from .cloud import SlackCloud
from .events import Attempt, Delivery, EventSender
from .records import CAPACITY, REAL_LIMITS, CallRecord, Fault, RateLimitRecord, Violation
from .simulator import SlackSimulator
from .spec import WebApiSpec, load_spec
from .state import Conversation, SimFile, SimMessage, SimToken, SimUser, Workspace

__all__ = [
    "CAPACITY",
    "REAL_LIMITS",
    "Attempt",
    "CallRecord",
    "Conversation",
    "Delivery",
    "EventSender",
    "Fault",
    "RateLimitRecord",
    "SimFile",
    "SimMessage",
    "SimToken",
    "SimUser",
    "SlackCloud",
    "SlackSimulator",
    "Violation",
    "WebApiSpec",
    "Workspace",
    "load_spec",
]
