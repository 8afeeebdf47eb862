"""
Issue 6 end to end: a Slack user of tenant C{hub.test} invites alice on a
real Prosody, she accepts in her client, they chat both ways; the
administrator blocks Prosody's domain through the admin API over real
HTTP; the next messages both ways are refused with the reason; and the
metadata of that chat session shows every record, the refusals with their
reasons, and never any content.

The hub, the Slack simulator and Prosody are those of
L{tests.interop.slack.test_slack_xmpp}; the hub's web listener also serves
the admin API here (C{[web] admin_token}).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from typing import Any
from urllib.parse import quote

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.model.address import Address
from nextplane.storage.records import ContactState
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.hub import poll, wait_for_contact_state

from .test_slack_xmpp import HUB_DOMAIN, PASSWORD, PROSODY, SlackHub

ADMIN_TOKEN = "admin-interop-" + "0123456789abcdef0123456789abcdef"


class AdminSlackHub(SlackHub):
    """
    The Slack hub with the admin API enabled on its admin listener.
    """

    def config_data(self) -> dict[str, Any]:
        data = super().config_data()
        data["web"]["admin_token"] = ADMIN_TOKEN
        return data

    def admin(
        self, method: str, path: str, body: Any = None, accept: str = "application/json"
    ) -> defer.Deferred[tuple[int, bytes]]:
        """
        One admin API request over HTTP to the hub's admin listener.

        @param path: below C{/admin/api/}, with its query string.
        @return: the status and the body.
        """
        client = self.web_client()
        url = f"{self.admin_url}/admin/api/{path}"
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept": accept}

        async def run() -> tuple[int, bytes]:
            response = await client.request(
                method, url, headers=headers, json=body if body is not None else None
            )
            return response.code, await response.content()

        return defer.Deferred.fromCoroutine(run())


class Issue6Tests(TestCase):
    """
    john@hub.test (Slack) and alice@prosody1.test, then a domain block.
    """

    timeout = 150

    @defer.inlineCallbacks
    def test_invite_chat_block_metadata(self) -> Any:
        """
        Invite, accept, chat both ways; block over the admin API; the next
        message each way is refused with the reason (a notice in Slack, a
        bounce carrying the reason to alice, the stream refusal in the hub
        log); the session's metadata (JSON and CSV) lists the records with
        the refusal's reason and holds no content.
        """
        env = yield InteropEnvironment.create(self)
        server = yield env.start_prosody(PROSODY, users={"alice": PASSWORD})
        hub = AdminSlackHub(env)
        yield hub.start(self)
        alice = yield env.client(f"alice@{PROSODY}", PASSWORD, server)
        reactor = env.reactor
        john_jid = f"john@{HUB_DOMAIN}"
        alice_jid = f"alice@{PROSODY}"
        # In every message body: must never appear in the metadata.
        marker = f"zq{secrets.token_hex(6)}"

        # -- John invites alice; she accepts in her client. ----------------
        status, body = yield hub.sim.user_command(hub.john.id, "C0GENERAL", f"invite {alice_jid}")
        self.assertEqual(status, 200)
        self.assertIn(json.loads(body)["text"].split(" ")[0], ("Invitation", "Working"))
        yield env.with_diagnostics(alice.wait_for_presence(john_jid, type="subscribe"))
        yield alice.send_presence(john_jid, "subscribed")
        conversation = yield env.with_diagnostics(
            poll(reactor, hub.conversation, 20, "john's conversation with alice")
        )
        store = hub.service.store
        john, remote = Address.parse(john_jid), Address.parse(alice_jid)

        # The conversation may be opened before the router stores the
        # acceptance (it applies contact changes after delivery).
        yield wait_for_contact_state(reactor, store, john, remote, ContactState.ACCEPTED)

        def posted(text: str) -> Any:
            for message in conversation.messages:
                if message.text == text:
                    return message
            return None

        # -- They chat both ways. -------------------------------------------
        before = f"{marker} hello john"
        yield alice.send_message(john_jid, before)
        post = yield env.with_diagnostics(
            poll(reactor, lambda: posted(before), 20, "alice's message in Slack")
        )
        self.assertEqual(post.username, alice_jid)
        reply = f"{marker} hello alice"
        hub.sim.user_posts(hub.john.id, conversation.id, reply)
        yield env.with_diagnostics(alice.wait_for_message(body=reply, sender=john_jid))

        # -- The administrator blocks Prosody's domain over HTTP. -----------
        status, body = yield hub.admin(
            "PUT", f"tenants/{HUB_DOMAIN}/domains/{PROSODY}", {"action": "block"}
        )
        self.assertEqual(status, 201, body)
        self.assertEqual(
            json.loads(body), {"tenant": HUB_DOMAIN, "pattern": PROSODY, "action": "block"}
        )
        reason = f"blocked: {PROSODY} is on {HUB_DOMAIN}'s block list"
        # In force at once in the XMPP connector, not at its next refresh.
        xmpp = hub.service.connectors["xmpp"]
        self.assertIn(reason, xmpp.refusal_reason(HUB_DOMAIN, PROSODY) or "")

        # -- John's next message is refused; he is told why. ----------------
        refused_out = f"{marker} after the block, from Slack"
        hub.sim.user_posts(hub.john.id, conversation.id, refused_out)

        def notice() -> Any:
            for message in conversation.messages:
                if message.text.startswith(":warning: Not delivered to"):
                    return message
            return None

        warning = yield env.with_diagnostics(poll(reactor, notice, 20, "the refusal notice"))
        self.assertIn(reason, warning.text)
        self.assertIn(PROSODY, warning.text.split(":", 3)[2])
        self.assertNotIn(marker, warning.text)

        # -- Alice's next message is refused too. ---------------------------
        refused_in = f"{marker} after the block, from Prosody"
        yield alice.send_message(john_jid, refused_in, id="after-block")
        bounce = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: m.id == "after-block", type="error", timeout=30)
        )
        # The hub refuses Prosody's new stream with policy-violation and the
        # reason (the stanza never reaches the router); Prosody bounces the
        # message to alice carrying that text.
        self.assertEqual(bounce.sender, john_jid)
        self.assertIsNotNone(bounce.error_condition)
        self.assertIn("policy-violation", bounce.xml)
        self.assertIn(reason, bounce.xml)
        self.assertNotIn(marker, bounce.xml)
        self.assertTrue(
            any(
                "Closing s2s stream" in line and "policy-violation" in line and reason in line
                for line in hub.log
            ),
            hub.diagnostics(),
        )
        self.assertIsNone(posted(refused_in))
        self.assertEqual(hub.sim.violations, [])

        # -- The session's metadata: every record, no content. --------------
        status, body = yield hub.admin("GET", f"metadata?user={quote(john_jid)}")
        self.assertEqual(status, 200, body)
        by_user = json.loads(body)
        sessions = {r["session_id"] for r in by_user if alice_jid in (r["sender"], r["receiver"])}
        self.assertEqual(len(sessions), 1, by_user)
        [session_id] = sessions
        status, body = yield hub.admin("GET", f"metadata?session_id={quote(session_id)}")
        self.assertEqual(status, 200, body)
        text = body.decode("utf-8")
        self.assertNotIn(marker, text)
        records = json.loads(text)
        fields = {
            "id",
            "time",
            "sender",
            "receiver",
            "type",
            "kind",
            "session_id",
            "decision",
            "reason",
            "tenant",
            "remote_domain",
            "platform",
        }
        for record in records:
            self.assertEqual(set(record), fields, record)
            self.assertEqual(record["session_id"], session_id)
            self.assertEqual(
                (record["tenant"], record["remote_domain"]), (HUB_DOMAIN, PROSODY), record
            )
        summary = sorted(
            (r["kind"], r["sender"], r["receiver"], r["decision"], r["reason"])
            for r in records
            if r["kind"] in ("contact_request", "contact_accept", "message")
        )
        self.assertEqual(
            summary,
            sorted(
                [
                    ("contact_request", john_jid, alice_jid, "delivered", ""),
                    ("contact_accept", alice_jid, john_jid, "delivered", ""),
                    ("message", alice_jid, john_jid, "delivered", ""),
                    ("message", john_jid, alice_jid, "delivered", ""),
                    ("message", john_jid, alice_jid, "refused", f"{reason} (rule {PROSODY})"),
                ]
            ),
            records,
        )
        # John's refused message was followed by the notice telling him why.
        self.assertIn(
            ("delivery_error", alice_jid, john_jid, "delivered"),
            [(r["kind"], r["sender"], r["receiver"], r["decision"]) for r in records],
        )

        # The CSV export: the same records, no content either.
        status, csv_body = yield hub.admin(
            "GET", f"metadata?session_id={quote(session_id)}", accept="text/csv"
        )
        self.assertEqual(status, 200)
        csv_text = csv_body.decode("utf-8")
        self.assertNotIn(marker, csv_text)
        rows = list(csv.DictReader(io.StringIO(csv_text)))
        self.assertEqual(len(rows), len(records))
        self.assertEqual({r["session_id"] for r in rows}, {session_id})
        self.assertEqual(
            sorted((r["kind"], r["decision"]) for r in rows),
            sorted((r["kind"], r["decision"]) for r in records),
        )
        self.assertIn(f"{reason} (rule {PROSODY})", [r["reason"] for r in rows])
