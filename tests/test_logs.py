"""
Tests for L{nextplane.logs}: text and JSON lines, secrets redacted.
"""

from __future__ import annotations

import io
import json

from twisted.logger import Logger, LogLevel
from twisted.trial.unittest import SynchronousTestCase

from nextplane.logs import REDACTED, make_observer

SECRET = "xoxb-very-secret-token"


class LogTests(SynchronousTestCase):
    def emit(self, log_format: str, level: LogLevel = LogLevel.info) -> str:
        out = io.StringIO()
        log = Logger(namespace="test", observer=make_observer(log_format, out, [SECRET]))
        log.emit(level, "token is {token} for {who}", token=SECRET, who="acme.test")
        log.info("plain line for {who}", who="acme.test")
        return out.getvalue()

    def test_text(self) -> None:
        """Text lines carry the formatted message with secrets redacted."""
        text = self.emit("text")
        self.assertIn(f"token is {REDACTED} for acme.test", text)
        self.assertIn("plain line for acme.test", text)
        self.assertNotIn(SECRET, text)

    def test_json_lines(self) -> None:
        """JSON output is one object per line, with secrets redacted in every field."""
        lines = [json.loads(line) for line in self.emit("json").splitlines() if line.strip()]
        self.assertEqual(len(lines), 2)
        self.assertEqual(lines[0]["token"], REDACTED)
        self.assertEqual(lines[1]["who"], "acme.test")
        self.assertNotIn(SECRET, json.dumps(lines))

    def test_debug_filtered(self) -> None:
        """Debug events are not written at the default level."""
        out = self.emit("text", LogLevel.debug)
        self.assertNotIn("token is", out)

    def test_twisted_chatter_left_out(self) -> None:
        """Factory start/stop and per-port lines are not written; other lines are."""
        out = io.StringIO()
        observer = make_observer("text", out)
        # What Factory.doStart and doStop emit (through a logger of their own).
        twisted = Logger(namespace="twisted.internet.protocol.Factory", observer=observer)
        twisted.info("Starting factory {factory!r}", factory=object())
        twisted.info("Stopping factory {factory!r}", factory=object())
        legacy = Logger(namespace="log_legacy", observer=observer)
        for text in ("DNSDatagramProtocol starting on 41234", "(UDP Port 41234 Closed)"):
            legacy.info("{log_text}", log_text=text)
        legacy.info("{log_text}", log_text="something else starting on Monday")
        self.assertEqual(out.getvalue().count("\n"), 1, out.getvalue())
        self.assertIn("something else starting on Monday", out.getvalue())
