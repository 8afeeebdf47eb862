"""
Child processes owned by a test: start, wait for a port, stop; never block.

Everything here runs on the reactor: processes are started with
C{reactor.spawnProcess}, readiness is polled with C{task.deferLater} until a
deadline, and stopping sends SIGTERM, then SIGKILL if the process outlives a
grace period.  Output goes to a file the test can read when something fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, cast

from twisted.internet import defer, error, protocol, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import ITCPTransport
from twisted.python.failure import Failure

__all__ = [
    "CommandFailed",
    "ManagedProcess",
    "ProcessDied",
    "base_env",
    "gather",
    "run_command",
    "tail",
    "text_so_far",
    "wait_for_tcp",
    "wait_for_text",
]


class ProcessDied(Exception):
    """
    A server process exited while the test still needed it.
    """


class CommandFailed(Exception):
    """
    A helper command exited with a non-zero status.
    """


def tail(path: Path, lines: int = 60) -> str:
    """
    The last lines of a log file, or a note that it does not exist.

    @param path: the file.
    @param lines: how many lines.
    @return: the text.
    """
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"<{path}: {e.strerror}>"
    return "\n".join(text.splitlines()[-lines:])


def text_so_far(path: Path) -> str:
    """
    A log file's whole text, or nothing if it does not exist yet.

    @param path: the file.
    @return: the text.
    """
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


class _OutputToFile(protocol.ProcessProtocol):
    """
    Writes the child's stdout and stderr to one file and reports its end.
    """

    def __init__(self, output: IO[bytes]) -> None:
        self._output = output
        self.ended: defer.Deferred[int | None] = defer.Deferred()
        self.status: int | None = None
        self.running = True

    def outReceived(self, data: bytes) -> None:
        self._output.write(data)
        self._output.flush()

    def errReceived(self, data: bytes) -> None:
        self.outReceived(data)

    def processEnded(self, reason: Failure) -> None:
        self.running = False
        self._output.close()
        value = reason.value
        if isinstance(value, error.ProcessDone | error.ProcessTerminated):
            self.status = value.exitCode if value.exitCode is not None else -(value.signal or 0)
        self.ended.callback(self.status)


class ManagedProcess:
    """
    A long-running child process (a server) owned by one test.

    @ivar name: label for messages, e.g. C{"prosody prosody1.test"}.
    @ivar output: file receiving stdout and stderr.
    """

    def __init__(
        self,
        reactor: Any,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        output: Path,
    ) -> None:
        """
        Start the process.

        @param reactor: an C{IReactorProcess} and C{IReactorTime} provider.
        @param name: label for messages.
        @param argv: program and arguments; C{argv[0]} must be a path.
        @param env: the complete environment.
        @param cwd: working directory.
        @param output: file for stdout and stderr.
        """
        self.name = name
        self.output = output
        self._reactor = reactor
        self._protocol = _OutputToFile(output.open("ab"))
        self._ended = self._protocol.ended
        self._ended.addBoth(self._fire_waiters)
        self._waiters: list[defer.Deferred[int | None]] = []
        self._transport = reactor.spawnProcess(
            self._protocol, argv[0], list(argv), env=dict(env), path=str(cwd)
        )

    def _fire_waiters(self, status: int | None) -> int | None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(status)
        return status

    @property
    def pid(self) -> int | None:
        """The process id while running, else L{None}."""
        pid: int | None = self._transport.pid
        return pid

    @property
    def running(self) -> bool:
        """Whether the process has not ended yet."""
        return self._protocol.running

    @property
    def exit_status(self) -> int | None:
        """Exit code, or minus the signal number, once ended."""
        return self._protocol.status

    def when_ended(self) -> defer.Deferred[int | None]:
        """
        A new Deferred firing with the exit status when the process ends.

        @return: the Deferred (already fired if the process has ended).
        """
        if not self.running:
            return defer.succeed(self.exit_status)
        waiter: defer.Deferred[int | None] = defer.Deferred()
        self._waiters.append(waiter)
        return waiter

    def signal(self, signame: str) -> None:
        """
        Send a signal if the process still runs.

        @param signame: e.g. C{"TERM"}, C{"KILL"}.
        """
        if self.running:
            try:
                self._transport.signalProcess(signame)
            except error.ProcessExitedAlready:
                pass

    def stop(self, grace: float = 10.0) -> defer.Deferred[int | None]:
        """
        SIGTERM, then SIGKILL after C{grace} seconds; fires when ended.

        @param grace: seconds to wait before killing.
        @return: fires with the exit status.
        """
        if not self.running:
            return defer.succeed(self.exit_status)
        ended = self.when_ended()
        self.signal("TERM")
        killer = self._reactor.callLater(grace, self.signal, "KILL")

        def cancel_killer(status: int | None) -> int | None:
            if killer.active():
                killer.cancel()
            return status

        return ended.addBoth(cancel_killer)

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.pid} status={self.exit_status}>"


class _CollectOutput(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.out = bytearray()
        self.ended: defer.Deferred[tuple[bytes, int | None]] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.out += data

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        code = getattr(value, "exitCode", None)
        if code is None and getattr(value, "signal", None):
            code = -value.signal
        self.ended.callback((bytes(self.out), code))


def run_command(
    reactor: Any,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 30.0,
    stdin: bytes | None = None,
) -> defer.Deferred[str]:
    """
    Run a short helper command (e.g. C{prosodyctl register}) to completion.

    @param reactor: an C{IReactorProcess} and C{IReactorTime} provider.
    @param argv: program path and arguments.
    @param env: the complete environment.
    @param cwd: working directory.
    @param timeout: seconds before the command is killed and the result fails.
    @param stdin: bytes written to the command's standard input, then closed.
    @return: fires with the combined output, or fails with L{CommandFailed}.
    """
    proto = _CollectOutput()
    transport = reactor.spawnProcess(proto, argv[0], list(argv), env=dict(env), path=str(cwd))
    if stdin is not None:
        transport.write(stdin)
    transport.closeStdin()

    def kill() -> None:
        try:
            transport.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass

    killer = reactor.callLater(timeout, kill)

    def check(result: tuple[bytes, int | None]) -> str:
        if killer.active():
            killer.cancel()
        out, code = result
        text = out.decode("utf-8", "replace")
        if code != 0:
            raise CommandFailed(f"{' '.join(argv)} exited with {code}:\n{text}")
        return text

    return proto.ended.addCallback(check)


class _Probe(protocol.Protocol):
    def __init__(self) -> None:
        self.lost: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        # Abort: no FIN handshake to wait for, and the server just sees a reset.
        cast(ITCPTransport, self.transport).abortConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.lost.callback(None)


@defer.inlineCallbacks
def wait_for_tcp(
    reactor: Any,
    host: str,
    port: int,
    timeout: float = 20.0,
    interval: float = 0.05,
    process: ManagedProcess | None = None,
) -> Any:
    """
    Wait until C{host}:C{port} accepts TCP connections.

    Polls every C{interval} seconds with C{task.deferLater}; fails early with
    L{ProcessDied} if C{process} ends, and with L{defer.TimeoutError} after
    C{timeout} seconds.

    @param reactor: an C{IReactorTCP} and C{IReactorTime} provider.
    @param host: IPv4 address.
    @param port: TCP port.
    @param timeout: deadline in seconds.
    @param interval: delay between attempts.
    @param process: the server expected to listen.
    @return: a Deferred firing with L{None} when a connection succeeded.
    """
    deadline = reactor.seconds() + timeout
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=2)
    factory = protocol.Factory.forProtocol(_Probe)
    while True:
        if process is not None and not process.running:
            raise ProcessDied(
                f"{process.name} exited with {process.exit_status} before "
                f"listening on {host}:{port}; output:\n{tail(process.output)}"
            )
        try:
            proto = yield endpoint.connect(factory)
        except (error.ConnectError, error.ConnectionRefusedError, OSError):
            pass
        else:
            # Let the abort complete so no connection outlives the check.
            yield proto.lost
            return None
        if reactor.seconds() >= deadline:
            suffix = f"; output:\n{tail(process.output)}" if process is not None else ""
            raise defer.TimeoutError(f"{host}:{port} not listening after {timeout}s{suffix}")
        yield task.deferLater(reactor, interval, lambda: None)


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """
    A small, explicit environment for child processes.

    @param home: C{HOME} (tools write dot-files there, e.g. Erlang's cookie).
    @param extra: more variables.
    @return: the environment.
    """
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    env.update(extra)
    return env


@defer.inlineCallbacks
def wait_for_text(
    reactor: Any, path: Path, pattern: str, timeout: float = 15.0, interval: float = 0.05
) -> Any:
    """
    Wait until the file at C{path} contains a match for C{pattern}.

    Polls with C{task.deferLater}; used for log lines such as Prosody's
    "Accepting SASL EXTERNAL identity".

    @param reactor: an C{IReactorTime} provider.
    @param path: the (log) file; it need not exist yet.
    @param pattern: regular expression, searched with C{re.MULTILINE}.
    @param timeout: seconds before failing with L{defer.TimeoutError}.
    @param interval: delay between reads.
    @return: a Deferred firing with the first C{re.Match}.
    """
    regex = re.compile(pattern, re.MULTILINE)
    deadline = reactor.seconds() + timeout
    while True:
        try:
            match = regex.search(path.read_text(errors="replace"))
        except FileNotFoundError:
            match = None
        if match is not None:
            return match
        if reactor.seconds() >= deadline:
            raise defer.TimeoutError(
                f"{pattern!r} not in {path} after {timeout}s; last lines:\n{tail(path, 30)}"
            )
        yield task.deferLater(reactor, interval, lambda: None)


def gather(deferreds: Sequence[defer.Deferred[Any]]) -> defer.Deferred[list[Any]]:
    """
    Wait for all; on failure, fail with the first error itself (not a
    C{FirstError} wrapper), so messages stay readable.

    @param deferreds: the Deferreds.
    @return: fires with the list of results.
    """

    def unwrap(failure: Failure) -> Failure:
        if isinstance(failure.value, defer.FirstError):
            sub: Failure = failure.value.subFailure
            return sub
        return failure

    return defer.gatherResults(list(deferreds), consumeErrors=True).addErrback(unwrap)
