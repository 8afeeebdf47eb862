"""
An in-process authoritative DNS server for interop tests.

Real peers (Prosody through libunbound, ejabberd through Erlang C{inet_res} and
libc) resolve through this server: C{scripts/in-netns} bind-mounts a
C{resolv.conf} naming C{127.0.0.53}, and the test starts the server there on
port 53, UDP and TCP.  It answers only from the L{DnsZone} the test fills,
claims authority for every name (NXDOMAIN with an SOA for anything unknown, so
no lookup ever needs another server) and records every query, so a test can
assert what was asked.

Usage::

    zone = DnsZone()
    zone.add_srv("_xmpp-server._tcp.prosody1.test", "xmpp.prosody1.test", 5269)
    zone.add_a("xmpp.prosody1.test", "127.0.0.11")
    server = DnsServer(zone)
    server.listen(reactor, "127.0.0.53", 53)
    self.addCleanup(server.stop)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort
from twisted.names import common, dns, server

__all__ = ["DnsQuery", "DnsServer", "DnsZone"]

#: Default TTL: short, so a zone change within one test is seen quickly.
DEFAULT_TTL = 5


def _normalise(name: str | bytes) -> str:
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return name.rstrip(".").lower()


@dataclass(frozen=True)
class DnsQuery:
    """
    One question the server received.

    @ivar name: queried name, lower case, no trailing dot.
    @ivar type: record type name, e.g. C{"SRV"}, C{"A"} (or C{"TYPE65"}).
    @ivar transport: C{"udp"} or C{"tcp"}.
    @ivar rcode: response code sent: C{"NOERROR"} or C{"NXDOMAIN"}.
    """

    name: str
    type: str
    transport: str
    rcode: str


class DnsZone:
    """
    Mutable record data served by L{DnsServer}; changes apply at once.
    """

    def __init__(self) -> None:
        self.records: dict[str, list[Any]] = {}

    def add(self, name: str, record: Any) -> None:
        """
        Add any C{twisted.names.dns.Record_*} under C{name}.

        @param name: owner name.
        @param record: the record payload.
        """
        self.records.setdefault(_normalise(name), []).append(record)

    def add_a(self, name: str, address: str, ttl: int = DEFAULT_TTL) -> None:
        """
        Add an A record.

        @param name: owner name.
        @param address: dotted IPv4 address.
        @param ttl: time to live in seconds.
        """
        self.add(name, dns.Record_A(address, ttl=ttl))

    def add_aaaa(self, name: str, address: str, ttl: int = DEFAULT_TTL) -> None:
        """
        Add an AAAA record.

        @param name: owner name.
        @param address: IPv6 address.
        @param ttl: time to live in seconds.
        """
        self.add(name, dns.Record_AAAA(address, ttl=ttl))

    def add_srv(
        self,
        name: str,
        target: str,
        port: int,
        priority: int = 0,
        weight: int = 0,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        """
        Add an SRV record, e.g. C{_xmpp-server._tcp.example.test}.

        @param name: owner name (service, protocol and domain).
        @param target: target host name (C{"."} means "no service").
        @param port: target port.
        @param priority: SRV priority.
        @param weight: SRV weight.
        @param ttl: time to live in seconds.
        """
        self.add(
            name,
            dns.Record_SRV(priority, weight, port, target.rstrip(".") or ".", ttl=ttl),
        )

    def add_xmpp_server(self, domain: str, address: str, port: int = 5269) -> str:
        """
        Publish an XMPP s2s service: SRV C{_xmpp-server._tcp.DOMAIN} pointing
        at C{xmpp.DOMAIN}, and an A record for that target.

        No A record is added for C{DOMAIN} itself, so a peer can only reach
        the server by honouring the SRV record.

        @param domain: the XMPP domain.
        @param address: IPv4 address of the server.
        @param port: s2s port.
        @return: the SRV target host name.
        """
        target = f"xmpp.{domain}"
        self.add_srv(f"_xmpp-server._tcp.{domain}", target, port)
        self.add_a(target, address)
        return target

    def remove(self, name: str, record_type: int | None = None) -> None:
        """
        Remove the records of one type (or all) under C{name}.

        @param name: owner name.
        @param record_type: e.g. C{dns.SRV}; L{None} removes all.
        """
        key = _normalise(name)
        if record_type is None:
            self.records.pop(key, None)
            return
        kept = [r for r in self.records.get(key, []) if r.TYPE != record_type]
        if kept:
            self.records[key] = kept
        else:
            self.records.pop(key, None)


class _ZoneAuthority(common.ResolverBase):
    """
    Authoritative answers from a L{DnsZone}, NXDOMAIN for unknown names.
    """

    def __init__(self, zone: DnsZone) -> None:
        common.ResolverBase.__init__(self)
        self.zone = zone

    def _soa(self, name: str) -> dns.RRHeader:
        # The queried name's TLD stands in as the zone apex; a 1 s minimum
        # keeps negative answers from being cached across zone changes.
        apex = name.rsplit(".", 1)[-1] if name else ""
        soa = dns.Record_SOA(
            mname=f"ns.{apex}" if apex else "ns",
            rname=f"hostmaster.{apex}" if apex else "hostmaster",
            serial=1,
            refresh=60,
            retry=60,
            expire=60,
            minimum=1,
            ttl=1,
        )
        return dns.RRHeader(apex, dns.SOA, dns.IN, 1, soa, auth=True)

    def _lookup(self, name: bytes, cls: int, type: int, timeout: Any) -> Any:
        key = _normalise(name)
        records = self.zone.records.get(key)
        if records is None:
            return defer.fail(dns.AuthoritativeDomainError(key))
        answers = [
            dns.RRHeader(key, r.TYPE, dns.IN, r.ttl or DEFAULT_TTL, r, auth=True)
            for r in records
            if r.TYPE == type or type == dns.ALL_RECORDS
        ]
        authority = [] if answers else [self._soa(key)]
        return defer.succeed((answers, authority, []))


class _RecordingServerFactory(server.DNSServerFactory):
    """
    A DNS server factory that records queries and answers like an
    authoritative server.
    """

    def __init__(self, authority: _ZoneAuthority, queries: list[DnsQuery]) -> None:
        server.DNSServerFactory.__init__(self, authorities=[authority])
        self._authority = authority
        self._queries = queries

    def _responseFromMessage(
        self,
        message: dns.Message,
        rCode: int = dns.OK,  # noqa: N803 - Twisted passes it by keyword
        answers: list[dns.RRHeader] | None = None,
        authority: list[dns.RRHeader] | None = None,
        additional: list[dns.RRHeader] | None = None,
    ) -> dns.Message:
        response = server.DNSServerFactory._responseFromMessage(
            self, message, rCode, answers, authority, additional
        )
        # Erlang inet_res drops replies whose RD differs from the query; RA
        # set because we answer every name (libunbound forwards with RD=1 and
        # treats RA=0 from a forwarder as lame).
        response.recDes = message.recDes
        response.recAv = message.recDes
        response.auth = True
        if rCode == dns.ENAME and message.queries:
            response.authority = [self._authority._soa(_normalise(message.queries[0].name.name))]
        return response

    def handleQuery(self, message: dns.Message, protocol: Any, address: Any) -> defer.Deferred[Any]:
        query = message.queries[0]
        name = _normalise(query.name.name)
        type_name = dns.QUERY_TYPES.get(query.type) or dns.EXT_QUERIES.get(
            query.type, f"TYPE{query.type}"
        )
        transport = "udp" if isinstance(protocol, dns.DNSDatagramProtocol) else "tcp"
        rcode = "NOERROR" if name in self._authority.zone.records else "NXDOMAIN"
        self._queries.append(DnsQuery(name, type_name, transport, rcode))
        return server.DNSServerFactory.handleQuery(self, message, protocol, address)


class DnsServer:
    """
    Serves a L{DnsZone} over UDP and TCP and records the questions.

    @ivar zone: the served records.
    @ivar queries: every query received, in order.
    @ivar address: (host, port) once listening.
    """

    def __init__(self, zone: DnsZone | None = None) -> None:
        self.zone = zone if zone is not None else DnsZone()
        self.queries: list[DnsQuery] = []
        self.factory = _RecordingServerFactory(_ZoneAuthority(self.zone), self.queries)
        self._ports: list[IListeningPort] = []
        self.address: tuple[str, int] | None = None

    def listen(self, reactor: Any, host: str = "127.0.0.53", port: int = 53) -> tuple[str, int]:
        """
        Listen on C{host}:C{port}, UDP and TCP.

        @param reactor: an C{IReactorUDP} and C{IReactorTCP} provider.
        @param host: address to bind.
        @param port: port; 0 picks a free UDP port and uses the same for TCP.
        @return: the (host, port) listened on.
        """
        udp = reactor.listenUDP(port, dns.DNSDatagramProtocol(self.factory), interface=host)
        self._ports.append(udp)
        actual: int = udp.getHost().port
        self._ports.append(reactor.listenTCP(actual, self.factory, interface=host))
        self.address = (host, actual)
        return self.address

    def stop(self) -> defer.Deferred[None]:
        """
        Stop listening.

        @return: fires when both ports are closed.
        """
        ports, self._ports = self._ports, []
        done = defer.gatherResults(
            [defer.maybeDeferred(p.stopListening) for p in ports], consumeErrors=True
        )
        return done.addCallback(lambda _: None)

    def queries_for(self, name: str) -> list[DnsQuery]:
        """
        The queries received for one name.

        @param name: owner name.
        @return: matching queries in order.
        """
        key = _normalise(name)
        return [q for q in self.queries if q.name == key]

    def asked(self, name: str, record_type: str) -> bool:
        """
        Whether a query for C{name}/C{record_type} was received.

        @param name: owner name.
        @param record_type: type name such as C{"SRV"}.
        @return: L{True} if it was asked at least once.
        """
        return any(q.type == record_type for q in self.queries_for(name))

    def unexpected(self, allowed_suffixes: Iterable[str]) -> list[DnsQuery]:
        """
        Queries for names outside the given domains.

        @param allowed_suffixes: domains (e.g. C{["prosody1.test"]}) whose
            names and subdomains may be asked about.
        @return: the other queries.
        """
        suffixes = [_normalise(s) for s in allowed_suffixes]
        return [
            q
            for q in self.queries
            if not any(q.name == s or q.name.endswith("." + s) for s in suffixes)
        ]
