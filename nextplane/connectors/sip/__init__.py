"""
SIP federation with Skype for Business / Lync Edges, Cisco IM&P (through
Expressway) and RFC 3261 peers such as Kamailio, over mutual TLS.

Layers, bottom up (each module's docstring cites its RFCs):

  - L{uri}: SIP URIs, name-addr values and parameters (RFC 3261 19.1, 20,
    25; RFC 5118 IPv6). Pure.
  - L{message} and L{parser}: L{Request}/L{Response} values, the sans-IO
    L{StreamParser} (byte-exact Content-Length framing, CRLF keep-alives,
    size limits, L{ParseError} results instead of exceptions) and
    L{serialize} (RFC 3261 7, 8.2.6, 18.3; RFC 5626 3.5.1). Pure.
  - L{transaction}: client and server transactions for reliable
    transports with RFC 6026 Accepted states, CANCEL, 2xx retransmission
    until ACK (RFC 3261 9, 13.3.1.4, 17). Injected clock, no I/O.
  - L{dialog}: dialog state, route sets copied byte for byte, in-dialog
    request construction, 481/500 checks (RFC 3261 12; RFC 6665 4.1.2.4).
    Pure.
  - L{tls}: per-tenant server contexts chosen by SNI, client contexts,
    RFC 5922 domain identities (C{URI:sip:} then C{dNSName}, no
    wildcards).
  - L{resolve}: RFC 3263 targets: C{_sipfederationtls._tcp}, then
    C{_sips._tcp}, then A/AAAA on 5061, through an injected resolver.
  - L{transport}: the Twisted protocol (L{SipConnection}), listeners,
    dialling, connection reuse (RFC 5923 C{alias}) and the
    L{ConnectionTable}.
  - L{im} and L{presence}: message bodies (text/plain, text/html,
    multipart/alternative, C{ms-text-format}), typing (RFC 3994
    isComposing, Microsoft KeyboardActivity) and PIDF/RPID documents, to
    and from the hub's events. Pure.
  - L{connector}: the transaction user, built from small parts around
    one L{core.SipCore}: L{dispatch} (checks and hands out inbound
    requests), L{sessions} and L{messages} (session-mode and pager IM),
    L{notifier} and L{subscriber} (presence both ways, contact requests),
    L{inbound_work} (work records of received texts: dedupe, the notice
    after a restart); L{config} (C{[connectors.sip]}), L{addresses} (hub addresses as SIP
    URIs), L{status} (SIP statuses and delivery conditions); the registry
    entry is L{connector.ENTRY}.

How the connector plugs in
==========================

The connector is the transaction user (RFC 3261's "TU"): it implements
L{transaction.TransactionUser} and owns one L{transaction.TransactionLayer},
one L{transport.SipTransport} and one L{dialog.DialogTable}::

    layer = TransactionLayer(reactor, connector)
    transport = SipTransport(
        reactor, layer,
        via_host="sip.hub.example", via_port=5061,
        trust=TrustStore(paths=config.tls.ca_certificates),
        server_tls=SipServerTLS(credentials),       # tenants' certificates
        client_tls=SipClientTLS(credentials),
        resolver=SipResolver(context.resolver, static_routes=partner_routes),
        endpoint_factory=lambda host, port: TCP4ClientEndpoint(reactor, host, port),
    )
    # listen: strports.service("tcp:5061", transport.server_factory())

Inbound (the transport verified the peer's certificate and hands every
message to the layer, which calls the connector):

  1. C{request_received(tx)}: C{tx.flow} is the L{SipConnection}; its
     C{peer_identities} are the peer's verified SIP domains (empty and
     C{trusted_relay} true for plain TCP from a configured relay). Check
     the From domain with C{SipResolver.peer_serves(domain,
     tx.flow.peer_identities)} (Edge certificates name C{sip.contoso.com},
     so the domain's SRV target must count; log
     C{ms-edge-proxy-message-trust}, never trust or forge it), that the
     Request-URI domain is a tenant (C{tx.flow.local_domain} is the tenant
     the peer dialled), C{Require} (C{420}) and the URI scheme (C{416}).
     Then C{DialogTable.dispatch(tx.request)}: a L{Response} (481/500)
     is sent with C{tx.respond}; a L{dialog.Dialog} means an in-dialog
     request (MESSAGE, INFO typing, BYE, NOTIFY); L{None} means
     out of dialog (pager MESSAGE, INVITE, SUBSCRIBE, OPTIONS).
  2. Answer with C{tx.reply(status, headers=..., body=...)}; for a
     dialog-creating 2xx pass C{copy_record_route=True} and a Contact,
     then C{Dialog.as_uas(tx.request, response)} and add it to the table.
     A Skype for Business INVITE may carry the first message in
     C{ms-text-format} (accept it and answer C{Supported: ms-text-format}).
  3. C{ack_received(ack, flow)}: the ACK for our 2xx (stops its
     retransmission); C{server_failed(tx, reason)}: no ACK came (send BYE),
     the TU never answered, or the connection dropped;
     C{cancelled(tx)}: the INVITE was cancelled (already answered 487).

Outbound:

  1. C{transport.connect(domain, tenant_domain)} (a live, aliased or new
     connection; C{targets=} for configured routes, C{extra_identities=}
     for a partner's Edge FQDN). For in-dialog requests prefer the
     connection the dialog was set up on; otherwise connect with
     C{targets=resolver.targets_for_uri(first Route URI)} (the Edge's
     Record-Route host, e.g. C{sip.contoso.com:5061}).
  2. Build the request (out of dialog: Request-URI, From with a fresh tag
     from L{transaction.new_tag}, To, Call-ID, CSeq, Contact; in dialog:
     C{dialog.create_request("MESSAGE", body=..., content_type=...)}) and
     C{tx = layer.send_request(request, connection, on_response)}: the
     layer adds Via (our C{via_host}, new branch) and Max-Forwards.
     C{tx.final} fires with the final response or fails with
     L{transaction.TransactionTimeout} (Timer B/F, 32 s) or
     L{transaction.TransportError}; map those to
     L{nextplane.interfaces.DeliveryFailed}.
  3. INVITE: on a 2xx create C{Dialog.as_uac(tx.request, response)} and
     send C{layer.send_ack(dialog.create_ack(cseq), connection)}; do the
     same for every further 2xx passed to C{on_response}. A 408/480/481
     to an in-dialog MESSAGE means the session is dead: BYE and
     re-INVITE (pidgin-sipe behaviour).

Import the submodules directly: this package module imports nothing, so
the pure layers (L{uri}, L{message}, L{dialog}) load without Twisted's TLS
machinery.

What this package does not do (yet): RFC 4662 list subscriptions,
Microsoft's C{msrtc-event-categories} presence and BENOTIFY, multiparty
sessions (C{Require: com.microsoft.rtc-multiparty} gets 420), IMDN,
idle-connection cleanup, RFC 5626 pings from our side, NAPTR, pre-RFC
3261 transaction matching, and presence subscriptions surviving a restart
(they are kept in memory; peers re-subscribe after their 481).
"""
