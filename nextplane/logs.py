# -*- test-case-name: tests.test_logs -*-
"""
Log observers: human text or JSON lines, both with secret redaction.

Message content never reaches the log by construction (events and rich
text have no content in their C{repr}); secrets from the configuration
(tokens, DSNs) are redacted here in case a library logs them.
"""

from __future__ import annotations

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
    "JsonLinesObserver",
    "RedactingObserver",
    "TwistedChatterFilter",
    "make_observer",
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
    base = JsonLinesObserver(out) if log_format == "json" else textFileLogObserver(out)
    # Filter first: redacting costs a scan of the event, wasted on events
    # below the level (the router emits a debug event per message).
    redacted = RedactingObserver(base, secrets)
    return FilteringLogObserver(
        redacted, [LogLevelFilterPredicate(defaultLogLevel=level), TwistedChatterFilter()]
    )
