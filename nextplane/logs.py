# -*- test-case-name: tests.test_logs -*-
"""
Log observers: human text or JSON lines, both with secret redaction.

Message content never reaches the log by construction (events and rich
text have no content in their C{repr}); secrets from the configuration
(tokens, DSNs) are redacted here in case a library logs them.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    PredicateResult,
    formatEvent,
    textFileLogObserver,
)
from zope.interface import implementer

__all__ = [
    "REDACTED",
    "HubLogging",
    "JsonLinesObserver",
    "RedactingObserver",
    "ReopenableFile",
    "TwistedChatterFilter",
    "make_observer",
    "parse_level",
]

REDACTED = "[redacted]"


def _redact(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    return value


@implementer(ILogObserver)
class RedactingObserver:
    """
    Passes events on with every known secret replaced by C{[redacted]}.

    The formatted message is rendered first and replaces C{log_format}, so
    secrets hidden in format arguments are caught as well.
    """

    def __init__(self, observer: ILogObserver, secrets: Iterable[str]) -> None:
        self._observer = observer
        # Longest first, so a secret that contains another is redacted whole.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def __call__(self, event: LogEvent) -> None:
        if not self._secrets:
            self._observer(event)
            return
        text = formatEvent(event)
        if not any(secret in text for secret in self._secrets) and not any(
            isinstance(v, str) and any(s in v for s in self._secrets) for v in event.values()
        ):
            self._observer(event)
            return
        cleaned = {k: _redact(v, self._secrets) for k, v in event.items()}
        cleaned["log_format"] = _redact(text, self._secrets).replace("{", "{{").replace("}", "}}")
        self._observer(cleaned)


# Twisted's lines per port and per connection: a DNS query opens a UDP port
# ("DNSDatagramProtocol starting on 41234", "(UDP Port 41234 Closed)"), a
# connection starts and stops its factory. The hub logs its own listeners.
_CHATTER_FORMATS = frozenset(
    {
        "Starting factory {factory!r}",
        "Stopping factory {factory!r}",
        "Starting protocol {protocol!r}",
        "Stopping protocol {protocol!r}",
    }
)
_LEGACY_CHATTER = re.compile(
    r"\S+ starting on \d+|\((?:UDP|TCP) Port \d+ Closed\)|"
    r"(?:Starting|Stopping) (?:factory|protocol) .*"
)


@implementer(ILogFilterPredicate)
class TwistedChatterFilter:
    """
    Drops Twisted's informational lines about ports, factories and
    protocols starting and stopping, which come once per DNS lookup or
    connection and say nothing an operator needs.
    """

    def __call__(self, event: LogEvent) -> PredicateResult:
        if event.get("log_format") in _CHATTER_FORMATS:
            return PredicateResult.no
        if event.get("log_namespace") == "log_legacy":
            text = event.get("log_text")
            if isinstance(text, str) and _LEGACY_CHATTER.fullmatch(text):
                return PredicateResult.no
        return PredicateResult.maybe


_JSON_SCALARS = (str, int, float, bool, type(None))


@implementer(ILogObserver)
class JsonLinesObserver:
    """
    Writes one compact JSON object per event: C{time} (ISO 8601 UTC),
    C{level}, C{namespace}, C{message} (formatted), the event's own simple
    fields, and C{traceback} for failures.
    """

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def __call__(self, event: LogEvent) -> None:
        record: dict[str, Any] = {
            "time": datetime.fromtimestamp(event.get("log_time", 0), UTC).isoformat(),
            "level": getattr(event.get("log_level"), "name", "info"),
            "namespace": event.get("log_namespace", ""),
            "message": formatEvent(event),
        }
        for key, value in event.items():
            if key.startswith(("log_", "_")) or key in record or key in _LEGACY_KEYS:
                continue
            if isinstance(value, _JSON_SCALARS):
                record[key] = value
        failure = event.get("log_failure")
        if failure is not None:
            record["traceback"] = failure.getTraceback()
        self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._out.flush()


_LEGACY_KEYS = frozenset({"message", "system", "time", "isError", "format", "why", "failure"})


def parse_level(name: str) -> LogLevel:
    """
    The L{LogLevel} named C{name} (C{[hub] log_level}).

    @raise ValueError: For an unknown name.
    """
    try:
        return LogLevel.levelWithName(name)  # type: ignore[no-any-return]
    except Exception:
        raise ValueError(f"unknown log level {name!r}") from None


class ReopenableFile(io.TextIOBase):
    """
    A log file appended to, that L{reopen} closes and opens again by name:
    after logrotate moved it away, the hub writes to a new file.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._file: IO[str] = open(path, "a", encoding="utf-8")

    def write(self, text: str) -> int:
        return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def reopen(self, path: str | None = None) -> None:
        """
        Open C{path} (default: the same name) and close the old file.

        @raise OSError: If it cannot be opened; the old file stays in use.
        """
        new = open(path or self.path, "a", encoding="utf-8")
        old, self._file = self._file, new
        self.path = path or self.path
        old.close()

    def close(self) -> None:
        self._file.close()
        super().close()


class HubLogging:
    """
    The hub's log observer with what a reload may change: the level and
    the file (reopened).

    @ivar observer: Install it as the application's log observer.
    """

    def __init__(
        self,
        log_format: str,
        out: IO[str],
        secrets: Iterable[str] = (),
        level: LogLevel = LogLevel.info,
    ) -> None:
        self._out = out
        self._predicate = LogLevelFilterPredicate(defaultLogLevel=level)
        base = JsonLinesObserver(out) if log_format == "json" else textFileLogObserver(out)
        # Filter first: redacting costs a scan of the event, wasted on events
        # below the level (the router emits a debug event per message).
        redacted = RedactingObserver(base, secrets)
        self.observer: ILogObserver = FilteringLogObserver(
            redacted, [self._predicate, TwistedChatterFilter()]
        )

    @property
    def level(self) -> LogLevel:
        """
        The least important level written.
        """
        return self._predicate.logLevelForNamespace("")  # type: ignore[no-any-return]

    def set_level(self, level: LogLevel) -> None:
        """
        Write events of C{level} and above from now on.
        """
        self._predicate.setLogLevelForNamespace("", level)

    def reopen(self, path: str | None = None) -> bool:
        """
        Reopen the log file (standard output is left alone).

        @return: Whether a file was reopened.
        @raise OSError: If the file cannot be opened (the old one stays).
        """
        if not isinstance(self._out, ReopenableFile):
            return False
        self._out.reopen(path)
        return True


def make_observer(
    log_format: str,
    out: IO[str],
    secrets: Iterable[str] = (),
    level: LogLevel = LogLevel.info,
) -> ILogObserver:
    """
    Build the hub's log observer.

    @param log_format: C{"text"} or C{"json"} (one JSON object per line).
    @param out: Where lines are written.
    @param secrets: Values to redact.
    """
    return HubLogging(log_format, out, secrets, level).observer
