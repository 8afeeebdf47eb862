# -*- test-case-name: tests.slack.test_simulator -*-
"""
The Slack simulator's files: the upload methods, the upload host and
C{url_private} downloads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from twisted.web.iweb import IRequest

from .base import SIM_APP, SimulatorBase
from .records import SlackApiError, Violation, header_value
from .state import SimFile, SimMessage, SimToken

__all__ = ["FileMethods"]


class FileMethods(SimulatorBase):
    """
    C{files.*} handlers and the two file hosts.
    """

    def _m_files_getUploadURLExternal(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        length = int(args["length"])
        if length <= 0:
            raise SlackApiError("invalid_arguments")
        file = SimFile(
            self.workspace.new_id("F"),
            str(args["filename"]),
            length,
            alt_txt=args.get("alt_txt"),
            user=token.user_id,
        )
        self.workspace.files[file.id] = file
        return {"upload_url": f"{self.base_url}/upload/v1/{file.id}", "file_id": file.id}

    def _m_files_completeUploadExternal(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        raw = args.get("files")
        try:
            entries = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise SlackApiError("invalid_arguments") from None
        if not isinstance(entries, list) or not entries:
            raise SlackApiError("invalid_arguments")
        files: list[SimFile] = []
        for entry in entries:
            file = self.workspace.files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if file is None or not file.uploaded:
                raise SlackApiError("file_not_found")
            files.append(file)
        channel_id = args.get("channel_id")
        conversation = None
        if channel_id:
            conversation = self._conversation(channel_id)
            self._member(token, conversation)
        for file, entry in zip(files, entries):
            file.title = entry.get("title") or file.name
            file.completed = True
        if conversation is not None:
            message = SimMessage(
                ts=self._new_ts(),
                text=str(args.get("initial_comment") or ""),
                user=token.user_id,
                bot_id=token.bot_id,
                thread_ts=args.get("thread_ts"),
                files=[f.id for f in files],
            )
            conversation.messages.append(message)
            for file in files:
                file.channels.append(conversation.id)
        return {"files": [{"id": f.id, "title": f.title} for f in files]}

    def _m_files_info(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        file = self.workspace.files.get(str(args.get("file", "")))
        if file is None or not file.completed:
            raise SlackApiError("file_not_found")
        return {"file": self._file_json(file)}

    @SIM_APP.route("/upload/v1/<string:file_id>", methods=["POST"])
    def upload(self, request: IRequest, file_id: str) -> bytes:
        """
        The upload URL handed out by C{files.getUploadURLExternal}.
        """
        now = self.clock.seconds()
        credentials = request.getHeader(b"authorization") is not None
        self.uploads.append((file_id, credentials))
        if credentials:
            self.violations.append(
                Violation(now, "files.upload", ("[ERROR] credentials sent to the upload URL",))
            )
        fault = self._next_fault("upload")
        file = self.workspace.files.get(file_id)
        if file is None:
            request.setResponseCode(404)
            return b"not found"
        if fault is not None and fault.kind == "status":
            request.setResponseCode(fault.status)
            return b"error"
        content = request.content.read() if request.content is not None else b""
        if len(content) != file.length:
            self.violations.append(
                Violation(
                    now,
                    "files.upload",
                    (f"[ERROR] uploaded {len(content)} bytes, announced {file.length}",),
                )
            )
        file.content = content
        file.uploaded = True
        request.setResponseCode(200)
        return f"OK - {len(content)}".encode("ascii")

    @SIM_APP.route("/files-pri/<string:team_file>/<string:name>", methods=["GET"])
    def download(self, request: IRequest, team_file: str, name: str) -> bytes:
        """
        C{url_private}: the file for a token with C{files:read}, Slack's
        login page otherwise.
        """
        header = header_value(request, b"authorization") or ""
        token = self.workspace.tokens.get(header[len("Bearer ") :].strip())
        _, _, file_id = team_file.partition("-")
        file = self.workspace.files.get(file_id)
        if token is None or "files:read" not in token.scopes or file is None:
            request.setResponseCode(200)
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            return b"<html><body>Sign in to Slack</body></html>"
        request.setHeader(b"content-type", file.mimetype.encode("ascii"))
        return file.content or b""
