"""
sipp (Debian C{sip-tester} 3.6.1, built without TLS) scenarios and runs,
for the SIP interop suite.

sipp speaks TCP to Kamailio, which relays over mutual TLS to the hub (see
L{tests.interop.harness.kamailio}). Scenarios are generated from the
templates here, following the sipp 3.6 rules of
C{shared/notes/sip-federation.md} section 4.5: C{&lt;}/C{&gt;} inside
attributes, every assigned variable referenced, C{[len]} for
Content-Length, C{rrs="true"} to record the route set.

  - L{message_uac}: one MESSAGE to C{[service]@[domain]}, expecting a given
    final status (and, optionally, text in the response);
  - L{message_uas}: answers one MESSAGE whose body matches a pattern;
  - L{subscribe_uac}: a presence watcher: SUBSCRIBE, the NOTIFYs it
    expects (each matched by patterns), then unsubscribe and the final
    NOTIFY;
  - L{notify_uas}: a presence notifier: answers the hub's SUBSCRIBE, sends
    NOTIFY active with a PIDF document, then answers the unsubscribe and
    sends NOTIFY terminated;
  - L{invite_uac}: a Skype for Business style IM session: INVITE with the
    first message in C{ms-text-format}, ACK, a MESSAGE in the dialog, a
    KeyboardActivity INFO, BYE.

L{SippRun} runs one scenario from its own directory (sipp writes its trace
files to the working directory), with C{-trace_msg}/C{-trace_err} into
C{messages.log}/C{errors.log}, a global timeout, and fails with the traces
when sipp's exit status is not 0.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from twisted.internet import defer

from .listening import wait_for_listen
from .process import ManagedProcess, base_env, tail

__all__ = [
    "SIPP",
    "SippFailed",
    "SippRun",
    "invite_uac",
    "message_uac",
    "message_uas",
    "notify_uas",
    "start_sipp",
    "subscribe_uac",
]

SIPP = "/usr/bin/sipp"

_HEAD = '<?xml version="1.0" encoding="UTF-8" ?>\n'


class SippFailed(AssertionError):
    """
    A sipp scenario did not complete.
    """


def _pattern(regexp: str, name: str, where: str = "msg") -> tuple[str, str]:
    """
    An ereg action checking C{regexp} and the variable it needs.
    """
    action = (
        f"<ereg regexp={quoteattr(regexp)} search_in={quoteattr(where)} "
        f'check_it="true" assign_to="{name}"/>'
    )
    return action, name


def _checks(patterns: Sequence[str], prefix: str) -> tuple[str, list[str]]:
    actions = []
    names = []
    for index, regexp in enumerate(patterns):
        action, name = _pattern(regexp, f"{prefix}{index}")
        actions.append(action)
        names.append(name)
    if not actions:
        return "", []
    return "<action>" + "".join(actions) + "</action>", names


def _references(names: Sequence[str]) -> str:
    return f'<Reference variables="{",".join(names)}"/>' if names else ""


def _ok(tag_suffix: str = "01", extra: str = "") -> str:
    return f"""<send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag{tag_suffix}[call_number]
      [last_Call-ID:]
      [last_CSeq:]{extra}
      Content-Length: 0

    ]]>
  </send>"""


def _ok_in_dialog() -> str:
    # For in-dialog requests: To already carries our tag.
    return """<send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>"""


def message_uac(
    body: str,
    status: int = 200,
    response_patterns: Sequence[str] = (),
    sender: str = "alice@b.test",
    content_type: str = "text/plain;charset=UTF-8",
) -> str:
    """
    One pager MESSAGE to C{[service]@[domain]}; the final response must be
    C{status} and match C{response_patterns}.
    """
    action, names = _checks(response_patterns, "r")
    return (
        _HEAD
        + f"""<scenario name="message_uac">
  <send retrans="500">
    <![CDATA[
      MESSAGE sip:[service]@[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{sender}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
      Content-Type: {content_type}
      Content-Length: [len]

{body}]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="{status}">{action}</recv>
  {_references(names)}
</scenario>
"""
    )


def message_uas(body_patterns: Sequence[str], count: int = 1) -> str:
    """
    Answer C{count} MESSAGEs whose text matches C{body_patterns} with 200
    (one call per MESSAGE: run with C{-m count}).
    """
    action, names = _checks(body_patterns, "b")
    return (
        _HEAD
        + f"""<scenario name="message_uas">
  <recv request="MESSAGE">{action}</recv>
  {_ok()}
  {_references(names)}
</scenario>
"""
    )


def subscribe_uac(
    notifies: Sequence[Sequence[str]],
    final_patterns: Sequence[str] = ("Subscription-State: terminated",),
    sender: str = "alice@b.test",
    expires: int = 600,
) -> str:
    """
    A watcher: SUBSCRIBE to C{[service]@[domain]}, then one NOTIFY per
    entry of C{notifies} (each matching its patterns), then unsubscribe
    (C{Expires: 0}) and a final NOTIFY matching C{final_patterns}.
    """
    steps = []
    names: list[str] = []
    for index, patterns in enumerate(notifies):
        action, found = _checks(patterns, f"n{index}_")
        names += found
        steps.append(f'<recv request="NOTIFY" timeout="30000">{action}</recv>\n  {_ok_in_dialog()}')
    final_action, found = _checks(final_patterns, "final")
    names += found
    contact = "<sip:alice@[local_ip]:[local_port];transport=[transport]>"
    return (
        _HEAD
        + f"""<scenario name="subscribe_uac">
  <send retrans="500">
    <![CDATA[
      SUBSCRIBE sip:[service]@[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{sender}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>
      Call-ID: [call_id]
      CSeq: 1 SUBSCRIBE
      Contact: {contact}
      Max-Forwards: 70
      Event: presence
      Accept: application/pidf+xml
      Expires: {expires}
      Content-Length: 0

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200" rrs="true"/>
  {chr(10).join(steps)}
  <send retrans="500">
    <![CDATA[
      SUBSCRIBE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:{sender}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 SUBSCRIBE
      Contact: {contact}
      Max-Forwards: 70
      Event: presence
      Accept: application/pidf+xml
      Expires: 0
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv request="NOTIFY" timeout="30000">{final_action}</recv>
  {_ok_in_dialog()}
  {_references(names)}
</scenario>
"""
    )


def notify_uas(
    pidf: str, subscribe_patterns: Sequence[str] = ("Event: presence",), refreshes: int = 0
) -> str:
    """
    A notifier for the hub's SUBSCRIBE: 200, NOTIFY active with C{pidf};
    C{refreshes} in-dialog refreshes (not Expires 0) answered 200; then,
    for the unsubscribe, 200 and NOTIFY terminated.
    """
    action, names = _checks(subscribe_patterns, "s")
    capture = '<ereg regexp="^(.*)$" search_in="hdr" header="From:" assign_to="fromall,from"/>'
    action = (
        action.replace("<action>", "<action>" + capture)
        if action
        else (f"<action>{capture}</action>")
    )
    names = [*names, "fromall"]
    contact = "<sip:alice@[local_ip]:[local_port];transport=[transport]>"
    notify = """<send>
    <![CDATA[
      NOTIFY [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:[service]@b.test>;tag=[pid]SIPpTag01[call_number]
      To: [$from]
      Call-ID: [call_id]
      CSeq: {cseq} NOTIFY
      Contact: {contact}
      Max-Forwards: 70
      Event: presence
      Subscription-State: {state}
      {content_type}Content-Length: [len]

{body}]]>
  </send>
  <recv response="200"/>"""
    active = notify.format(
        cseq=1,
        contact=contact,
        state="active;expires=600",
        content_type="Content-Type: application/pidf+xml\n      ",
        body=pidf,
    )
    refresh = (
        '<recv request="SUBSCRIBE" timeout="60000">\n'
        '    <action><ereg regexp="Expires: *[1-9]" search_in="msg" check_it="true"'
        ' assign_to="refreshed"/></action>\n'
        f"  </recv>\n  {_ok_in_dialog()}\n  "
    )
    if refreshes:
        names = [*names, "refreshed"]
    terminated = notify.format(
        cseq=2, contact=contact, state="terminated;reason=timeout", content_type="", body=""
    )
    return (
        _HEAD
        + f"""<scenario name="notify_uas">
  <recv request="SUBSCRIBE" rrs="true">{action}</recv>
  {
            _ok(
                extra=chr(10)
                + "      [last_Record-Route:]"
                + chr(10)
                + "      Contact: "
                + contact
                + chr(10)
                + "      Expires: 600"
            )
        }
  {active}
  {refresh * refreshes}
  <recv request="SUBSCRIBE" timeout="60000">
    <action><ereg regexp="Expires: *0[^0-9]" search_in="msg" check_it="true" assign_to="zero"/></action>
  </recv>
  {_ok_in_dialog()}
  {terminated}
  {_references([*names, "zero"])}
</scenario>
"""
    )


SDP = (
    "v=0\n"
    "o=- 0 0 IN IP4 [local_ip]\n"
    "s=session\n"
    "c=IN IP4 [local_ip]\n"
    "t=0 0\n"
    "m=message 5060 sip null\n"
    "a=accept-types:text/plain text/html multipart/alternative "
    "application/im-iscomposing+xml\n"
)


def invite_uac(first: str, second: str, sender: str = "alice@b.test") -> str:
    """
    A Skype for Business style IM session from C{sender}: INVITE carrying
    C{first} in C{ms-text-format} (the 200 must say
    C{Supported: ms-text-format}), ACK, C{second} as a MESSAGE in the
    dialog, a KeyboardActivity INFO, BYE.
    """
    encoded = base64.b64encode(first.encode()).decode()
    contact = "<sip:alice@[local_ip]:[local_port];transport=[transport]>"
    in_dialog = """<send retrans="500">
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:{sender}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: {contact}
      Max-Forwards: 70
      {content_type}Content-Length: [len]

{body}]]>
  </send>
  <recv response="200"/>"""
    message = in_dialog.format(
        method="MESSAGE",
        sender=sender,
        cseq=2,
        contact=contact,
        content_type="Content-Type: text/plain;charset=UTF-8\n      ",
        body=second,
    )
    info = in_dialog.format(
        method="INFO",
        sender=sender,
        cseq=3,
        contact=contact,
        content_type="Content-Type: application/xml\n      ",
        body='<?xml version="1.0"?><KeyboardActivity><status status="type" /></KeyboardActivity>',
    )
    bye = in_dialog.format(
        method="BYE", sender=sender, cseq=4, contact=contact, content_type="", body=""
    )
    supported = _pattern("Supported: ms-text-format", "supported")
    return (
        _HEAD
        + f"""<scenario name="invite_uac">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{sender}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: {contact}
      Max-Forwards: 70
      Supported: ms-sender
      Ms-Conversation-ID: [pid]conv[call_number]
      User-Agent: UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)
      ms-text-format: text/plain; charset=UTF-8;ms-body={encoded}
      Content-Type: application/sdp
      Content-Length: [len]

{SDP}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200" rrs="true"><action>{supported[0]}</action></recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:{sender}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: {contact}
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  {message}
  {info}
  {bye}
  {_references([supported[1]])}
</scenario>
"""
    )


class SippRun:
    """
    One sipp process running one scenario.

    @ivar name: label for messages.
    @ivar directory: its working directory (scenario, traces).
    @ivar process: the process.
    """

    def __init__(self, name: str, directory: Path, process: ManagedProcess) -> None:
        self.name = name
        self.directory = directory
        self.process = process

    def diagnostics(self, lines: int = 80) -> str:
        """
        Its output, unexpected messages and message trace.

        @return: the text.
        """
        parts = [f"--- sipp {self.name} output:\n{tail(self.process.output, 30)}"]
        for log in ("errors.log", "messages.log"):
            parts.append(f"--- sipp {self.name} {log}:\n{tail(self.directory / log, lines)}")
        return "\n".join(parts)

    @defer.inlineCallbacks
    def wait(self, reactor: Any, timeout: float = 60.0) -> Any:
        """
        Wait for sipp to end; fail with L{SippFailed} (and its traces) if
        it exits with another status than 0 or outlives C{timeout}.

        @return: a Deferred firing with L{None}.
        """
        ended = self.process.when_ended()
        killer = reactor.callLater(timeout, self.process.signal, "KILL")
        status = yield ended
        if killer.active():
            killer.cancel()
        if status != 0:
            raise SippFailed(
                f"sipp {self.name} exited with {status} (0: every call succeeded)\n"
                + self.diagnostics()
            )
        return None

    def stop(self) -> defer.Deferred[int | None]:
        """
        Stop it if it still runs.

        @return: fires with the exit status.
        """
        return self.process.stop(grace=2.0)


@defer.inlineCallbacks
def start_sipp(
    reactor: Any,
    name: str,
    scenario: str,
    directory: Path,
    *,
    remote: str | None,
    local_port: int,
    calls: int = 1,
    keys: dict[str, str] | None = None,
    service: str = "bob",
    timeout: float = 45.0,
    listen: bool = False,
) -> Any:
    """
    Write C{scenario} and start sipp over TCP (C{-t t1}) on
    C{127.0.0.1:local_port}.

    @param remote: C{host:port} to send to (L{None} for a UAS).
    @param calls: C{-m}: how many calls before it exits.
    @param keys: C{-key} values, e.g. C{{"domain": "a.test"}}.
    @param service: C{-s}: the user part of C{[service]}.
    @param timeout: C{-timeout}: sipp gives up (and fails) after this.
    @param listen: wait until it accepts TCP connections (a UAS).
    @return: a Deferred firing with the L{SippRun}.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.xml"
    path.write_text(scenario, encoding="utf-8")
    argv = [SIPP]
    if remote is not None:
        argv.append(remote)
    argv += [
        "-sf",
        str(path),
        "-t",
        "t1",
        "-i",
        "127.0.0.1",
        "-p",
        str(local_port),
        "-m",
        str(calls),
        "-s",
        service,
        "-nostdin",
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
        "-trace_msg",
        "-message_file",
        str(directory / "messages.log"),
        "-trace_err",
        "-error_file",
        str(directory / "errors.log"),
    ]
    for key, value in (keys or {}).items():
        argv += ["-key", key, value]
    process = ManagedProcess(
        reactor, f"sipp {name}", argv, base_env(directory), directory, directory / "output.log"
    )
    run = SippRun(name, directory, process)
    if listen:
        try:
            yield wait_for_listen(reactor, "127.0.0.1", local_port, process=process)
        except BaseException:
            yield run.stop()
            raise
    return run
