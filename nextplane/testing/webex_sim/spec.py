# -*- test-case-name: tests.webex.test_simulator -*-
"""
Request validation against the published Webex Messaging API.

The description is C{webex-messaging.json} (OpenAPI 3.0.0, "Webex
Messaging"), read in place from C{shared/specs/webex/} beside the
repository or one of its parent folders (or C{$NEXTPLANE_SPECS_DIR/webex/});
it is never copied into the project. It has no C{servers}: paths are
relative to C{https://webexapis.com/v1}.

For each request L{MessagingSpec.check} returns the violations: an unknown
path or verb, unknown or missing query parameters, a parameter of the wrong
type, a body where none is expected, and a JSON body that breaks the
operation's schema (lifted into C{jsonschema} with the spec's
C{components}). The documented limits the schema does not encode are
asserted here: at most 7,439 bytes of C{text} or C{markdown}, one file,
one card, and exactly one destination for a message.

One spec defect is worked around: its C{Attachment} schema describes an
Enterprise Content Management file (C{fileId}, C{contentUrl}), not the
card the Cards guide and the C{attachments} description name. Message
attachments are therefore checked against the guide instead: a
C{contentType} of C{application/vnd.microsoft.card.adaptive} and a
C{content} object of C{type} C{AdaptiveCard}.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
from attrs import frozen

from ..specs import route_pattern, spec_path

__all__ = ["MESSAGE_BYTES", "MessagingSpec", "Operation", "default_spec_path", "load_spec"]

_SPEC_NAME = Path("webex") / "webex-messaging.json"
#: Webex's limit on a message's C{text} and C{markdown}, in bytes.
MESSAGE_BYTES = 7439
_CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def default_spec_path() -> Path:
    """
    Where the spec is (L{nextplane.testing.specs.spec_path}).
    """
    return spec_path(_SPEC_NAME)


@frozen
class Operation:
    """
    One operation: its route, parameters and body schema.

    @ivar query: Query parameter name -> (required, JSON schema).
    """

    name: str
    verb: str
    template: str
    pattern: re.Pattern[str]
    query: Mapping[str, tuple[bool, Mapping[str, Any]]]
    body: Mapping[str, Any] | None


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind in ("integer", "number"):
        try:
            return int(value) if kind == "integer" else float(value)
        except ValueError:
            return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


class MessagingSpec:
    """
    The Messaging API's operations, with request validation.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.components: Mapping[str, Any] = document.get("components", {})
        self.operations: list[Operation] = []
        for template, verbs in document.get("paths", {}).items():
            for verb, operation in verbs.items():
                query = {
                    p["name"]: (bool(p.get("required")), p.get("schema", {}))
                    for p in operation.get("parameters", [])
                    if p.get("in") == "query"
                }
                content = operation.get("requestBody", {}).get("content", {})
                body = content.get("application/json", {}).get("schema")
                self.operations.append(
                    Operation(
                        operation.get("operationId") or f"{verb.upper()} {template}",
                        verb.upper(),
                        template,
                        route_pattern(template),
                        query,
                        body,
                    )
                )
        # Literal routes first: /people/me before /people/{personId}.
        self.operations.sort(key=lambda o: o.template.count("{"))

    def match(self, verb: str, path: str) -> tuple[Operation | None, list[str]]:
        """
        The operation for C{verb} C{path} (relative to C{/v1}), or the
        violation (an unknown path, or a verb the path does not have).
        """
        known_path = False
        for operation in self.operations:
            if operation.pattern.match(path) is None:
                continue
            known_path = True
            if operation.verb == verb.upper():
                return operation, []
        if known_path:
            return None, [f"{verb.upper()} is not an operation of {path}"]
        return None, [f"unknown path {path}"]

    @functools.cache  # noqa: B019 - one validator per operation for the spec's lifetime
    def _validator(self, name: str) -> jsonschema.Draft4Validator:
        operation = next(o for o in self.operations if o.name == name)
        return jsonschema.Draft4Validator({**(operation.body or {}), "components": self.components})

    def check(
        self,
        operation: Operation,
        query: Sequence[tuple[str, str]],
        body: Any,
        has_body: bool,
    ) -> list[str]:
        """
        The violations of one request to C{operation}.

        @param query: The query parameters, in order.
        @param body: The decoded JSON body (when C{has_body}).
        @param has_body: Whether the request had a body.
        """
        name = operation.name
        problems = []
        given = dict(query)
        for key, value in given.items():
            if key not in operation.query:
                problems.append(f"{name}: unknown query parameter {key}")
                continue
            schema = operation.query[key][1]
            for error in jsonschema.Draft4Validator(schema).iter_errors(_coerce(value, schema)):
                problems.append(f"{name}: query {key}: {error.message}")
        for key, (required, _schema) in operation.query.items():
            if required and key not in given:
                problems.append(f"{name}: missing query parameter {key}")
        if operation.body is None:
            if has_body:
                problems.append(f"{name}: takes no body")
            return problems
        if not isinstance(body, dict):
            return [*problems, f"{name}: body is not a JSON object"]
        is_message = operation.template in ("/messages", "/messages/{messageId}")
        checked = {k: v for k, v in body.items() if k != "attachments"} if is_message else body
        problems += [
            f"{name}: {'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}"
            for e in self._validator(name).iter_errors(checked)
        ]
        if is_message:
            problems += _message_requirements(name, operation.verb, body)
        return problems


def _message_requirements(name: str, verb: str, body: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in ("text", "markdown"):
        value = body.get(key)
        if isinstance(value, str) and len(value.encode("utf-8")) > MESSAGE_BYTES:
            problems.append(f"{name}: {key} longer than {MESSAGE_BYTES} bytes")
    if verb == "POST":
        targets = [key for key in ("roomId", "toPersonId", "toPersonEmail") if body.get(key)]
        if len(targets) != 1:
            problems.append(f"{name}: needs exactly one of roomId, toPersonId, toPersonEmail")
        for key in ("files", "attachments"):
            if isinstance(body.get(key), list) and len(body[key]) > 1:
                problems.append(f"{name}: at most one item in {key}")
        problems += _card_requirements(name, body.get("attachments", []))
    if not (body.get("text") or body.get("markdown") or body.get("files")):
        problems.append(f"{name}: no text, markdown or file")
    return problems


def _card_requirements(name: str, attachments: Any) -> list[str]:
    if not isinstance(attachments, list):
        return [f"{name}: attachments is not an array"]
    problems = []
    for item in attachments:
        if not isinstance(item, dict) or item.get("contentType") != _CARD_TYPE:
            problems.append(f"{name}: attachment is not an Adaptive Card")
        elif (
            not isinstance(item.get("content"), dict)
            or item["content"].get("type") != "AdaptiveCard"
        ):
            problems.append(f"{name}: card content is not an AdaptiveCard")
    return problems


@functools.cache
def load_spec(path: Path | None = None) -> MessagingSpec:
    """
    Read the spec (once per path).
    """
    with open(path or default_spec_path(), encoding="utf-8") as f:
        return MessagingSpec(json.load(f))
