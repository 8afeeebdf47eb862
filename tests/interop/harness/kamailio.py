"""
A private Kamailio 5.6 (Debian bookworm package) started by a test: the SIP
proxy of the remote domain, relaying to the hub over mutual TLS.

Topology (see C{shared/notes/sip-federation.md} section 4.2)::

    sipp (TCP) --> Kamailio ADDRESS:5060 --mutual TLS--> hub HUB:5061
    hub --mutual TLS--> Kamailio ADDRESS:5061 --TCP--> sipp UAS 127.0.0.1:UAS_PORT

The generated configuration:

  - listens on C{tcp:ADDRESS:5060} and C{tls:ADDRESS:5061}, serves the
    remote domain (C{alias}), does no DNS (C{dns=no}, C{rev_dns=no}): every
    next hop is an IP address;
  - TLS profile: its own certificate as server I{and} client certificate,
    C{verify_certificate} and C{require_certificate} both ways, the test CA
    as C{ca_list} (a peer without a valid certificate fails the handshake);
  - routing: in-dialog requests by C{loose_route()} (Record-Route on
    SUBSCRIBE and INVITE, double Record-Route across TCP/TLS); requests for
    the hub's domain to C{sip:HUB:5061;transport=tls}; requests for its own
    domain to the sipp UAS on C{127.0.0.1:UAS_PORT} over TCP; anything else
    404;
  - one worker per transport (C{children=1}, C{tcp_children=1}), so the
    messages of one connection are relayed in order, and C{-m 256} shared
    memory (less fails under TLS load, notes 4.3);
  - logs to standard error (C{-E}, C{log_stderror}) with one C{xlog} line
    per request and reply, into C{kamailio.log}.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet import defer

from nextplane.devcerts import CertPaths

from .listening import wait_for_listen
from .process import ManagedProcess, base_env, run_command, tail

__all__ = [
    "KAMAILIO",
    "KamailioOptions",
    "KamailioServer",
    "render_config",
    "render_tls_config",
    "start_kamailio",
]

KAMAILIO = "/usr/sbin/kamailio"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


@dataclass
class KamailioOptions:
    """
    What one Kamailio instance looks like.

    @ivar domain: the SIP domain it serves, e.g. C{b.test}.
    @ivar address: loopback address it listens on.
    @ivar cert: its certificate (server and client).
    @ivar ca: the CA certificate it trusts.
    @ivar hub_domain: the hub's tenant domain.
    @ivar hub_address: where the hub listens (TLS, C{hub_port}).
    @ivar hub_port: the hub's TLS port.
    @ivar uas_port: where the sipp UAS for C{domain} listens (TCP on
        127.0.0.1).
    @ivar tcp_port: its TCP port (sipp side).
    @ivar tls_port: its TLS port (hub side).
    """

    domain: str
    address: str
    cert: CertPaths
    ca: Path
    hub_domain: str
    hub_address: str
    hub_port: int = 5061
    uas_port: int = 5080
    tcp_port: int = 5060
    tls_port: int = 5061


def render_tls_config(options: KamailioOptions) -> str:
    """
    The C{tls} module profile file.
    """
    profile = (
        "method = TLSv1.2+\n"
        "verify_certificate = yes\n"
        "require_certificate = yes\n"
        f"private_key = {options.cert.key}\n"
        f"certificate = {options.cert.cert}\n"
        f"ca_list = {options.ca}\n"
    )
    return f"[server:default]\n{profile}\n[client:default]\n{profile}"


def render_config(options: KamailioOptions, tls_config: Path) -> str:
    """
    The C{kamailio.cfg} text; see the module docstring.
    """
    o = options
    return f"""#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
tcp_children=1
auto_aliases=no
dns=no
rev_dns=no
dns_try_ipv6=no
enable_tls=yes
tcp_connection_lifetime=3600
listen=tcp:{o.address}:{o.tcp_port}
listen=tls:{o.address}:{o.tls_port}
alias="{o.domain}"
mpath="{MODULES}"

loadmodule "tls.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "sanity.so"
loadmodule "xlog.so"

modparam("tls", "config", "{tls_config}")
modparam("tm", "fr_timer", 10000)
modparam("rr", "enable_double_rr", 1)

request_route {{
    xlog("L_NOTICE", "REQ $rm $ru from $si:$sp over $pr cseq=$cs\\n");
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        xlog("L_WARN", "malformed request from $si:$sp\\n");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            route(RELAY);
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    t_check_trans();
    if (is_method("SUBSCRIBE|INVITE")) {{
        record_route();
    }}
    if ($rd == "{o.hub_domain}") {{
        $du = "sip:{o.hub_address}:{o.hub_port};transport=tls";
        route(RELAY);
    }}
    if ($rd == "{o.domain}") {{
        $du = "sip:127.0.0.1:{o.uas_port};transport=tcp";
        route(RELAY);
    }}
    sl_send_reply("404", "Unknown domain");
    exit;
}}

route[RELAY] {{
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

onreply_route {{
    xlog("L_NOTICE", "REPLY $rs $rr for $rm from $si:$sp over $pr\\n");
}}
"""


class KamailioServer:
    """
    A running Kamailio.

    @ivar options: its options.
    @ivar directory: its directory (config, pid file, log).
    @ivar process: the main process.
    """

    def __init__(self, options: KamailioOptions, directory: Path, process: ManagedProcess):
        self.options = options
        self.directory = directory
        self.process = process

    @property
    def log_path(self) -> Path:
        """Its log (standard error)."""
        return self.process.output

    def log_text(self) -> str:
        """
        The log so far.

        @return: the text.
        """
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> defer.Deferred[int | None]:
        """
        Stop it (SIGTERM to the main process, which ends its children).

        @return: fires with the exit status.
        """
        return self.process.stop(grace=5.0)

    def diagnostics(self, lines: int = 60) -> str:
        """
        The end of its log, for failure messages.

        @return: the text.
        """
        return f"--- kamailio {self.options.domain} log:\n{tail(self.log_path, lines)}"


@defer.inlineCallbacks
def start_kamailio(reactor: Any, options: KamailioOptions, directory: Path) -> Any:
    """
    Write the configuration, check it (C{kamailio -c}), start Kamailio in
    the foreground and wait until both ports accept connections.

    @param reactor: the reactor.
    @param options: what to run.
    @param directory: its own directory (created).
    @return: a Deferred firing with the L{KamailioServer}.
    """
    directory.mkdir(parents=True, exist_ok=True)
    run_dir = directory / "run"
    run_dir.mkdir(exist_ok=True)
    tls_config = directory / "kamailio-tls.cfg"
    tls_config.write_text(render_tls_config(options))
    config = directory / "kamailio.cfg"
    config.write_text(render_config(options, tls_config))
    env = base_env(directory)
    yield run_command(reactor, [KAMAILIO, "-c", "-f", str(config)], env, directory)
    process = ManagedProcess(
        reactor,
        f"kamailio {options.domain}",
        [
            KAMAILIO,
            "-f",
            str(config),
            "-Y",
            str(run_dir),
            "-P",
            str(run_dir / "kamailio.pid"),
            "-DD",
            "-E",
            "-m",
            "256",
            "-M",
            "16",
        ],
        env,
        directory,
        directory / "kamailio.log",
    )
    server = KamailioServer(options, directory, process)
    try:
        for port in (options.tcp_port, options.tls_port):
            yield wait_for_listen(reactor, options.address, port, process=process)
    except BaseException:
        yield server.stop()
        raise
    return server
