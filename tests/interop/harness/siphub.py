"""
The hub under test with its SIP connector: names kept for the SIP interop
tests; the launcher is L{tests.interop.harness.hub.HubUnderTest}.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass

from .hub import HubOptions, HubUnderTest, poll, sip_registry

__all__ = ["SipHub", "SipHubOptions", "poll", "sip_registry"]


@dataclass
class SipHubOptions(HubOptions):
    """
    L{HubOptions} for a SIP hub; C{port} is its TLS port (default 5061).
    """

    federation: str = "sip"
    port: InitVar[int] = 5061

    def __post_init__(self, port: int) -> None:
        self.sip_port = port


#: The hub with its SIP connector is the one launcher.
SipHub = HubUnderTest
