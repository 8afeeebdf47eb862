"""
A private Prosody (Debian bookworm, 0.12) started by a test.

The config is generated into the instance directory: its own data dir, pid
file, log file (debug level), listening address, certificate, and the s2s
policy under test.  Defaults follow Debian's C{/etc/prosody/prosody.cfg.lua}
(its C{modules_enabled}, C{s2s_secure_auth = true}, encryption required), so a
test runs against what an administrator gets out of the box.

Quirks handled here (see C{shared/notes/xmpp-s2s.md} section 3.3):
  - as root Prosody refuses to start without C{run_as_root = true};
  - with C{lua-unbound} installed, libunbound resolves, and its built-in
    RFC 6761 C{test.} local zone answers NXDOMAIN for every C{*.test} name
    without asking our DNS server: C{local-zone: "test. transparent"};
  - C{prosodyctl register} writes accounts straight to C{data_path}, so users
    are created before the server starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer

from nextplane.devcerts import CertPaths

from .process import ManagedProcess, base_env, gather, run_command
from .xmppserver import XmppServer, launch

__all__ = ["PROSODY", "PROSODYCTL", "ProsodyOptions", "ProsodyServer", "start_prosody"]

PROSODY = "/usr/bin/prosody"
PROSODYCTL = "/usr/bin/prosodyctl"

#: Debian bookworm's default C{modules_enabled} (minus C{admin_shell}).
DEBIAN_MODULES = (
    "disco",
    "roster",
    "saslauth",
    "tls",
    "blocklist",
    "bookmarks",
    "carbons",
    "dialback",
    "limits",
    "pep",
    "private",
    "smacks",
    "vcard4",
    "vcard_legacy",
    "csi_simple",
    "invites",
    "invites_adhoc",
    "invites_register",
    "ping",
    "register",
    "time",
    "uptime",
    "version",
    "admin_adhoc",
    # Debian also enables "admin_shell"; left out because its admin socket
    # under data_path exceeds the 108-byte Unix socket path limit in trial's
    # deep temp directories, and tests do not use "prosodyctl shell".
    "posix",
)


def _lua(value: Any) -> str:
    """Render a Python value as a Lua literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{text}"'
    if isinstance(value, Mapping):
        items = "; ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in value.items())
        return "{ " + items + " }"
    if isinstance(value, Sequence):
        return "{ " + "; ".join(_lua(v) for v in value) + " }"
    raise TypeError(f"cannot render {value!r} as Lua")


@dataclass
class ProsodyOptions:
    """
    What one Prosody instance looks like.

    @ivar domain: the VirtualHost, e.g. C{prosody1.test}.
    @ivar address: loopback address to listen on.
    @ivar cert: certificate and key presented for C{domain} (c2s, and s2s
        unless C{s2s_cert} is given).
    @ivar s2s_cert: another certificate for s2s only (C{s2s_ssl}), so a
        test can give the server an untrusted or wrong-name s2s certificate
        while clients still verify the c2s one.
    @ivar trusted_ca: CA certificate Prosody trusts for s2s (C{ssl.cafile});
        L{None} leaves only the system store, so test certificates are
        untrusted and only dialback (with C{s2s_insecure_domains}) works.
    @ivar users: C{{localpart: password}} created before start.
    @ivar s2s_require_encryption: Prosody's option (Debian default true).
    @ivar s2s_secure_auth: certificate-only s2s (Debian default true).
    @ivar s2s_insecure_domains: peers allowed to use dialback anyway.
    @ivar s2s_secure_domains: peers that must present a valid certificate.
    @ivar c2s_port: client port.
    @ivar s2s_port: server port.
    @ivar modules: C{modules_enabled}.
    @ivar extra_global: more Lua lines for the global section.
    @ivar extra_host: more Lua lines for the VirtualHost section.
    """

    domain: str
    address: str
    cert: CertPaths
    trusted_ca: Path | None = None
    s2s_cert: CertPaths | None = None
    users: Mapping[str, str] = field(default_factory=dict)
    s2s_require_encryption: bool = True
    s2s_secure_auth: bool = True
    s2s_insecure_domains: Sequence[str] = ()
    s2s_secure_domains: Sequence[str] = ()
    c2s_port: int = 5222
    s2s_port: int = 5269
    modules: Sequence[str] = DEBIAN_MODULES
    extra_global: str = ""
    extra_host: str = ""


def render_config(options: ProsodyOptions, directory: Path) -> str:
    """
    The Prosody configuration for C{options}, with state under C{directory}.

    @param options: the instance description.
    @param directory: the instance directory.
    @return: Lua configuration text.
    """
    g: dict[str, Any] = {
        "run_as_root": True,
        "pidfile": directory / "prosody.pid",
        "data_path": directory / "data",
        "interfaces": [options.address],
        "local_interfaces": [options.address],
        "c2s_ports": [options.c2s_port],
        "s2s_ports": [options.s2s_port],
        "http_ports": [],
        "https_ports": [],
        "use_ipv6": False,
        "admins": [],
        "modules_enabled": list(options.modules),
        "modules_disabled": [],
        "authentication": "internal_hashed",
        # An empty directory: each host names its certificate explicitly.
        "certificates": directory / "certs",
        "s2s_require_encryption": options.s2s_require_encryption,
        "s2s_secure_auth": options.s2s_secure_auth,
        "s2s_insecure_domains": list(options.s2s_insecure_domains),
        "s2s_secure_domains": list(options.s2s_secure_domains),
        # Debian's defaults.
        "limits": {"c2s": {"rate": "10kb/s"}, "s2sin": {"rate": "30kb/s"}},
        # libunbound reads our resolv.conf (127.0.0.53), never /etc/hosts,
        # and must not answer *.test from its RFC 6761 local zone.
        "unbound": {
            "resolvconf": True,
            "hoststxt": False,
            "options": {"local-zone:": "test. transparent"},
        },
    }
    if options.trusted_ca is not None:
        g["ssl"] = {"cafile": options.trusted_ca}
    lines = ["-- Generated by tests/interop/harness/prosody.py", ""]
    lines += [f"{key} = {_lua(value)}" for key, value in g.items()]
    log_file = _lua(directory / "prosody.log")
    lines.append(
        f'log = {{ {{ levels = {{ min = "debug" }}; to = "file"; filename = {log_file} }} }}'
    )
    lines.append(options.extra_global)
    lines.append("")
    lines.append(f"VirtualHost {_lua(options.domain)}")
    ssl = {"certificate": options.cert.cert, "key": options.cert.key}
    lines.append(f"    ssl = {_lua(ssl)}")
    if options.s2s_cert is not None:
        s2s_ssl = {"certificate": options.s2s_cert.cert, "key": options.s2s_cert.key}
        lines.append(f"    s2s_ssl = {_lua(s2s_ssl)}")
    lines.append(options.extra_host)
    return "\n".join(lines) + "\n"


class ProsodyServer(XmppServer):
    """
    A running private Prosody; see L{XmppServer}.
    """

    product = "prosody"
    config_name = "prosody.cfg.lua"
    log_name = "prosody.log"
    stop_grace = 10.0

    @defer.inlineCallbacks
    def restart(self, timeout: float = 60.0) -> Any:
        """
        Stop Prosody (gracefully) and start it again with the same
        configuration and data, on the same address.

        @param timeout: seconds to wait for the ports.
        @return: a Deferred firing once it listens again.
        """
        yield self.stop()
        yield self.start_again(timeout)

    def freeze(self) -> None:
        """
        SIGSTOP: Prosody stops reading and answering, its connections stay
        open (a hung server); L{kill} ends it.
        """
        self.process.signal("STOP")

    def kill(self) -> defer.Deferred[int | None]:
        """
        SIGKILL: Prosody ends at once, without closing its streams or
        saving anything.

        @return: fires with the exit status once it ended.
        """
        ended = self.process.when_ended()
        self.process.signal("KILL")
        return ended

    @defer.inlineCallbacks
    def start_again(self, timeout: float = 60.0) -> Any:
        """
        Start the stopped Prosody with the same configuration and data, on
        the same address.

        @param timeout: seconds to wait for the ports.
        @return: a Deferred firing once it listens again.
        """
        self.process = yield _launch(self._reactor, self.options, self.directory, timeout)


@defer.inlineCallbacks
def start_prosody(
    reactor: Any, options: ProsodyOptions, directory: Path, timeout: float = 60.0
) -> Any:
    """
    Write the config, register users, start Prosody and wait for its ports.

    The caller owns the result and must call L{ProsodyServer.stop} (e.g. in
    C{addCleanup}); if starting fails, the process is stopped here.

    @param reactor: the reactor.
    @param options: the instance description.
    @param directory: instance directory, created if needed.
    @param timeout: seconds to wait for the ports.
    @return: a Deferred firing with a L{ProsodyServer}.
    """
    # Absolute: configs and tools resolve relative paths against their own dirs.
    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    # Prosody indexes its "certificates" directory at start; must exist.
    (directory / "certs").mkdir(exist_ok=True)
    config = directory / ProsodyServer.config_name
    config.write_text(render_config(options, directory))
    env = base_env(directory)

    # prosodyctl writes accounts into data_path; run them concurrently.
    registrations = [
        run_command(
            reactor,
            [PROSODYCTL, "--config", str(config), "register", user, options.domain, password],
            env,
            directory,
        )
        for user, password in options.users.items()
    ]
    yield gather(registrations)

    process = yield _launch(reactor, options, directory, timeout)
    return ProsodyServer(reactor, options, directory, process)


def _launch(
    reactor: Any, options: ProsodyOptions, directory: Path, timeout: float
) -> defer.Deferred[ManagedProcess]:
    """
    Start the Prosody process of an instance directory and wait for its
    ports.
    """
    return launch(  # type: ignore[no-any-return]
        reactor,
        ProsodyServer.product,
        options,
        [PROSODY, "--config", str(directory / ProsodyServer.config_name), "-F"],
        base_env(directory),
        directory,
        (options.c2s_port, options.s2s_port),
        timeout,
    )
