# -*- test-case-name: tests.sip.test_dialog -*-
"""
SIP dialogs (RFC 3261 section 12; RFC 6665 section 4.1.2.4 for
subscriptions).

A L{Dialog} holds what RFC 3261 section 12.1 calls the dialog state: the
dialog ID (Call-ID, local tag, remote tag), local and remote sequence
numbers, local and remote party (URI with all their header parameters,
so Microsoft's C{epid=} is sent back unchanged), the remote target (from
Contact) and the route set (from Record-Route).

The route set is kept as the Record-Route values I{as received} and sent
back as Route values byte for byte: Skype for Business Edges sign their
Record-Route URIs (C{ms-key-info}, C{ms-route-sig}) and refuse in-dialog
requests whose Route differs. A UAS keeps the request's Record-Route
order, a UAC reverses the response's (12.1.1, 12.1.2).

Dialogs are created:

  - L{Dialog.as_uas}: when we answer an INVITE or SUBSCRIBE with a 2xx
    (or a 1xx with a To tag: early);
  - L{Dialog.as_uac}: when our INVITE or SUBSCRIBE gets such a response;
  - L{Dialog.from_notify}: when a NOTIFY for our SUBSCRIBE arrives before
    its 2xx (RFC 6665 section 4.1.2.4).

L{Dialog.create_request} builds in-dialog requests (MESSAGE, INFO, BYE,
NOTIFY, SUBSCRIBE refreshes, re-INVITE) per 12.2.1.1 including strict
routing; the transaction layer adds the Via. L{DialogTable.dispatch}
matches incoming requests to dialogs and answers C{481} for unknown
dialogs and C{500} for out-of-order CSeqs (12.2.2).

Pure code: no clock, no I/O.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterator, Sequence

from attrs import define, evolve, frozen

from .message import Headers, Request, Response, make_response
from .uri import NameAddr, SipSyntaxError, SipURI, parse_name_addr

__all__ = [
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogId",
    "DialogState",
    "DialogTable",
]

#: Requests that update the remote target (RFC 3261 12.2; RFC 3311;
#: RFC 6665 sections 3.1 and 4.1.2.4; RFC 3515).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})

#: Requests that carry a Contact when sent in a dialog.
_CONTACT_METHODS = TARGET_REFRESH_METHODS


class DialogState(enum.Enum):
    """
    RFC 3261 section 12: early (after a 1xx with a To tag) or confirmed.
    """

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@frozen
class DialogId:
    """
    RFC 3261 section 12: Call-ID, local tag, remote tag.
    """

    call_id: str
    local_tag: str
    remote_tag: str


def _remote_target(message: Request | Response, fallback: NameAddr) -> str:
    contacts = message.contacts
    uri = contacts[0].uri if contacts else fallback.uri
    return uri.format()


def _initial_cseq() -> int:
    return secrets.randbelow(1 << 16) + 1


@define
class Dialog:
    """
    One dialog's state; see the module docstring.

    @ivar call_id: The Call-ID.
    @ivar local_party: Our From (in requests we send), with our tag.
    @ivar remote_party: Their address, with their tag, as they sent it.
    @ivar remote_target: URI requests go to (the peer's Contact).
    @ivar route_set: Route values, in sending order, as received.
    @ivar local_seq: Last CSeq we used, or L{None} before our first request.
    @ivar remote_seq: Last CSeq they used, or L{None}.
    @ivar secure: Whether the dialog is SIPS (RFC 3261 12.1.1).
    @ivar local_contact: The Contact value we put on target refresh
        requests.
    @ivar usage: The method that created the dialog (C{INVITE} or
        C{SUBSCRIBE}).
    @ivar state: L{DialogState}.
    """

    call_id: str
    local_party: NameAddr
    remote_party: NameAddr
    remote_target: str
    route_set: tuple[str, ...] = ()
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    local_contact: str | None = None
    usage: str = "INVITE"
    state: DialogState = DialogState.CONFIRMED

    @property
    def local_tag(self) -> str:
        """
        Our tag.
        """
        return self.local_party.tag or ""

    @property
    def remote_tag(self) -> str:
        """
        Their tag.
        """
        return self.remote_party.tag or ""

    @property
    def id(self) -> DialogId:
        """
        The L{DialogId}.
        """
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(
        cls,
        request: Request,
        response: Response,
        *,
        local_contact: str | None = None,
        over_tls: bool = True,
    ) -> Dialog:
        """
        The dialog a UAS creates when it sends C{response} (a 2xx, or a 1xx
        with a To tag) to C{request} (RFC 3261 section 12.1.1).

        @param local_contact: Our Contact (should be the one in
            C{response}).
        @param over_tls: Whether the request came over TLS (with a SIPS
            Request-URI this makes the dialog secure).
        @raise SipSyntaxError: C{response} has no To tag, or headers are
            malformed.
        """
        local = response.to
        if local.tag is None:
            raise SipSyntaxError("Response has no To tag")
        remote = request.from_
        return cls(
            call_id=request.call_id,
            local_party=local,
            remote_party=remote,
            remote_target=_remote_target(request, remote),
            route_set=tuple(request.headers.get_all("Record-Route")),
            local_seq=None,
            remote_seq=request.cseq.number,
            secure=over_tls and request.uri.lower().startswith("sips:"),
            local_contact=local_contact,
            usage=request.method,
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
        )

    @classmethod
    def as_uac(
        cls, request: Request, response: Response, *, local_contact: str | None = None
    ) -> Dialog:
        """
        The dialog a UAC creates when C{response} (a 2xx, or a 1xx with a To
        tag) to its C{request} arrives (RFC 3261 section 12.1.2).

        @raise SipSyntaxError: C{response} has no To tag.
        """
        remote = response.to
        if remote.tag is None:
            raise SipSyntaxError("Response has no To tag")
        return cls(
            call_id=request.call_id,
            local_party=request.from_,
            remote_party=remote,
            remote_target=_remote_target(response, remote),
            route_set=tuple(reversed(response.headers.get_all("Record-Route"))),
            local_seq=request.cseq.number,
            remote_seq=None,
            secure=request.uri.lower().startswith("sips:"),
            local_contact=local_contact,
            usage=request.method,
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
        )

    @classmethod
    def from_notify(
        cls, subscribe: Request, notify: Request, *, local_contact: str | None = None
    ) -> Dialog:
        """
        The dialog a subscriber creates from a NOTIFY that arrives for its
        SUBSCRIBE (RFC 6665 section 4.1.2.4): the NOTIFY's sender is the
        remote party, its Record-Route (in order) the route set, its
        Contact the remote target.

        @raise SipSyntaxError: The NOTIFY has no From tag.
        """
        remote = notify.from_
        if remote.tag is None:
            raise SipSyntaxError("NOTIFY has no From tag")
        return cls(
            call_id=subscribe.call_id,
            local_party=subscribe.from_,
            remote_party=remote,
            remote_target=_remote_target(notify, remote),
            route_set=tuple(notify.headers.get_all("Record-Route")),
            local_seq=subscribe.cseq.number,
            remote_seq=notify.cseq.number,
            secure=subscribe.uri.lower().startswith("sips:"),
            local_contact=local_contact,
            usage="SUBSCRIBE",
            state=DialogState.CONFIRMED,
        )

    def next_cseq(self) -> int:
        """
        Advance and return the local sequence number.
        """
        self.local_seq = (self.local_seq if self.local_seq is not None else _initial_cseq()) + 1
        return self.local_seq

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        routes = list(self.route_set)
        if not routes:
            return self.remote_target, []
        first = parse_name_addr(routes[0]).uri
        if isinstance(first, SipURI) and not first.loose_route:
            # 12.2.1.1 strict routing: the first route becomes the
            # Request-URI (without parameters not allowed there), the
            # remote target goes last.
            stripped = evolve(first, params=first.params.remove("method"), headers=())
            return stripped.format(), [*routes[1:], f"<{self.remote_target}>"]
        return self.remote_target, routes

    def create_request(
        self,
        method: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        cseq: int | None = None,
    ) -> Request:
        """
        Build an in-dialog request (RFC 3261 section 12.2.1.1), without Via
        (the transaction layer adds it).

        @param headers: Extra headers (Event, Subscription-State, ...).
        @param content_type: Content-Type of C{body}, if any.
        @param cseq: Use this CSeq number instead of the next one (ACK and
            CANCEL reuse the INVITE's).
        """
        uri, routes = self._request_uri_and_routes()
        number = cseq if cseq is not None else self.next_cseq()
        out: list[tuple[str, str]] = [("Route", r) for r in routes]
        out += [
            ("Max-Forwards", "70"),
            ("From", self.local_party.format()),
            ("To", self.remote_party.format()),
            ("Call-ID", self.call_id),
            ("CSeq", f"{number} {method}"),
        ]
        if method in _CONTACT_METHODS and self.local_contact is not None:
            out.append(("Contact", self.local_contact))
        out.extend(headers)
        if content_type is not None:
            out.append(("Content-Type", content_type))
        return Request(method, uri, Headers(out), body)

    def create_ack(
        self, invite_cseq: int, *, body: bytes = b"", content_type: str | None = None
    ) -> Request:
        """
        The ACK for a 2xx to the INVITE with CSeq C{invite_cseq} (RFC 3261
        section 13.2.2.4).
        """
        return self.create_request("ACK", body=body, content_type=content_type, cseq=invite_cseq)

    def receive_request(self, request: Request) -> Response | None:
        """
        Apply an in-dialog request to the state (RFC 3261 section 12.2.2):
        check and record the remote CSeq, refresh the remote target.

        @return: An error response to send instead of processing the
            request (C{500} for an out-of-order CSeq), or L{None}.
        """
        if request.method not in ("ACK", "CANCEL"):
            number = request.cseq.number
            if self.remote_seq is not None and number < self.remote_seq:
                return make_response(
                    request,
                    500,
                    "Out of order CSeq",
                    to_tag=self.local_tag,
                    headers=[("Retry-After", "1")],
                )
            self.remote_seq = number
        if request.method in TARGET_REFRESH_METHODS and request.contacts:
            self.remote_target = request.contacts[0].uri.format()
        return None

    def receive_response(self, request: Request, response: Response) -> None:
        """
        Apply a response to a request we sent in this dialog: a 2xx
        confirms an early dialog (recomputing its route set, RFC 3261
        section 13.2.2.4) and a 2xx to a target refresh request updates
        the remote target.
        """
        if not 200 <= response.status < 300:
            return
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED
            self.route_set = tuple(reversed(response.headers.get_all("Record-Route")))
        if request.method in TARGET_REFRESH_METHODS and response.contacts:
            self.remote_target = response.contacts[0].uri.format()

    def terminate(self) -> None:
        """
        Mark the dialog ended (after BYE, or a terminated subscription).
        """
        self.state = DialogState.TERMINATED


class DialogTable:
    """
    Live dialogs by L{DialogId}.
    """

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def add(self, dialog: Dialog) -> Dialog:
        """
        Register C{dialog} (replacing one with the same ID).
        """
        self._dialogs[dialog.id] = dialog
        return dialog

    def remove(self, dialog: Dialog) -> None:
        """
        Forget C{dialog}.
        """
        self._dialogs.pop(dialog.id, None)

    def get(self, dialog_id: DialogId) -> Dialog | None:
        """
        The dialog with this ID, if any.
        """
        return self._dialogs.get(dialog_id)

    def for_request(self, request: Request) -> Dialog | None:
        """
        The dialog an incoming request belongs to (local tag = To tag).
        """
        try:
            local = request.to.tag
            remote = request.from_.tag or ""
            call_id = request.call_id
        except SipSyntaxError:
            return None
        if local is None:
            return None
        return self._dialogs.get(DialogId(call_id, local, remote))

    def for_response(self, response: Response) -> Dialog | None:
        """
        The dialog a response to our request belongs to (local tag = From
        tag).
        """
        try:
            local = response.from_.tag or ""
            remote = response.to.tag
            call_id = response.call_id
        except SipSyntaxError:
            return None
        if remote is None:
            return None
        return self._dialogs.get(DialogId(call_id, local, remote))

    def dispatch(self, request: Request) -> Dialog | Response | None:
        """
        Match an incoming request (RFC 3261 section 12.2.2).

        @return: The L{Dialog} (already updated with
            L{Dialog.receive_request}); a response to send instead (C{481}
            for a To tag of no known dialog, C{500} for an out-of-order
            CSeq); or L{None} for a request outside any dialog (no To tag)
            and for an unmatched ACK, which gets no response.
        """
        if request.to.tag is None:
            return None
        dialog = self.for_request(request)
        if dialog is None or dialog.state is DialogState.TERMINATED:
            if request.method == "ACK":
                return None
            return make_response(request, 481)
        error = dialog.receive_request(request)
        return error if error is not None else dialog
