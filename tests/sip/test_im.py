"""
Tests for L{nextplane.connectors.sip.im}: message bodies to and from rich
text, ms-text-format, isComposing and KeyboardActivity.
"""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.im import (
    ISCOMPOSING,
    BodyError,
    Content,
    build_is_composing,
    build_keyboard_activity,
    decode_ms_text_format,
    decode_text,
    encode_ms_text_format,
    encode_text,
    html_to_rich,
    media_type,
    parse_is_composing,
    parse_keyboard_activity,
    rich_to_html,
)
from nextplane.model.events import TypingState
from nextplane.model.text import (
    Bold,
    Code,
    Italic,
    LineBreak,
    Link,
    Pre,
    RichText,
    Strike,
    Text,
)

from . import vectors


class DecodeTests(SynchronousTestCase):
    """
    Bodies to rich text.
    """

    def test_plain_utf8(self) -> None:
        text = decode_text("text/plain;charset=UTF-8", "Grüße\r\nzweite Zeile".encode())
        self.assertEqual(text, RichText((Text("Grüße"), LineBreak(), Text("zweite Zeile"))))

    def test_plain_charset(self) -> None:
        """
        The charset parameter is honoured; an unknown one falls back to UTF-8.
        """
        self.assertEqual(
            decode_text("text/plain; charset=ISO-8859-1", b"K\xf6ln").plain_text(), "Köln"
        )
        self.assertEqual(
            decode_text("text/plain; charset=x-nope", "Köln".encode()).plain_text(), "Köln"
        )

    def test_invalid_utf8_replaced(self) -> None:
        self.assertEqual(decode_text("text/plain", b"a\xffb").plain_text(), "a\ufffdb")

    def test_missing_type_is_plain(self) -> None:
        self.assertEqual(decode_text(None, b"hi").plain_text(), "hi")

    def test_html(self) -> None:
        html = (
            "<p><b>bold</b> <em>it</em> <s>gone</s> <code>x = 1</code></p>"
            '<div><a href="https://example.test/a?b=1&amp;c=2">link</a><br>next</div>'
            "<script>alert(1)</script><pre>  keep\n  this</pre>"
        )
        text = decode_text("text/html; charset=UTF-8", html.encode())
        self.assertEqual(
            text.nodes,
            (
                Bold((Text("bold"),)),
                Text(" "),
                Italic((Text("it"),)),
                Text(" "),
                Strike((Text("gone"),)),
                Text(" "),
                Code("x = 1"),
                LineBreak(),
                Link("https://example.test/a?b=1&c=2", (Text("link"),)),
                LineBreak(),
                Text("next"),
                LineBreak(),
                Pre("  keep\n  this"),
            ),
        )

    def test_html_unsafe_link(self) -> None:
        """
        A javascript: link keeps only its label.
        """
        text = html_to_rich('<a href="javascript:alert(1)">click</a>')
        self.assertEqual(text.nodes, (Text("click"),))

    def test_html_sfb_style(self) -> None:
        """
        Skype for Business sends spans with styles.
        """
        text = html_to_rich(
            '<span style="font-family:Segoe UI;font-weight:bold;color:#000">Hi</span>'
        )
        self.assertEqual(text.nodes, (Bold((Text("Hi"),)),))

    def test_html_unclosed_and_deep(self) -> None:
        """
        Unclosed and very deep markup does not break the reader.
        """
        self.assertEqual(html_to_rich("<b>open").nodes, (Bold((Text("open"),)),))
        deep = "<i>" * 5000 + "x" + "</i>" * 5000
        self.assertEqual(html_to_rich(deep).plain_text(), "x")

    def test_multipart_prefers_html(self) -> None:
        body = (
            b"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nplain\r\n"
            b"--b1\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<i>rich</i>\r\n--b1--\r\n"
        )
        text = decode_text('multipart/alternative; boundary="b1"', body)
        self.assertEqual(text.nodes, (Italic((Text("rich"),)),))

    def test_multipart_plain_only(self) -> None:
        body = (
            b"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode("Grüße".encode())
            + b"\r\n--b1--\r\n"
        )
        self.assertEqual(
            decode_text("multipart/alternative;boundary=b1", body).plain_text(), "Grüße"
        )

    def test_multipart_without_text(self) -> None:
        body = b"--b1\r\nContent-Type: image/gif\r\n\r\nGIF89a\r\n--b1--\r\n"
        with self.assertRaises(BodyError) as caught:
            decode_text("multipart/related;boundary=b1", body)
        self.assertEqual(caught.exception.status, 400)
        with self.assertRaises(BodyError):
            decode_text("multipart/alternative", body)

    def test_unsupported(self) -> None:
        with self.assertRaises(BodyError) as caught:
            decode_text("application/rtf", b"{\\rtf1}")
        self.assertEqual(caught.exception.status, 415)

    def test_media_type(self) -> None:
        self.assertEqual(
            media_type('Text/Plain; Charset="UTF-8";msgr=abc'),
            ("text/plain", {"charset": "UTF-8", "msgr": "abc"}),
        )
        self.assertEqual(media_type(None), ("", {}))


class EncodeTests(SynchronousTestCase):
    """
    Rich text to bodies.
    """

    def test_plain(self) -> None:
        content = encode_text(RichText.plain("a\nb ✓"))
        self.assertEqual(content, Content("text/plain;charset=UTF-8", "a\nb ✓".encode()))

    def test_formatted_alternative(self) -> None:
        text = RichText((Bold((Text("x<y"),)), Text(" "), Link("https://a.test/?q=1&r=2")))
        content = encode_text(text)
        self.assertTrue(content.content_type.startswith("multipart/alternative;boundary="))
        self.assertEqual(
            decode_text(content.content_type, content.body),
            text.__class__(
                (
                    Bold((Text("x<y"),)),
                    Text(" "),
                    Link("https://a.test/?q=1&r=2", (Text("https://a.test/?q=1&r=2"),)),
                )
            ),
        )
        self.assertIn(b"x<y https://a.test/?q=1&r=2", content.body)

    def test_styles(self) -> None:
        text = RichText((Italic((Text("i"),)),))
        self.assertEqual(encode_text(text, "plain").content_type, "text/plain;charset=UTF-8")
        html = encode_text(text, "html")
        self.assertEqual(html, Content("text/html;charset=UTF-8", b"<em>i</em>"))
        self.assertTrue(
            encode_text(RichText.plain("p"), "alternative").content_type.startswith("multipart/")
        )
        with self.assertRaises(ValueError):
            encode_text(text, "rtf")

    def test_html_escapes(self) -> None:
        self.assertEqual(rich_to_html(RichText.plain("a<b>&c\nd")), "a&lt;b&gt;&amp;c<br/>d")

    @given(st.text(min_size=1, max_size=200))
    def test_plain_round_trip(self, value: str) -> None:
        """
        Plain text survives encoding and decoding (line ends normalised).
        """
        value = value.replace("\r", "")
        content = encode_text(RichText.plain(value))
        self.assertEqual(decode_text(content.content_type, content.body).plain_text(), value)


class MsTextFormatTests(SynchronousTestCase):
    """
    The first message of a Skype for Business INVITE.
    """

    def test_vector(self) -> None:
        from nextplane.connectors.sip.parser import parse_message

        invite = parse_message(vectors.SFB_INVITE)
        header = invite.headers.get("ms-text-format")  # type: ignore[union-attr]
        content = decode_ms_text_format(header)
        assert content is not None
        self.assertEqual(content.content_type, "text/plain;charset=UTF-8")
        self.assertEqual(
            decode_text(content.content_type, content.body).plain_text(), "Hallo wörld!"
        )

    def test_round_trip(self) -> None:
        content = Content("text/html;charset=UTF-8", "<b>Grüße</b>".encode())
        self.assertEqual(decode_ms_text_format(encode_ms_text_format(content)), content)

    def test_without_body(self) -> None:
        self.assertIsNone(decode_ms_text_format("text/plain; charset=UTF-8;msgr=abc"))

    def test_bad_base64(self) -> None:
        with self.assertRaises(BodyError):
            decode_ms_text_format("text/plain;ms-body=!!!")

    def test_unpadded(self) -> None:
        content = decode_ms_text_format("text/plain;ms-body=SGk")
        self.assertEqual(content, Content("text/plain", b"Hi"))


class TypingTests(SynchronousTestCase):
    """
    RFC 3994 isComposing and Microsoft KeyboardActivity.
    """

    def test_is_composing(self) -> None:
        active = build_is_composing(TypingState.COMPOSING)
        self.assertEqual(active.content_type, ISCOMPOSING)
        self.assertIn(b"<refresh>90</refresh>", active.body)
        self.assertEqual(parse_is_composing(active.body), TypingState.COMPOSING)
        for state in (TypingState.PAUSED, TypingState.IDLE):
            self.assertEqual(parse_is_composing(build_is_composing(state).body), TypingState.IDLE)

    def test_is_composing_foreign(self) -> None:
        body = (
            b"<?xml version='1.0' encoding='UTF-8'?>\n"
            b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing' "
            b"xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'>\n"
            b"  <state>idle</state>\n  <lastactive>2026-11-01T12:00:00Z</lastactive>\n"
            b"</isComposing>"
        )
        self.assertEqual(parse_is_composing(body), TypingState.IDLE)

    def test_is_composing_bad(self) -> None:
        for body in (b"<nope/>", b"<isComposing/>", b"not xml", b"<?xml version='1.0'?>"):
            with self.assertRaises(BodyError):
                parse_is_composing(body)

    def test_entities_refused(self) -> None:
        """
        A document with a DTD (entity expansion) is refused unparsed.
        """
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b"<isComposing><state>&b;</state></isComposing>"
        )
        with self.assertRaises(BodyError) as caught:
            parse_is_composing(bomb)
        self.assertIn("document type", caught.exception.reason)

    def test_keyboard_activity(self) -> None:
        self.assertEqual(
            parse_keyboard_activity(build_keyboard_activity(TypingState.COMPOSING).body),
            TypingState.COMPOSING,
        )
        self.assertEqual(
            parse_keyboard_activity(build_keyboard_activity(TypingState.IDLE).body),
            TypingState.IDLE,
        )
        self.assertEqual(
            build_keyboard_activity(TypingState.COMPOSING).body,
            b'<?xml version="1.0"?><KeyboardActivity><status status="type" /></KeyboardActivity>',
        )
        self.assertIsNone(parse_keyboard_activity(b"<Other/>"))
