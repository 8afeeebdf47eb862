"""
A private ejabberd (Debian bookworm, 23.01) started by a test.

ejabberd runs as C{erl ... -s ejabberd} directly rather than through
C{ejabberdctl}: as root, C{ejabberdctl} switches to the C{ejabberd} user and
needs an Erlang node name, a cookie and epmd.  Without C{-sname} the node is
C{nonode@nohost}: no distribution, no epmd, nothing shared between instances
or with other Erlang services on the machine.  Users are created through
C{mod_http_api} (C{POST /api/register}) on a plain HTTP listener on the
instance's own loopback address, allowed for 127.0.0.0/8 only.

Resolution (C{shared/notes/xmpp-s2s.md} section 3.4): SRV through Erlang
C{inet_res}, pointed at the harness DNS server by an C{ERL_INETRC} file
(C{resolv_conf} first, or a later one wipes the nameservers); A/AAAA through
libc, which in the namespace also reaches the harness server.

Defaults follow Debian's C{/etc/ejabberd/ejabberd.yml}
(C{s2s_use_starttls: required}, TLS options, C{mod_s2s_dialback}), trimmed of
listeners and modules the tests do not use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.python.failure import Failure

from nextplane.devcerts import CertPaths

from .netns import DNS_ADDRESS
from .process import CommandFailed, ManagedProcess, base_env, gather
from .xmppserver import XmppServer, launch

__all__ = ["ERL", "EjabberdOptions", "EjabberdServer", "render_config", "start_ejabberd"]

ERL = "/usr/bin/erl"
ERL_LIBS = "/usr/lib/x86_64-linux-gnu"

_ATOM = re.compile(r"^[a-z][a-z0-9_]*$")


def _yaml_scalar(value: Any) -> str:
    # Atoms (module names, "required") plain, like Debian's example; every
    # other string double-quoted (JSON strings are valid YAML).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _ATOM.match(text) and text not in ("true", "false", "yes", "no", "on", "off", "null"):
        return text
    return json.dumps(text)


def to_yaml(value: Any, indent: int = 0) -> str:
    """
    Render nested dicts, lists and scalars as block YAML.

    @param value: the data.
    @param indent: current indentation.
    @return: YAML text (ends with a newline for collections).
    """
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        out = []
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                out.append(f"{pad}{_yaml_scalar(key)}:\n{to_yaml(item, indent + 2)}")
            else:
                out.append(f"{pad}{_yaml_scalar(key)}: {to_yaml(item, indent + 2)}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return "[]"
        out = []
        for item in value:
            if isinstance(item, Mapping) and item:
                body = to_yaml(item, indent + 2)
                out.append(f"{pad}-\n{body}")
            else:
                out.append(f"{pad}- {to_yaml(item, indent + 2)}\n")
        return "".join(out)
    return _yaml_scalar(value)


@dataclass
class EjabberdOptions:
    """
    What one ejabberd instance looks like.

    @ivar domain: the served host, e.g. C{ejabberd1.test}.
    @ivar address: loopback address to listen on.
    @ivar cert: certificate for C{domain} (its combined PEM is used).
    @ivar trusted_ca: CA certificate trusted for s2s and c2s (C{s2s_cafile},
        C{ca_file}); L{None} leaves the system bundle only.
    @ivar users: C{{localpart: password}} registered after start.
    @ivar s2s_use_starttls: C{required} (Debian), C{optional}, C{false}.
    @ivar dialback: load C{mod_s2s_dialback} (Debian does).
    @ivar c2s_port: client port (STARTTLS required).
    @ivar s2s_port: server port.
    @ivar http_port: plain HTTP port for C{/api}.
    @ivar loglevel: C{info} or C{debug} (very verbose).
    @ivar extra: top-level options merged over the generated ones.
    """

    domain: str
    address: str
    cert: CertPaths
    trusted_ca: Path | None = None
    users: Mapping[str, str] = field(default_factory=dict)
    s2s_use_starttls: str = "required"
    dialback: bool = True
    c2s_port: int = 5222
    s2s_port: int = 5269
    http_port: int = 5280
    loglevel: str = "info"
    extra: Mapping[str, Any] = field(default_factory=dict)


def render_config(options: EjabberdOptions) -> str:
    """
    The ejabberd YAML configuration for C{options}.

    @param options: the instance description.
    @return: YAML text.
    """
    if options.cert.combined is None:
        raise ValueError("ejabberd needs a combined cert+key PEM (a domain certificate)")
    tls_options = [
        "no_sslv3",
        "no_tlsv1",
        "no_tlsv1_1",
        "cipher_server_preference",
        "no_compression",
    ]
    ciphers = "HIGH:!aNULL:!eNULL:!3DES:@STRENGTH"
    modules: dict[str, Any] = {
        "mod_adhoc": {},
        "mod_admin_extra": {},
        "mod_blocking": {},
        "mod_caps": {},
        "mod_carboncopy": {},
        "mod_client_state": {},
        "mod_disco": {},
        "mod_http_api": {},
        "mod_last": {},
        "mod_offline": {},
        "mod_ping": {},
        "mod_privacy": {},
        "mod_private": {},
        "mod_roster": {"versioning": True},
        "mod_stream_mgmt": {"resend_on_timeout": "if_offline"},
        "mod_version": {},
    }
    if options.dialback:
        modules["mod_s2s_dialback"] = {}
    config: dict[str, Any] = {
        "loglevel": options.loglevel,
        "log_rotate_count": 0,
        "hosts": [options.domain],
        "certfiles": [str(options.cert.combined)],
        "c2s_ciphers": ciphers,
        "s2s_ciphers": ciphers,
        "c2s_protocol_options": tls_options,
        "s2s_protocol_options": tls_options,
        "s2s_use_starttls": options.s2s_use_starttls,
        # Fail fast in tests instead of Debian's 10 s x 2 and 300 s backoff.
        "s2s_dns_timeout": 3,
        "s2s_dns_retries": 1,
        "s2s_max_retry_delay": 5,
        "auth_password_format": "scram",
        "listen": [
            {
                "port": options.c2s_port,
                "ip": options.address,
                "module": "ejabberd_c2s",
                "max_stanza_size": 262144,
                "access": "c2s",
                "starttls_required": True,
                "protocol_options": tls_options,
            },
            {
                "port": options.s2s_port,
                "ip": options.address,
                "module": "ejabberd_s2s_in",
                "max_stanza_size": 524288,
            },
            {
                "port": options.http_port,
                "ip": options.address,
                "module": "ejabberd_http",
                "request_handlers": {"/api": "mod_http_api"},
            },
        ],
        "acl": {"loopback": {"ip": ["127.0.0.0/8"]}},
        "access_rules": {"c2s": {"allow": "all"}},
        "api_permissions": {
            "test harness": {
                "from": ["ejabberd_ctl", "mod_http_api"],
                "who": {"ip": "127.0.0.0/8"},
                "what": "*",
            }
        },
        "modules": modules,
    }
    if options.trusted_ca is not None:
        config["s2s_cafile"] = str(options.trusted_ca)
        config["ca_file"] = str(options.trusted_ca)
    config.update(options.extra)
    return "# Generated by tests/interop/harness/ejabberd.py\n" + to_yaml(config)


def render_inetrc(dns_address: str = DNS_ADDRESS, port: int = 53) -> str:
    """
    An Erlang C{inetrc} sending C{inet_res} to the harness DNS server only.

    @param dns_address: IPv4 address of the DNS server.
    @param port: its port.
    @return: the file text.
    """
    octets = ",".join(str(b) for b in IPv4Address(dns_address).packed)
    # resolv_conf must come first: setting it later wipes the nameservers.
    return (
        '{resolv_conf, ""}.\n'
        '{hosts_file, ""}.\n'
        f"{{nameserver, {{{octets}}}, {port}}}.\n"
        "{lookup, [file, native]}.\n"
    )


class _HttpExchange(protocol.Protocol):
    """
    One HTTP/1.0 request; the server closes, so nothing outlives the call.
    """

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._data = bytearray()
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self._request)

    def dataReceived(self, data: bytes) -> None:
        self._data += data

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.done.callback(bytes(self._data))


@defer.inlineCallbacks
def _api_call(reactor: Any, address: str, port: int, command: str, args: Mapping[str, Any]) -> Any:
    body = json.dumps(dict(args)).encode()
    request = (
        f"POST /api/{command} HTTP/1.0\r\nHost: {address}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    exchange = _HttpExchange(request)
    endpoint = TCP4ClientEndpoint(reactor, address, port, timeout=10)
    yield endpoint.connect(protocol.Factory.forProtocol(lambda: exchange))
    response = yield exchange.done.addTimeout(20, reactor)
    head, _, payload = response.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200 " not in status + " ":
        raise CommandFailed(
            f"ejabberd /api/{command}: {status}: {payload.decode(errors='replace')}"
        )
    return json.loads(payload) if payload else None


class EjabberdServer(XmppServer):
    """
    A running private ejabberd; see L{XmppServer}. Its process is
    C{beam.smp}, its data the Mnesia spool in C{directory}.
    """

    product = "ejabberd"
    config_name = "ejabberd.yml"
    log_name = "ejabberd.log"
    # SIGTERM: the VM shuts down cleanly.
    stop_grace = 15.0

    def api(self, command: str, **args: Any) -> defer.Deferred[Any]:
        """
        Call an ejabberd API command (C{mod_http_api}), e.g. C{register}.

        @param command: command name.
        @param args: its arguments.
        @return: fires with the decoded JSON result; fails with
            L{CommandFailed} on a non-200 answer.
        """
        return _api_call(self._reactor, self.options.address, self.options.http_port, command, args)

    def register(self, user: str, password: str) -> defer.Deferred[Any]:
        """
        Create an account on this server's domain.

        @param user: local part.
        @param password: password.
        @return: fires when created.
        """
        return _register(self._reactor, self.options, user, password)


@defer.inlineCallbacks
def start_ejabberd(
    reactor: Any,
    options: EjabberdOptions,
    directory: Path,
    dns_address: str = DNS_ADDRESS,
    timeout: float = 75.0,
) -> Any:
    """
    Write the config, start ejabberd, wait for its ports, register users.

    The caller owns the result and must call L{EjabberdServer.stop}; if
    starting fails, the process is stopped here.

    @param reactor: the reactor.
    @param options: the instance description.
    @param directory: instance directory, created if needed.
    @param dns_address: the harness DNS server, for C{inet_res}.
    @param timeout: seconds to wait for the ports.
    @return: a Deferred firing with an L{EjabberdServer}.
    """
    # Absolute: configs and tools resolve relative paths against their own dirs.
    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / EjabberdServer.config_name
    config.write_text(render_config(options))
    inetrc = directory / "inetrc"
    inetrc.write_text(render_inetrc(dns_address))
    env = base_env(
        directory,
        EJABBERD_CONFIG_PATH=str(config),
        EJABBERD_LOG_PATH=str(directory / EjabberdServer.log_name),
        ERL_INETRC=str(inetrc),
        ERL_LIBS=ERL_LIBS,
        ERL_CRASH_DUMP=str(directory / "erl_crash.dump"),
        ERL_CRASH_DUMP_BYTES="0",
    )
    spool = directory / "db"
    argv = [
        ERL,
        "-noinput",
        "-noshell",
        "+K",
        "true",
        "-mnesia",
        "dir",
        json.dumps(str(spool)),  # an Erlang string term: "/path"
        "-s",
        "ejabberd",
    ]

    def register_users(_: ManagedProcess) -> defer.Deferred[Any]:
        return gather([_register(reactor, options, u, p) for u, p in options.users.items()])

    process = yield launch(
        reactor,
        EjabberdServer.product,
        options,
        argv,
        env,
        directory,
        (options.c2s_port, options.s2s_port, options.http_port),
        timeout,
        ready=register_users,
    )
    return EjabberdServer(reactor, options, directory, process)


def _register(
    reactor: Any, options: EjabberdOptions, user: str, password: str
) -> defer.Deferred[Any]:
    return _api_call(  # type: ignore[no-any-return]
        reactor,
        options.address,
        options.http_port,
        "register",
        {"user": user, "host": options.domain, "password": password},
    )
