"""
Microsoft Teams through the Bot Framework, in small sans-IO or injectable
modules the connector wires to the platform kit:

  - L{config}: the C{[connectors.teams]} section;
  - L{auth}: inbound JWT validation (PyJWT, cached OpenID keys);
  - L{inbound}: one request from bytes to a verified, typed activity;
  - L{activity}: activities as typed values, conversation references;
  - L{token}: the bot's client-credentials token;
  - L{api}: Connector REST request shapes and answer classification;
  - L{format}: Teams HTML and markdown to and from the rich-text tree;
  - L{split}: long messages cut under Teams' 100 KB;
  - L{cards}: Adaptive Cards (contact requests, message headers, files);
  - L{reactions}: reaction types, emoji and reaction lines;
  - L{files}: the file consent upload;
  - L{package}: the Teams app package (C{nextplane teams-package});
  - L{connector}: the connector on the platform kit, registered as C{teams},
    with L{webhook}, L{handler}, L{outbound}, L{tenant}, L{rest} and L{style}.
"""
