"""
baresip 1.0 (Debian C{baresip-core}) as a SIP user agent sending MESSAGE
over TLS, with or without a client certificate (see
C{shared/notes/sip-federation.md} section 4.4).

The configuration directory holds:

  - C{config}: C{sip_listen} on 127.0.0.1 (TLS listens on the next port),
    C{sip_certificate} (certificate and key in one PEM: the mutual-TLS
    client certificate; left out for the no-certificate case),
    C{sip_cafile}, the C{account}, C{contact} (provides C{/message}) and
    C{menu} modules;
  - C{accounts}: one account, C{regint=0} (no REGISTER), its outbound proxy
    the hub's TLS listener;
  - C{contacts}: the hub user, so C{/message TEXT} goes to them.

L{start_baresip} runs it with C{-s} (SIP trace to its output), C{-e}
commands run at start, and C{-t} seconds before it quits by itself; tests
usually stop it earlier, once the hub saw what they wait for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .process import ManagedProcess, base_env

__all__ = ["BARESIP", "BaresipOptions", "render_accounts", "render_config", "start_baresip"]

BARESIP = "/usr/bin/baresip"
MODULES = "/usr/lib/baresip/modules"


@dataclass
class BaresipOptions:
    """
    One baresip user agent.

    @ivar user: its address of record, e.g. C{alice@b.test}.
    @ivar outbound: the proxy it sends through, e.g. C{sip:127.0.0.11:5061;transport=tls}.
    @ivar ca: the CA certificate it trusts.
    @ivar certificate: combined PEM (certificate then key) presented as
        client certificate; L{None} for none.
    @ivar contact: who C{/message} goes to, e.g. C{bob@a.test}.
    @ivar listen_port: C{sip_listen} port (TLS on the next one).
    """

    user: str
    outbound: str
    ca: Path
    certificate: Path | None
    contact: str
    listen_port: int = 5064


def render_config(options: BaresipOptions) -> str:
    """
    The C{config} file.
    """
    lines = [
        "poll_method\t\tepoll",
        f"sip_listen\t\t127.0.0.1:{options.listen_port}",
        f"sip_cafile\t\t{options.ca}",
        f"module_path\t\t{MODULES}",
        "module_tmp\t\taccount.so",
        "module_app\t\tcontact.so",
        "module_app\t\tmenu.so",
        "audio_player\t\tnone",
        "audio_source\t\tnone",
        "audio_alert\t\tnone",
    ]
    if options.certificate is not None:
        lines.insert(2, f"sip_certificate\t\t{options.certificate}")
    return "\n".join(lines) + "\n"


def render_accounts(options: BaresipOptions) -> str:
    """
    The C{accounts} file.
    """
    return f'<sip:{options.user};transport=tls>;regint=0;outbound="{options.outbound}"\n'


def start_baresip(
    reactor: Any,
    options: BaresipOptions,
    directory: Path,
    commands: Sequence[str],
    quit_after: int = 30,
) -> ManagedProcess:
    """
    Write the configuration and start baresip running C{commands}.

    @return: the process (stop it, or it quits after C{quit_after} seconds).
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config").write_text(render_config(options))
    (directory / "accounts").write_text(render_accounts(options))
    (directory / "contacts").write_text(f'"Hub user" <sip:{options.contact}>\n')
    # -n: in a namespace with only "lo", baresip finds no address by itself.
    argv = [BARESIP, "-f", str(directory), "-n", "127.0.0.1", "-s", "-t", str(quit_after)]
    for command in commands:
        argv += ["-e", command]
    return ManagedProcess(
        reactor,
        f"baresip {options.user}",
        argv,
        base_env(directory),
        directory,
        directory / "baresip.log",
    )
