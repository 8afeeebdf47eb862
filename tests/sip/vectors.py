"""
Wire-format test vectors in the shape Skype for Business / Lync Edges,
Cisco IM&P / Expressway, Kamailio and baresip send them (see
C{/work/shared/notes/sip-federation.md}: MS-OCSPROT and pidgin-sipe for
INVITE sessions with C{ms-text-format}, MS-PRES section 4.11 for the
signed Record-Route, C{ms-edge-proxy-message-trust} and Via
C{ms-received-*} parameters; the sipp/baresip traces for pager MESSAGE).

Addresses and signatures are made up; the structure is what matters.
The hub serves C{a.test}; the Microsoft peer is C{contoso.com}, the Cisco
peer C{cisco.example}, the RFC peer C{b.test}.
"""

from __future__ import annotations


def wire(text: str, body: bytes = b"") -> bytes:
    """
    Turn a readable header block (one header per line, C{{length}} for the
    Content-Length) into wire bytes with CRLF line ends.
    """
    head = text.strip("\n").replace("{length}", str(len(body)))
    return head.replace("\n", "\r\n").encode("utf-8") + b"\r\n\r\n" + body


SFB_SDP = (
    b"v=0\r\n"
    b"o=- 0 0 IN IP4 10.0.0.5\r\n"
    b"s=session\r\n"
    b"c=IN IP4 10.0.0.5\r\n"
    b"t=0 0\r\n"
    b"m=message 5060 sip null\r\n"
    b"a=accept-types:text/plain text/html image/gif multipart/alternative "
    b"application/im-iscomposing+xml application/ms-imdn+xml text/x-msmsgsinvite\r\n"
)

SFB_RECORD_ROUTE = (
    "<sip:sip.contoso.com:5061;transport=tls;ms-fe=fe01.contoso.com;"
    "opaque=state:F:Ci.R2a00;lr;ms-route-sig=gaXk8ZB9p-tQ0AAa3mDl6w2MWS2sAAA>"
    ";tag=3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B"
)

#: An IM session INVITE from a Skype for Business user, relayed by the Edge.
SFB_INVITE = wire(
    """
INVITE sip:bob@a.test SIP/2.0
Via: SIP/2.0/TLS 203.0.113.10:5061;branch=z9hG4bK3C5E2A1F.A4B7C9D2E1F0A3B5;branched=FALSE;ms-received-port=5061;ms-received-cid=2A00
Via: SIP/2.0/TLS 10.0.0.5:50123;branch=z9hG4bK8a7f6e5d;ms-received-port=50123;ms-received-cid=1F00
Max-Forwards: 69
Content-Length: {length}
From: "Alice Example" <sip:alice@contoso.com>;tag=8f2d1c0b3a;epid=5a9b2c7d1e
To: <sip:bob@a.test>
Call-ID: 9c3f1e7a2b4d4e8f9a0b1c2d3e4f5a6b
CSeq: 1 INVITE
Record-Route: """
    + SFB_RECORD_ROUTE
    + """
Contact: <sip:alice@contoso.com;opaque=user:epid:AbCdEfGhIjKlMnOpQrStUv;gruu>
User-Agent: UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)
Supported: ms-dialog-route-set-update
Ms-Conversation-ID: AdT9Lb3s8Uq4rV7xQ2w1
Supported: timer
Supported: histinfo
Supported: ms-safe-transfer
Supported: ms-sender
Supported: ms-early-media
Roster-Manager: sip:alice@contoso.com
EndPoints: <sip:alice@contoso.com>, <sip:bob@a.test>
Supported: com.microsoft.rtc-multiparty
ms-keep-alive: UAC;hop-hop=yes
Allow: INVITE, BYE, ACK, CANCEL, INFO, MESSAGE, UPDATE, REFER, NOTIFY, BENOTIFY, OPTIONS
ms-text-format: text/plain; charset=UTF-8;msgr=WAAtAE0ATQBTAC0ASQBNAC0ARgBvAHIAbQBhAHQAOgAgAEYATgA9AFMAZQBnAG8AZQAlADIAMABVAEkAOwAgAEUARgA9ADsAIABDAE8APQAwADsAIABDAFMAPQAwADsAIABQAEYAPQAwAA0ACgANAAoA;ms-body=SGFsbG8gd8O2cmxkIQ==
ms-edge-proxy-message-trust: ms-source-type=AutoFederation;ms-ep-fqdn=sip.contoso.com;ms-source-verified-user=verified;ms-source-network=federation
Content-Type: application/sdp
""",
    SFB_SDP,
)

#: An in-dialog MESSAGE from the same Skype for Business session (UTF-8 body).
SFB_MESSAGE = wire(
    """
MESSAGE sip:bob@192.0.2.5:5061;transport=tls SIP/2.0
Via: SIP/2.0/TLS 203.0.113.10:5061;branch=z9hG4bK7D1E.9F2A3B4C;branched=FALSE;ms-received-port=5061;ms-received-cid=2A00
Max-Forwards: 69
From: "Alice Example" <sip:alice@contoso.com>;tag=8f2d1c0b3a;epid=5a9b2c7d1e
To: <sip:bob@a.test>;tag=hub-tag-1
Call-ID: 9c3f1e7a2b4d4e8f9a0b1c2d3e4f5a6b
CSeq: 2 MESSAGE
Route: <sip:sip.hub.a.test:5061;transport=tls;lr>
Content-Type: text/plain; charset=UTF-8;msgr=WAAtAE0ATQBTAC0ASQBNAC0ARgBvAHIAbQBhAHQAOgAgAEYATgA9AA0ACgANAAoA
Content-Length: {length}
""",
    "Grüße aus Köln \u2013 bis gleich! 👋".encode(),
)

#: A presence NOTIFY in the shape Cisco IM&P sends through Expressway.
CISCO_NOTIFY = wire(
    """
NOTIFY sip:bob@192.0.2.5:5061;transport=tls SIP/2.0
Via: SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bK-524287-1---4f1c2e3d;rport
Max-Forwards: 70
Contact: <sip:198.51.100.7:5061;transport=tls>
To: <sip:bob@a.test>;tag=7a6b5c4d
From: <sip:carol@cisco.example>;tag=00112233
Call-ID: 5f4e3d2c-1b0a-4978-8695-a4b3c2d1e0f9
CSeq: 2 NOTIFY
Event: presence
Subscription-State: active;expires=3599
Content-Type: application/pidf+xml
Record-Route: <sip:expe.cisco.example:5061;transport=tls;lr>
Content-Length: {length}
""",
    (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:carol@cisco.example">'
        '<tuple id="t1"><status><basic>open</basic></status>'
        "<note>Besprechung \u2013 zurück um 15 Uhr</note></tuple></presence>"
    ).encode(),
)

#: A pager MESSAGE relayed by Kamailio from baresip, in compact form.
COMPACT_MESSAGE = wire(
    """
MESSAGE sip:bob@a.test SIP/2.0
v: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK2b3c.1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d.0;alias
v: SIP/2.0/TLS 127.0.0.1:5065;received=127.0.0.1;rport=41234;branch=z9hG4bK6e7a
m: <sip:alice@127.0.0.1:5065;transport=tls>
f: <sip:alice@b.test>;tag=2d3f
t: <sip:bob@a.test>
i: 1f2e3d4c5b6a
CSeq: 41 MESSAGE
Max-Forwards: 69
k: replaces, norefersub
c: text/plain;charset=UTF-8
l: {length}
""",
    "Hallo, wie geht's? ✓".encode(),
)

#: The 200 OK a Skype for Business client returns to the hub's INVITE.
SFB_INVITE_OK = wire(
    """
SIP/2.0 200 OK
Via: SIP/2.0/TLS sip.a.test:5061;branch=z9hG4bKhub1;ms-received-port=40001;ms-received-cid=3B00
Record-Route: <sip:fe01.contoso.com:5061;transport=tls;opaque=state:F;lr>
Record-Route: <sip:sip.contoso.com:5061;transport=tls;ms-fe=fe01.contoso.com;opaque=state:T:F:Ci.R2a00;lr;ms-route-sig=ffPq8z7Z0-AbCdEfGhIjKlMnOpQrSt>;tag=1A2B3C4D
From: <sip:bob@a.test>;tag=hubtag7
To: <sip:alice@contoso.com>;tag=8e9f0a1b2c;epid=5a9b2c7d1e
Call-ID: hubcall-1
CSeq: 1 INVITE
Contact: <sip:alice@contoso.com;opaque=user:epid:AbCdEfGhIjKlMnOpQrStUv;gruu>
Supported: ms-text-format
Supported: com.microsoft.rtc-multiparty
Content-Type: application/sdp
Content-Length: {length}
""",
    SFB_SDP,
)

#: A response with an IPv6 Via (RFC 5118 style) and a Warning list.
IPV6_RESPONSE = wire(
    """
SIP/2.0 606 Not Acceptable
Via: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1;received=2001:db8::9
From: <sip:bob@a.test>;tag=x
To: <sip:alice@contoso.com>;tag=y
Call-ID: c6@2001:db8::1
CSeq: 3 MESSAGE
Warning: 309 sip.contoso.com "Message contents not allowed by policy, see admin"
ms-diagnostics: 1018;reason="Message contents not allowed by policy";source="sip.contoso.com"
Content-Length: 0
"""
)

ALL = {
    "sfb_invite": SFB_INVITE,
    "sfb_message": SFB_MESSAGE,
    "cisco_notify": CISCO_NOTIFY,
    "compact_message": COMPACT_MESSAGE,
    "sfb_invite_ok": SFB_INVITE_OK,
    "ipv6_response": IPV6_RESPONSE,
}
