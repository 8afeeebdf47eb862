# -*- test-case-name: tests.xmpp.test_stream -*-
"""
The sans-IO half of an XMPP stream: a hardened expat parser and the stream
errors (RFC 6120 section 4.9) it and the protocol logic raise.

L{StreamParser} enforces the restricted XML profile of RFC 6120 section
11.1 (no DTDs, entity declarations, comments or processing instructions,
which also rules out "billion laughs" entity expansion), a byte limit per
first-level child (counted on the wire, not after parsing), an element count
and depth limit, and stream restarts (RFC 6120 sections 5.4.3.3 and 6.4.6)
that discard whatever the peer pipelined after the element that triggered
the restart (the STARTTLS injection defence).
"""

from __future__ import annotations

import pyexpat
from collections.abc import Callable
from typing import Any, cast

from twisted.words.xish import domish

from .namespaces import NS_STREAM_ERRORS, NS_STREAMS, NS_XML

__all__ = ["StreamError", "StreamParser"]

_XML_WHITESPACE = " \t\r\n"


class StreamError(Exception):
    """
    A condition that ends an XML stream (RFC 6120 section 4.9.3).

    @ivar condition: The defined condition, e.g. C{policy-violation}.
    @ivar text: Optional human-readable text; never stanza content.
    """

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(condition, text)
        self.condition = condition
        self.text = text

    def __str__(self) -> str:
        return f"{self.condition}: {self.text}" if self.text else self.condition

    def to_element(self) -> domish.Element:
        """
        Build the C{<stream:error/>} element for this condition.
        """
        error = domish.Element((NS_STREAMS, "error"))
        error.addElement((NS_STREAM_ERRORS, self.condition))
        if self.text:
            text = error.addElement((NS_STREAM_ERRORS, "text"), content=self.text)
            text[(NS_XML, "lang")] = "en"
        return error

    @classmethod
    def from_element(cls, element: domish.Element) -> StreamError:
        """
        Read a received C{<stream:error/>} element.
        """
        condition = "undefined-condition"
        text = None
        for child in element.elements():
            if child.uri != NS_STREAM_ERRORS:
                continue
            if child.name == "text":
                text = str(child)
            else:
                condition = child.name
        return cls(condition, text)


class _Halt(Exception):
    """
    Raised inside expat callbacks to stop parsing the current buffer.
    """


class StreamParser:
    """
    Sans-IO parser for one direction of an XMPP stream.

    Feed it bytes with L{feed}; it calls C{on_header} with the root element
    (attributes only), C{on_element} with each complete first-level child and
    C{on_end} when the root element closes. Violations raise L{StreamError}:

      - C{restricted-xml} for DTDs, entity/notation declarations, comments and
        processing instructions (RFC 6120 section 11.1);
      - C{not-well-formed} for anything expat rejects;
      - C{policy-violation} when a first-level child (or the bytes buffered
        towards one) exceeds L{max_stanza_size} bytes, or is nested or
        populated beyond the limits;
      - C{bad-format} for non-whitespace text between stanzas.

    After an error the parser ignores further input.

    @ivar max_stanza_size: The current byte limit; callers raise it once the
        stream is authenticated.
    """

    MAX_HEADER_SIZE = 8192

    def __init__(
        self,
        on_header: Callable[[domish.Element], object],
        on_element: Callable[[domish.Element], object],
        on_end: Callable[[], object],
        max_stanza_size: int,
        max_depth: int = 64,
        max_elements: int = 25_000,
    ) -> None:
        self._on_header = on_header
        self._on_element = on_element
        self._on_end = on_end
        self.max_stanza_size = max_stanza_size
        self.max_depth = max_depth
        self.max_elements = max_elements
        self._halt: str | None = None
        self._parsing = False
        self._done = False
        self._new_parser()

    def _new_parser(self) -> None:
        parser = pyexpat.ParserCreate("UTF-8", " ")
        parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._cdata
        parser.StartNamespaceDeclHandler = self._start_namespace
        parser.EndNamespaceDeclHandler = self._end_namespace
        parser.StartDoctypeDeclHandler = self._forbidden("DTD")
        parser.EntityDeclHandler = self._forbidden("entity declaration")
        parser.UnparsedEntityDeclHandler = self._forbidden("entity declaration")
        parser.NotationDeclHandler = self._forbidden("notation declaration")
        parser.ElementDeclHandler = self._forbidden("element declaration")
        parser.AttlistDeclHandler = self._forbidden("attribute list declaration")
        parser.ExternalEntityRefHandler = self._forbidden("external entity")
        parser.SkippedEntityHandler = self._forbidden("entity reference")
        parser.CommentHandler = self._forbidden("comment")
        parser.ProcessingInstructionHandler = self._forbidden("processing instruction")
        self._parser = parser
        self._fed = 0
        self._depth = 0
        self._boundary = 0
        self._boundary_is_header = True
        self._stanza_start: int | None = None
        self._elements = 0
        self._current: domish.Element | None = None
        self._default_ns: list[str] = [""]
        self._local_prefixes: dict[str, str] = {}

    @staticmethod
    def _forbidden(what: str) -> Any:
        def handler(*args: object) -> None:
            raise StreamError("restricted-xml", f"{what} not allowed in XMPP")

        return handler

    def reset(self) -> None:
        """
        Restart the stream: the next bytes must open a new stream header.

        Called from inside an C{on_element} callback, the rest of the buffer
        being parsed is discarded (nothing may legitimately follow the
        element that triggers a restart).
        """
        if self._parsing:
            self._halt = "restart"
        else:
            self._new_parser()

    def stop(self) -> None:
        """
        Ignore all further input.
        """
        self._done = True
        if self._parsing:
            self._halt = "stop"

    def feed(self, data: bytes) -> None:
        """
        Parse C{data}, calling the callbacks for what it completes.

        @raise StreamError: The input violates the XMPP XML profile or a
            limit; the parser ignores further input.
        """
        if self._done or not data:
            return
        self._fed += len(data)
        self._parsing = True
        try:
            self._parser.Parse(data, False)
        except _Halt:
            pass
        except StreamError:
            self._done = True
            raise
        except pyexpat.ExpatError as e:
            self._done = True
            raise StreamError("not-well-formed", pyexpat.ErrorString(e.code)) from None
        except BaseException:
            self._done = True
            raise
        finally:
            self._parsing = False
        halt, self._halt = self._halt, None
        if halt == "restart":
            self._new_parser()
            return
        if halt == "stop" or self._done:
            self._done = True
            return
        self._check_pending()

    def _check_pending(self) -> None:
        if self._depth == 0:
            if self._fed > self.MAX_HEADER_SIZE:
                self._too_big("stream header too large")
            return
        if self._stanza_start is not None:
            pending = self._fed - self._stanza_start
        else:
            pending = self._fed - self._boundary
            if self._boundary_is_header:
                # The boundary is the start of the header, whose end expat
                # does not report; allow for the header itself.
                pending -= self.MAX_HEADER_SIZE
        if pending > self.max_stanza_size:
            self._too_big(f"stanza larger than {self.max_stanza_size} bytes")

    def _too_big(self, text: str) -> None:
        self._done = True
        raise StreamError("policy-violation", text)

    def _after_callback(self) -> None:
        if self._halt is not None:
            raise _Halt()

    # expat callbacks

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        qname = name.rsplit(" ", 1)
        uri, local = (qname[0], qname[1]) if len(qname) == 2 else ("", name)
        attributes: dict[str | tuple[str, str], str] = {}
        for key, value in attrs.items():
            if " " in key:
                ns, attr = key.rsplit(" ", 1)
                attributes[(ns, attr)] = value
            else:
                attributes[key] = value
        element = domish.Element(
            (uri, local), self._default_ns[-1], attributes, self._local_prefixes
        )
        self._local_prefixes = {}
        if self._depth == 0:
            self._depth = 1
            self._boundary = self._parser.CurrentByteIndex
            self._on_header(element)
            self._after_callback()
            return
        self._depth += 1
        position = self._parser.CurrentByteIndex
        if self._depth == 2:
            self._stanza_start = position
            self._elements = 0
        elif self._depth - 1 > self.max_depth:
            self._too_big("elements nested too deeply")
        self._elements += 1
        if self._elements > self.max_elements:
            self._too_big("too many elements in one stanza")
        assert self._stanza_start is not None
        if position - self._stanza_start > self.max_stanza_size:
            self._too_big(f"stanza larger than {self.max_stanza_size} bytes")
        if self._current is not None:
            self._current.children.append(element)
            element.parent = self._current
        self._current = element

    def _end(self, name: str) -> None:
        if self._depth == 1:
            self._depth = 0
            self._done = True
            self._on_end()
            raise _Halt()
        self._depth -= 1
        element = self._current
        assert element is not None
        if self._depth > 1:
            self._current = cast(domish.Element, element.parent)
            return
        assert self._stanza_start is not None
        position = self._parser.CurrentByteIndex
        if position - self._stanza_start > self.max_stanza_size:
            self._too_big(f"stanza larger than {self.max_stanza_size} bytes")
        self._current = None
        self._stanza_start = None
        self._boundary = position
        self._boundary_is_header = False
        self._on_element(element)
        self._after_callback()

    def _cdata(self, data: str) -> None:
        if self._depth == 1:
            if data.strip(_XML_WHITESPACE):
                raise StreamError("bad-format", "text between stanzas")
            self._boundary = self._parser.CurrentByteIndex
            self._boundary_is_header = False
            return
        if self._current is not None:
            assert self._stanza_start is not None
            if self._parser.CurrentByteIndex - self._stanza_start > self.max_stanza_size:
                self._too_big(f"stanza larger than {self.max_stanza_size} bytes")
            self._current.addContent(data)

    def _start_namespace(self, prefix: str | None, uri: str) -> None:
        if prefix is None:
            self._default_ns.append(uri)
        else:
            self._local_prefixes[prefix] = uri

    def _end_namespace(self, prefix: str | None) -> None:
        if prefix is None:
            self._default_ns.pop()
