# -*- test-case-name: tests.teams.test_simulator -*-
"""
Request validation against the published Bot Connector REST description.

The description is C{ConnectorAPI.json} (Swagger 2.0, "Microsoft Bot
Connector API - v3.0"), read in place from C{shared/specs/teams/} next to
the repository or one of its parent folders (or from
C{$NEXTPLANE_SPECS_DIR/teams/}); it is never copied into the project.

For each request this checks the route and verb against the spec's paths,
and the JSON body against the operation's body schema, by lifting the
spec's C{definitions} into C{jsonschema}. The spec marks nothing as
required, so the documented requirements are asserted here
(C{../shared/notes/platforms.md} §F):

  1. every activity sent has a C{type};
  2. a C{message} has C{text} or C{attachments};
  3. creating a conversation names the bot, exactly one member with an
     C{id} (Teams needs the user id, not an email) and a tenant
     (C{channelData.tenant.id} or C{tenantId}).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
from attrs import frozen

from ..specs import route_pattern, spec_path

__all__ = ["ConnectorSpec", "Operation", "default_spec_path", "load_spec"]

_SPEC_NAME = Path("teams") / "ConnectorAPI.json"


def default_spec_path() -> Path:
    """
    Where the spec is (L{nextplane.testing.specs.spec_path}).
    """
    return spec_path(_SPEC_NAME)


@frozen
class Operation:
    """
    One operation of the API.

    @ivar pattern: Matches the request path; groups are the path parameters.
    @ivar body: The name of the body's definition, or C{None}.
    """

    operation_id: str
    verb: str
    template: str
    pattern: re.Pattern[str]
    body: str | None


class ConnectorSpec:
    """
    The Connector API's operations, with request validation.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.definitions: Mapping[str, Any] = document.get("definitions", {})
        self.operations: list[Operation] = []
        for template, verbs in document.get("paths", {}).items():
            for verb, operation in verbs.items():
                body = None
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "body":
                        body = parameter["schema"]["$ref"].rpartition("/")[2]
                self.operations.append(
                    Operation(
                        operation["operationId"],
                        verb.upper(),
                        template,
                        route_pattern(template),
                        body,
                    )
                )
        # Literal routes first: .../activities/history before .../activities/{activityId}.
        self.operations.sort(key=lambda o: o.template.count("{"))

    def match(self, verb: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        """
        The operation for C{verb} C{path}, its path parameters, and the
        violations (an unknown path, or a verb the path does not have).
        """
        known_path = False
        for operation in self.operations:
            found = operation.pattern.match(path)
            if found is None:
                continue
            known_path = True
            if operation.verb == verb.upper():
                return operation, found.groupdict(), []
        if known_path:
            return None, {}, [f"{verb.upper()} is not an operation of {path}"]
        return None, {}, [f"unknown path {path}"]

    @functools.cache  # noqa: B019 - one validator per definition for the spec's lifetime
    def _validator(self, definition: str) -> jsonschema.Draft4Validator:
        schema = {"definitions": self.definitions, "$ref": f"#/definitions/{definition}"}
        return jsonschema.Draft4Validator(schema)

    def validate_body(self, operation: Operation, body: Any) -> list[str]:
        """
        Violations of C{operation}'s body schema and of the documented
        requirements.
        """
        if operation.body is None:
            return []
        if not isinstance(body, dict):
            return [f"{operation.operation_id}: body is not a JSON object"]
        name = operation.operation_id
        problems = [
            f"{name}: {'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}"
            for e in self._validator(operation.body).iter_errors(body)
        ]
        if operation.body == "Activity":
            problems += _activity_requirements(operation.operation_id, body)
        elif operation.body == "ConversationParameters":
            problems += _conversation_requirements(body)
        return problems


def _activity_requirements(name: str, activity: Mapping[str, Any]) -> list[str]:
    problems = []
    if not activity.get("type"):
        problems.append(f"{name}: activity without type")
    if activity.get("type") == "message" and not (
        activity.get("text") or activity.get("attachments")
    ):
        problems.append(f"{name}: message without text or attachments")
    return problems


def _conversation_requirements(parameters: Mapping[str, Any]) -> list[str]:
    problems = []
    bot = parameters.get("bot")
    if not isinstance(bot, dict) or not bot.get("id"):
        problems.append("CreateConversation: no bot id")
    members = parameters.get("members")
    if not isinstance(members, list) or len(members) != 1:
        problems.append("CreateConversation: a 1:1 conversation needs exactly one member")
    elif not isinstance(members[0], dict) or not members[0].get("id"):
        problems.append("CreateConversation: member without id")
    channel_data = parameters.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    tenant_id = tenant.get("id") if isinstance(tenant, dict) else None
    if not (tenant_id or parameters.get("tenantId")):
        problems.append("CreateConversation: no tenant id")
    if "activity" in parameters and isinstance(parameters["activity"], dict):
        problems += _activity_requirements("CreateConversation", parameters["activity"])
    return problems


@functools.cache
def load_spec(path: Path | None = None) -> ConnectorSpec:
    """
    Read the spec (once per path).
    """
    with open(path or default_spec_path(), encoding="utf-8") as f:
        return ConnectorSpec(json.load(f))
