# -*- test-case-name: tests.slack.test_connector -*-
"""
Several simulated workspaces behind one Slack API, as the hub sees Slack:
one app installed in many workspaces, one API base URL, one bot token per
workspace.

L{SlackCloud} is an L{IResource} that hands each request to the simulator
it belongs to:

  - C{/api/<method>}: by the C{Authorization: Bearer} token (tokens are
    unique per workspace); C{oauth.v2.access} by its one-time C{code};
  - C{/files-pri/<team>-<file>/<name>}: by the team id in the path;
  - C{/upload/v1/<file>}: by the workspace holding that announced,
    not yet uploaded file.

The simulators keep their own id counters, so their user and channel ids
repeat across workspaces (C{U0000000002} exists in both): the hub must
never rely on ids being unique across workspaces.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from .simulator import SlackSimulator

__all__ = ["SlackCloud"]


class SlackCloud(Resource):
    """
    Routes requests to one of several L{SlackSimulator}s; see the module
    docstring.
    """

    isLeaf = True

    def __init__(self, *simulators: SlackSimulator) -> None:
        super().__init__()
        self.simulators = list(simulators)
        self._resources: dict[int, IResource] = {id(s): s.resource() for s in simulators}

    def _by_token(self, request: IRequest) -> SlackSimulator | None:
        header = request.getHeader(b"authorization")
        text = header.decode("latin-1") if isinstance(header, bytes) else header or ""
        token = text[len("Bearer ") :].strip() if text.startswith("Bearer ") else ""
        for sim in self.simulators:
            if token in sim.workspace.tokens:
                return sim
        return None

    def _by_code(self, request: IRequest) -> SlackSimulator | None:
        args: dict[str, Any] = {}
        query = request.uri.decode("latin-1").partition("?")[2]
        args.update(parse_qsl(query))
        body = request.content.read() if request.content is not None else b""
        if request.content is not None:
            request.content.seek(0)
        try:
            args.update(json.loads(body))
        except ValueError:
            args.update(parse_qsl(body.decode("utf-8", "replace")))
        code = str(args.get("code", ""))
        for sim in self.simulators:
            if code in sim._codes:
                return sim
        return None

    def pick(self, request: IRequest) -> SlackSimulator | None:
        """
        The simulator C{request} is for, if any.
        """
        segments = [s.decode("utf-8", "replace") for s in request.postpath]
        if len(segments) >= 2 and segments[0] == "api":
            if segments[1] == "oauth.v2.access":
                return self._by_code(request)
            return self._by_token(request) or (self.simulators[0] if self.simulators else None)
        if len(segments) >= 2 and segments[0] == "files-pri":
            team = segments[1].partition("-")[0]
            for sim in self.simulators:
                if sim.workspace.team_id == team:
                    return sim
        if len(segments) >= 3 and segments[:2] == ["upload", "v1"]:
            for sim in self.simulators:
                file = sim.workspace.files.get(segments[2])
                if file is not None and not file.uploaded:
                    return sim
        return None

    def render(self, request: IRequest) -> Any:
        """
        Let the chosen simulator answer; 404 when none fits.
        """
        sim = self.pick(request)
        if sim is None:
            request.setResponseCode(404)
            return b"not found"
        return self._resources[id(sim)].render(request)
