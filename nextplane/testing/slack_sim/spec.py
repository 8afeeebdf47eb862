# -*- test-case-name: tests.slack.test_simulator -*-
"""
Request validation against Slack's published Web API description.

The description is C{slack_web_openapi_v2.json} from
C{slackapi/slack-api-specs} (Swagger 2.0, frozen since 2021), read in place
from C{../shared/specs/slack/} next to the repository (or from
C{$NEXTPLANE_SPECS_DIR/slack/}); it is never copied into the project.

For each request this checks that the method exists, the HTTP verb, that
every argument is a known parameter of the right type and that required
ones are present. Documented allowances, where the frozen spec differs from
what Slack accepts today:

  1. Arguments may come from the query string, a form body or (where the
     method C{consumes} C{application/json}) a JSON body, merged.
  2. Methods described with C{get} also accept C{POST} (Slack accepts both;
     C{slack_sdk} posts by default; slackapi/slack-api-specs#75).
  3. The token goes in C{Authorization: Bearer}; a C{token} argument is a
     violation (Slack refuses query-string tokens for newer apps).
  4. In JSON bodies, C{blocks}, C{attachments}, C{files}, C{metadata} and
     C{view} may be arrays or objects (the spec types them as JSON-encoded
     strings; C{slack_sdk}'s C{views_publish} sends the view as an object
     in a JSON body), and C{number} parameters (such as C{ts}) may be
     numeric strings, since timestamps must keep their digits.
  5. C{files.getUploadURLExternal} and C{files.completeUploadExternal} are
     missing from the spec and described here by hand, from
     U{https://docs.slack.dev/reference/methods/files.getUploadURLExternal}
     and U{https://docs.slack.dev/reference/methods/files.completeUploadExternal}.
  6. A few parameters the spec leaves optional are required by Slack
     (C{chat.delete} C{channel} and C{ts}, ...): L{EXTRA_REQUIRED}.
  7. Scopes: the spec lists legacy scopes (C{chat:write:bot}); the granular
     bot scopes that grant them are in L{SCOPE_EQUIVALENTS}.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from attrs import frozen

from ..specs import spec_path

__all__ = [
    "EXTRA_REQUIRED",
    "SCOPE_EQUIVALENTS",
    "MethodSchema",
    "Param",
    "WebApiSpec",
    "default_spec_path",
    "load_spec",
]

_STRUCTURED = frozenset({"blocks", "attachments", "files", "metadata", "view"})

#: Parameters Slack requires though the frozen spec does not mark them.
EXTRA_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "chat.delete": ("channel", "ts"),
    "conversations.create": ("name",),
    "conversations.invite": ("channel", "users"),
    "users.info": ("user",),
    "users.getPresence": ("user",),
}

#: A spec scope to the granular (bot token) scopes that also grant it.
SCOPE_EQUIVALENTS: Mapping[str, frozenset[str]] = {
    "chat:write:bot": frozenset({"chat:write"}),
    "chat:write:user": frozenset({"chat:write"}),
    "channels:write": frozenset({"channels:manage"}),
    "conversations:write": frozenset({"channels:manage", "groups:write", "im:write", "mpim:write"}),
    "conversations:history": frozenset(
        {"channels:history", "groups:history", "im:history", "mpim:history"}
    ),
    "conversations:read": frozenset({"channels:read", "groups:read", "im:read", "mpim:read"}),
    "files:write:user": frozenset({"files:write"}),
}

_SCOPE_IN_TEXT = re.compile(r"Requires scope: `([^`]+)`")


@frozen
class Param:
    """
    One declared parameter.

    @ivar type: Swagger type: C{string}, C{boolean}, C{number}, C{integer}.
    """

    name: str
    type: str
    required: bool


@frozen
class MethodSchema:
    """
    What a method accepts.

    @ivar verb: The declared HTTP verb, C{"GET"} or C{"POST"}.
    @ivar scopes: Scopes any one of which allows the call; empty for none.
    """

    name: str
    verb: str
    consumes: frozenset[str]
    params: Mapping[str, Param]
    scopes: frozenset[str]
    example: Mapping[str, Any] | None = None


_FILES_V2 = (
    MethodSchema(
        "files.getUploadURLExternal",
        "POST",
        frozenset({"application/x-www-form-urlencoded"}),
        {
            "filename": Param("filename", "string", True),
            "length": Param("length", "integer", True),
            "alt_txt": Param("alt_txt", "string", False),
            "snippet_type": Param("snippet_type", "string", False),
        },
        frozenset({"files:write"}),
    ),
    MethodSchema(
        "files.completeUploadExternal",
        "POST",
        frozenset({"application/x-www-form-urlencoded", "application/json"}),
        {
            "files": Param("files", "string", True),
            "channel_id": Param("channel_id", "string", False),
            "channels": Param("channels", "string", False),
            "initial_comment": Param("initial_comment", "string", False),
            "thread_ts": Param("thread_ts", "string", False),
            "blocks": Param("blocks", "string", False),
        },
        frozenset({"files:write"}),
    ),
)


def default_spec_path() -> Path:
    """
    Where the spec is (L{nextplane.testing.specs.spec_path}).
    """
    return spec_path(Path("slack") / "slack_web_openapi_v2.json")


def _method_from(name: str, verb: str, operation: Mapping[str, Any]) -> MethodSchema:
    params: dict[str, Param] = {}
    scopes: set[str] = set()
    for raw in operation.get("parameters", []):
        param = Param(raw["name"], raw.get("type", "string"), bool(raw.get("required")))
        params[param.name] = param
        if param.name == "token":
            scopes.update(_SCOPE_IN_TEXT.findall(raw.get("description", "")))
    for requirement in operation.get("security", []):
        for listed in requirement.values():
            scopes.update(listed)
    scopes.discard("none")
    example = None
    success = operation.get("responses", {}).get("200", {})
    examples = success.get("examples", {}).get("application/json")
    if isinstance(examples, dict):
        example = examples
    return MethodSchema(
        name,
        verb.upper(),
        frozenset(operation.get("consumes", ["application/x-www-form-urlencoded"])),
        params,
        frozenset(scopes),
        example,
    )


class WebApiSpec:
    """
    The methods of the Web API, with request validation.
    """

    def __init__(self, methods: Iterable[MethodSchema]) -> None:
        self.methods: dict[str, MethodSchema] = {m.name: m for m in methods}

    def validate(
        self,
        method: str,
        verb: str,
        content_type: str | None,
        query: Mapping[str, str],
        form: Mapping[str, str],
        body_json: Mapping[str, Any] | None,
    ) -> list[str]:
        """
        Check one request.

        @param verb: The HTTP verb used.
        @param content_type: The body's media type without parameters.
        @param query: Query-string arguments.
        @param form: Form-body arguments.
        @param body_json: The JSON body's object, if one was sent.
        @return: Violations, as Slack-style C{[ERROR] ...} messages; empty
            when the request is acceptable.
        """
        schema = self.methods.get(method)
        if schema is None:
            return [f"[ERROR] unknown method: {method}"]
        problems: list[str] = []
        if verb not in ("GET", "POST"):
            problems.append(f"[ERROR] HTTP {verb} is not accepted")
        elif schema.verb == "POST" and verb != "POST":
            problems.append(f"[ERROR] {method} must be called with POST")
        if body_json is not None and "application/json" not in schema.consumes:
            problems.append(f"[ERROR] {method} does not accept JSON bodies")
        if (
            verb == "POST"
            and content_type
            and content_type
            not in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
        ):
            problems.append(f"[ERROR] unsupported content type {content_type}")
        args: dict[str, Any] = {}
        for source in (query, form):
            args.update(source)
        json_args = dict(body_json or {})
        args.update(json_args)
        for name, value in args.items():
            if name == "token":
                problems.append(
                    "[ERROR] pass the token in the Authorization header, not as 'token'"
                )
                continue
            param = schema.params.get(name)
            if param is None:
                problems.append(f"[ERROR] unknown parameter: {name}")
                continue
            problem = _type_problem(param, value, from_json=name in json_args)
            if problem:
                problems.append(problem)
        required = {p.name for p in schema.params.values() if p.required and p.name != "token"}
        required.update(EXTRA_REQUIRED.get(method, ()))
        for name in sorted(required):
            if name not in args or args[name] in ("", None):
                problems.append(f"[ERROR] missing required field: {name}")
        return problems

    def scope_allows(self, method: str, granted: Iterable[str]) -> bool:
        """
        Whether a token holding C{granted} scopes may call C{method}.
        """
        schema = self.methods.get(method)
        if schema is None or not schema.scopes:
            return True
        have = set(granted)
        for scope in schema.scopes:
            if scope in have or have & SCOPE_EQUIVALENTS.get(scope, frozenset()):
                return True
        return False

    def needed_scope(self, method: str) -> str:
        """
        A scope to name in a C{missing_scope} answer.
        """
        schema = self.methods.get(method)
        if schema is None or not schema.scopes:
            return ""
        return ",".join(sorted(schema.scopes))


def _type_problem(param: Param, value: Any, from_json: bool) -> str | None:
    bad = f"[ERROR] {param.name}: expected {param.type}"
    if from_json:
        if param.type == "string":
            if isinstance(value, str):
                return None
            if param.name in _STRUCTURED and isinstance(value, list | dict):
                return None
            return bad
        if param.type == "boolean":
            return None if isinstance(value, bool) else bad
        if param.type in ("number", "integer"):
            if isinstance(value, bool):
                return bad
            if isinstance(value, int) or (param.type == "number" and isinstance(value, float)):
                return None
            if isinstance(value, str):
                return _type_problem(param, value, from_json=False)
            return bad
        return None
    if not isinstance(value, str):
        return bad
    if param.type == "boolean":
        return None if value.lower() in ("true", "false", "1", "0") else bad
    if param.type == "integer":
        return None if re.fullmatch(r"-?\d+", value) else bad
    if param.type == "number":
        return None if re.fullmatch(r"-?\d+(\.\d+)?", value) else bad
    return None


def load_spec(path: Path | None = None) -> WebApiSpec:
    """
    Read the Swagger file (default: L{default_spec_path}, read once and
    shared) and add the hand-written files v2 methods.
    """
    if path is None:
        return _default_spec(default_spec_path())
    return _read_spec(path)


@functools.cache
def _default_spec(path: Path) -> WebApiSpec:
    return _read_spec(path)


def _read_spec(source: Path) -> WebApiSpec:
    document = json.loads(source.read_text("utf-8"))
    methods: list[MethodSchema] = []
    for route, operations in document["paths"].items():
        for verb, operation in operations.items():
            if verb.lower() in ("get", "post"):
                methods.append(_method_from(route.lstrip("/"), verb, operation))
    methods.extend(_FILES_V2)
    return WebApiSpec(methods)
