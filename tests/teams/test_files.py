# -*- test-case-name: tests.teams.test_files -*-
"""
Tests for L{nextplane.connectors.teams.files}, against the simulator's
upload session.
"""

from __future__ import annotations

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.activity import FileConsent, UploadInfo, parse_activity
from nextplane.connectors.teams.cards import FILE_INFO
from nextplane.connectors.teams.files import CHUNK, upload_ranges, upload_request, uploaded_card
from nextplane.testing.teams_sim.channel import TeamsChannel
from nextplane.testing.teams_sim.simulator import TeamsSimulator

from .helpers import KEY

INFO = UploadInfo("r.pdf", "https://od.test/up/1", "https://od.test/r.pdf", "u1", None)


class UploadTests(SynchronousTestCase):
    """
    Upload requests and the card after.
    """

    def test_single(self) -> None:
        """A small file is one PUT of the whole range."""
        part = upload_request(INFO, 5)
        self.assertEqual(part.url, "https://od.test/up/1")
        self.assertEqual(part.headers, {"Content-Range": "bytes 0-4/5"})
        self.assertEqual(part.length, 5)

    def test_ranges(self) -> None:
        """A large file is cut in 320 KiB multiples, in order, covering every byte."""
        size = 2 * CHUNK + 7
        parts = upload_ranges(INFO, size)
        self.assertEqual(
            [(p.start, p.end) for p in parts],
            [(0, CHUNK - 1), (CHUNK, 2 * CHUNK - 1), (2 * CHUNK, size - 1)],
        )
        self.assertEqual(CHUNK % (320 * 1024), 0)
        self.assertRaises(ValueError, upload_request, INFO, size)
        self.assertRaises(ValueError, upload_ranges, INFO, 0)

    def test_card(self) -> None:
        """The file info card points at the uploaded file, typed by its name."""
        card = uploaded_card(INFO)
        self.assertEqual(
            (card["contentType"], card["contentUrl"]), (FILE_INFO, "https://od.test/r.pdf")
        )
        self.assertEqual(card["content"], {"uniqueId": "u1", "fileType": "pdf"})

    def test_flow_with_simulator(self) -> None:
        """An accepted consent's upload info takes the bytes in the simulator."""
        clock = Clock()
        sim = TeamsSimulator(clock, key=KEY)
        app = sim.add_app("app", "s", "t")
        user = sim.add_user("t", "Ada", installed=True)
        channel = TeamsChannel(sim, app, StubTreq(sim.resource()), f"{sim.base_url}/nowhere")
        delivery = self.successResultOf(
            channel.file_consent(user, True, {"file": "f1"}, "notes.txt")
        )
        consent = parse_activity(delivery.activity)
        assert isinstance(consent, FileConsent) and consent.upload is not None
        part = upload_request(consent.upload, 5)
        http = StubTreq(sim.resource())
        response = self.successResultOf(
            http.put(part.url, data=b"hello", headers={k: [v] for k, v in part.headers.items()})
        )
        self.assertEqual(response.code, 201)
        self.assertEqual(sim.uploads[consent.upload.unique_id or ""], b"hello")
