# -*- test-case-name: tests.sip.test_build -*-
"""
C{[connectors.sip]}: the validated section (L{SipConfig}), what the
connector core needs of it (L{SipSettings}), and the static routes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from attrs import field, frozen

from ...config import ConfigError, PartnerConfig, Section, TenantConfig
from ...model.address import InvalidAddress, validate_domain
from .im import FORMATS
from .resolve import parse_route
from .uri import SipSyntaxError, parse_uri

__all__ = ["PLATFORM", "SipConfig", "SipSettings", "parse_config", "settings_for", "static_routes"]

#: The platform name under which SIP message ids are kept in the store,
#: and the protocol name of C{[[federation.partners]]} reached over SIP.
PLATFORM = "sip"


@frozen
class SipConfig:
    """
    C{[connectors.sip]}.

    @ivar listen: Endpoint of the mutual-TLS listener (plain TCP endpoint;
        the TLS is the connector's own, certificate by SNI), e.g.
        C{tcp:5061}.
    @ivar relay_listen: Optional plain TCP listener for trusted relays.
    @ivar trusted_relays: IP addresses allowed on C{relay_listen}; their
        requests may carry any remote From domain.
    @ivar via_host: The hub's SIP host name, for Via and Contact (must
        resolve to the hub); absent: the tenant's own domain in Contact
        (found through its SRV records) and the first tenant in Via.
    @ivar via_port: The port in Via and Contact when C{via_host} is set.
    @ivar routes: Remote domain to a fixed C{host[:port][;transport=tcp]}
        instead of DNS (C{[[federation.partners]]} routes of protocol
        C{sip} are added).
    @ivar session_domains: Remote domains reached with INVITE sessions
        (Skype for Business / Lync); others get pager MESSAGEs.
    @ivar message_format: C{auto}, C{plain}, C{html} or C{alternative}
        (see L{nextplane.connectors.sip.im.encode_text}).
    @ivar session_idle_timeout: Seconds an IM session may stay unused.
    @ivar subscription_expires: Seconds asked for and granted (at most)
        for presence subscriptions.
    @ivar min_expires: Shortest subscription accepted (423 below).
    @ivar max_message_bytes: Largest body accepted (413 above).
    @ivar connect_timeout: Seconds per outbound connection attempt.
    @ivar advertise_alias: Put C{;alias} in our Via (RFC 5923).
    @ivar system_ca: Also trust the system's CA bundle.
    @ivar message_timeout: Seconds a started message may take to arrive
        completely (then 400 and close).
    @ivar idle_timeout: Seconds an inbound connection may stay silent with
        no transaction before it is closed.
    @ivar max_headers: Most header lines in one message (then 400 and
        close).
    @ivar max_connections_per_address: Inbound TLS connections accepted
        at once from one IP address.
    """

    listen: str = "tcp:5061"
    relay_listen: str | None = None
    trusted_relays: frozenset[str] = frozenset()
    via_host: str | None = None
    via_port: int = 5061
    routes: Mapping[str, str] = field(factory=dict)
    session_domains: frozenset[str] = frozenset()
    message_format: str = "auto"
    session_idle_timeout: float = 600.0
    subscription_expires: int = 3600
    min_expires: int = 60
    max_message_bytes: int = 256 * 1024
    connect_timeout: float = 20.0
    advertise_alias: bool = False
    system_ca: bool = True
    message_timeout: float = 30.0
    idle_timeout: float = 120.0
    max_headers: int = 256
    max_connections_per_address: int = 20


def parse_config(section: Section) -> SipConfig:
    """
    Validate C{[connectors.sip]}.
    """

    def domain(key: str, value: str) -> str:
        try:
            return validate_domain(value)
        except InvalidAddress as e:
            raise ConfigError(key, str(e)) from None

    routes: dict[str, str] = {}
    if section.has("routes"):
        table = section.section("routes")
        for name in table.table_names():
            value = table.string(name)
            try:
                parse_route(value)
            except ValueError as e:
                raise ConfigError(table.key(name), str(e)) from None
            routes[domain(table.key(name), name)] = value
        table.finish()
    session_domains = frozenset(
        domain(f"{section.key('session_domains')}[{i}]", value)
        for i, value in enumerate(section.strings("session_domains", ()))
    )
    relays = section.strings("trusted_relays", ())
    for index, value in enumerate(relays):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ConfigError(
                f"{section.key('trusted_relays')}[{index}]", f"not an IP address: {value!r}"
            ) from None
    via_host = section.optional_string("via_host")
    if via_host is not None:
        try:
            parse_uri(f"sip:{via_host}")
        except SipSyntaxError:
            raise ConfigError(section.key("via_host"), f"not a host name: {via_host!r}") from None
    min_expires = section.integer("min_expires", 60, minimum=1, maximum=3600)
    return SipConfig(
        listen=section.server_endpoint("listen", "tcp:5061"),
        relay_listen=section.server_endpoint("relay_listen")
        if section.has("relay_listen")
        else None,
        trusted_relays=frozenset(relays),
        via_host=via_host,
        via_port=section.integer("via_port", 5061, minimum=1, maximum=65535),
        routes=routes,
        session_domains=session_domains,
        message_format=section.choice("message_format", FORMATS, "auto"),
        session_idle_timeout=section.number("session_idle_timeout", 600.0, minimum=1.0),
        subscription_expires=section.integer(
            "subscription_expires", 3600, minimum=min_expires, maximum=86400 * 7
        ),
        min_expires=min_expires,
        max_message_bytes=section.integer(
            "max_message_bytes", 256 * 1024, minimum=1024, maximum=16 * 1024 * 1024
        ),
        connect_timeout=section.number("connect_timeout", 20.0, minimum=1.0),
        advertise_alias=section.boolean("advertise_alias", False),
        system_ca=section.boolean("system_ca", True),
        message_timeout=section.number("message_timeout", 30.0, minimum=0.1),
        idle_timeout=section.number("idle_timeout", 120.0, minimum=0.1),
        max_headers=section.integer("max_headers", 256, minimum=20, maximum=10_000),
        max_connections_per_address=section.integer(
            "max_connections_per_address", 20, minimum=1, maximum=100_000
        ),
    )


@frozen
class SipSettings:
    """
    What the connector core needs of the configuration.
    """

    via_host: str
    via_port: int = 5061
    contact_host: str | None = None
    session_domains: frozenset[str] = frozenset()
    message_format: str = "auto"
    session_idle_timeout: float = 600.0
    subscription_expires: int = 3600
    min_expires: int = 60


def static_routes(config: SipConfig, partners: Iterable[PartnerConfig]) -> dict[str, str]:
    """
    The configured routes plus those of C{[[federation.partners]]} of
    protocol C{sip}.
    """
    routes = {p.domain: p.route for p in partners if p.protocol == PLATFORM and p.route}
    routes.update(config.routes)
    return routes


def settings_for(config: SipConfig, tenants: Sequence[TenantConfig]) -> SipSettings:
    """
    The connector settings from its section and the tenants.
    """
    via_host = config.via_host or (tenants[0].domain if tenants else "localhost")
    return SipSettings(
        via_port=config.via_port,
        contact_host=config.via_host,
        session_domains=config.session_domains,
        via_host=via_host,
        message_format=config.message_format,
        session_idle_timeout=config.session_idle_timeout,
        subscription_expires=config.subscription_expires,
        min_expires=config.min_expires,
    )
