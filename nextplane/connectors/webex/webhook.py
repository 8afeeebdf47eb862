# -*- test-case-name: tests.webex.test_connector -*-
"""
The hub's Webex endpoints, a Klein app mounted at C{/webex/} on the
public listener:

  - C{POST /events}: the signature (C{X-Spark-Signature}) is checked over
    the raw body first; unsigned or forged deliveries get 401 and nothing
    else happens. A verified delivery is answered 200 at once and handled
    after the answer (Webex disables a webhook after 100 failures within 5
    minutes, so a slow destination must never fail the delivery).
    Each delivery is claimed as a durable work record first
    (L{nextplane.work.WorkLog}, ids only): webhooks carry no timestamp, so
    a replay can only be recognised by its id, and the store remembers it
    across restarts.
  - C{GET /files/<scope>/<file>/<expires>/<signature>/<name>}: the kit's
    signed, expiring file links, streamed from Webex with the bot token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from klein import Klein
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from ...storage.records import WorkRecord
from ..platform.files import FileLinks, pipe
from .events import Envelope, EnvelopeError, parse_envelope
from .signature import SIGNATURE_HEADER, SignatureError, WebhookVerifier

__all__ = ["WebexWebhook"]

log = Logger()


class WebexWebhook:
    """
    See the module docstring.

    @ivar refused: Refusals by reason (C{signature}, C{envelope}).
    @ivar replays: Deliveries dropped as replays.
    """

    app = Klein()

    def __init__(
        self,
        verifier: WebhookVerifier,
        clock: IReactorTime,
        on_event: Callable[[Envelope, WorkRecord], None],
        links: FileLinks,
        open_file: Callable[[str, str], Deferred[Any]],
        claim: Callable[[Envelope], Deferred[WorkRecord | None]],
    ) -> None:
        """
        @param on_event: Takes a verified, new delivery and its work record
            (after the answer).
        @param open_file: Starts streaming file C{(scope, file id)}; fires
            with the response, or C{None} when there is no such file.
        @param claim: Claims a delivery's work record in the store: fires
            with it, or with C{None} when its id was claimed before.
        """
        self._verifier = verifier
        self._clock = clock
        self._on_event = on_event
        self._links = links
        self._open_file = open_file
        self._claim = claim
        self.refused: dict[str, int] = {}
        self.replays = 0

    def resource(self) -> IResource:
        """
        The resource to mount at C{/webex/}.
        """
        return self.app.resource()  # type: ignore[no-any-return]

    def _refuse(self, request: IRequest, why: str, status: int) -> bytes:
        self.refused[why] = self.refused.get(why, 0) + 1
        request.setResponseCode(status)
        return b""

    @app.route("/events", methods=["POST"])
    def events(self, request: IRequest) -> bytes:
        """
        A webhook delivery; see the module docstring.
        """
        body = request.content.read() if request.content is not None else b""
        try:
            self._verifier.verify(body, request.getHeader(SIGNATURE_HEADER))
        except SignatureError as e:
            log.warn("refused a Webex delivery: {reason}", reason=e.reason.value)
            return self._refuse(request, "signature", e.status)
        try:
            envelope = parse_envelope(body)
        except EnvelopeError as e:
            return self._refuse(request, "envelope", e.status)
        self._clock.callLater(0, self._later, envelope)
        request.setHeader(b"Content-Type", b"application/json")
        return b"{}"

    def _later(self, envelope: Envelope) -> None:
        def fresh(record: WorkRecord | None) -> None:
            if record is None:
                self.replays += 1
                return
            self._on_event(envelope, record)

        d = maybeDeferred(self._claim, envelope).addCallback(fresh)
        d.addErrback(lambda f: log.failure("a Webex delivery was lost", f))

    @app.route("/files/<scope>/<file_id>/<expires>/<signature>/<name>", methods=["GET"])
    def files(
        self, request: IRequest, scope: str, file_id: str, expires: str, signature: str, name: str
    ) -> bytes | Deferred[bytes]:
        """
        A signed file link.
        """
        problem = self._links.check(scope, file_id, expires, signature)
        if problem is not None:
            request.setResponseCode(403 if problem == "bad signature" else 410)
            return f"{problem}\n".encode()

        def stream(response: Any) -> bytes | Deferred[bytes]:
            if response is None:
                request.setResponseCode(404)
                return b"not found\n"
            for header in (b"content-type", b"content-length"):
                value = response.headers.getRawHeaders(header, [None])[0]
                if value is not None:
                    request.setHeader(header, value)
            return pipe(response, request).addCallbacks(lambda _: b"", cut)

        def cut(failure: Failure) -> bytes:
            log.info("a Webex file stopped streaming: {error}", error=failure.value)
            request.loseConnection()  # type: ignore[attr-defined]
            return b""

        def failed(failure: Failure) -> bytes:
            log.info("a Webex file could not be fetched: {error}", error=failure.value)
            request.setResponseCode(502)
            return b"could not fetch the file\n"

        return maybeDeferred(self._open_file, scope, file_id).addCallbacks(stream, failed)
