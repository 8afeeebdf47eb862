"""
What a private XMPP server started by a test looks like, whichever it is:
L{XmppServer} (log, diagnostics, stop) and L{launch} (start the process,
wait for its ports). L{prosody} and L{ejabberd} add their configuration,
their command line and their way of creating accounts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from twisted.internet import defer

from .process import ManagedProcess, tail, text_so_far, wait_for_tcp, wait_for_text

__all__ = ["ServerOptions", "XmppServer", "launch"]


class ServerOptions(Protocol):
    """The options every server description has."""

    domain: str
    address: str
    c2s_port: int
    s2s_port: int


class XmppServer:
    """
    A running private XMPP server.

    Subclasses name the product and its files.

    @cvar product: C{prosody}, C{ejabberd}: names the process and diagnostics.
    @cvar config_name: the generated configuration file, in C{directory}.
    @cvar log_name: the server's log file, in C{directory}.
    @cvar stop_grace: seconds between SIGTERM and SIGKILL.
    @ivar options: how it was configured.
    @ivar directory: instance directory (config, data, logs).
    @ivar process: the server process.
    """

    product: ClassVar[str]
    config_name: ClassVar[str]
    log_name: ClassVar[str]
    stop_grace: ClassVar[float] = 10.0

    def __init__(
        self, reactor: Any, options: Any, directory: Path, process: ManagedProcess
    ) -> None:
        self.options = options
        self.directory = directory
        self.process = process
        self._reactor = reactor

    @property
    def domain(self) -> str:
        """The served domain."""
        return self.options.domain  # type: ignore[no-any-return]

    @property
    def config_path(self) -> Path:
        """The generated configuration file."""
        return self.directory / self.config_name

    @property
    def log_path(self) -> Path:
        """The server's log."""
        return self.directory / self.log_name

    def c2s_endpoint(self) -> tuple[str, int]:
        """
        Where clients connect.

        @return: (address, port).
        """
        return self.options.address, self.options.c2s_port

    def log_text(self) -> str:
        """
        The whole log so far.

        @return: the text.
        """
        return text_so_far(self.log_path)

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> defer.Deferred[re.Match[str]]:
        """
        Wait until the log contains a match for C{pattern}.

        @param pattern: regular expression.
        @param timeout: seconds.
        @return: fires with the first match.
        """
        return wait_for_text(self._reactor, self.log_path, pattern, timeout)

    def diagnostics(self, lines: int = 80) -> str:
        """
        Recent log and output lines, for failure messages.

        @param lines: how many lines of each.
        @return: the text.
        """
        name = f"{self.product} {self.domain}"
        return (
            f"--- {name} ({self.directory}) log:\n{tail(self.log_path, lines)}\n"
            f"--- {name} output:\n{tail(self.process.output, 20)}"
        )

    def stop(self) -> defer.Deferred[int | None]:
        """
        SIGTERM (graceful), SIGKILL after L{stop_grace} seconds.

        @return: fires with the exit status.
        """
        return self.process.stop(grace=self.stop_grace)


@defer.inlineCallbacks
def launch(
    reactor: Any,
    product: str,
    options: ServerOptions,
    argv: Sequence[str],
    env: Mapping[str, str],
    directory: Path,
    ports: Sequence[int],
    timeout: float,
    ready: Callable[[ManagedProcess], defer.Deferred[Any]] | None = None,
) -> Any:
    """
    Start a server process and wait until its C{ports} listen (and
    C{ready}, if given, succeeded); stop it again if they do not.

    @param reactor: the reactor.
    @param product: C{prosody}, C{ejabberd}.
    @param options: the instance description (domain, address).
    @param argv: the command line.
    @param env: its environment.
    @param directory: its working directory; output goes to C{output.log}.
    @param ports: TCP ports on C{options.address} to wait for.
    @param timeout: seconds to wait for each port.
    @param ready: a last step once the ports listen, e.g. creating accounts.
    @return: a Deferred firing with the L{ManagedProcess}.
    """
    process = ManagedProcess(
        reactor,
        f"{product} {options.domain}",
        list(argv),
        dict(env),
        directory,
        directory / "output.log",
    )
    try:
        for port in ports:
            yield wait_for_tcp(reactor, options.address, port, timeout=timeout, process=process)
        if ready is not None:
            yield ready(process)
    except BaseException:
        yield process.stop(grace=5)
        raise
    return process
