# -*- test-case-name: tests.teams.test_files -*-
"""
The file consent flow's HTTP shapes (personal scope, C{bots-filesv4.md}).

  1. The bot sends a file consent card (L{nextplane.connectors.teams.cards.file_consent_card}).
  2. The user accepts: C{invoke fileConsent/invoke} brings an
     L{UploadInfo} (answer the invoke 200 at once).
  3. The bot C{PUT}s the bytes to C{uploadUrl} (L{upload_request}); a file
     up to 4 MB goes in one request with C{Content-Range: bytes 0-(n-1)/n}.
  4. The bot replaces the consent card with a file info card
     (L{uploaded_card}) pointing at C{contentUrl}.

Larger files need several ranges; L{upload_ranges} cuts them in the
320 KiB multiples OneDrive upload sessions require.
"""

from __future__ import annotations

from attrs import frozen

from .activity import UploadInfo
from .cards import file_info_card

__all__ = ["CHUNK", "UploadPart", "upload_ranges", "upload_request", "uploaded_card"]

#: OneDrive upload sessions take ranges in multiples of 320 KiB; 10 of them.
CHUNK = 10 * 320 * 1024


@frozen
class UploadPart:
    """
    One C{PUT} of an upload: bytes C{start} to C{end} (inclusive) of C{total}.
    """

    url: str
    start: int
    end: int
    total: int

    @property
    def headers(self) -> dict[str, str]:
        """
        The request's own headers (the HTTP client sets C{Content-Length}
        from the body; giving it twice loses the body).
        """
        return {"Content-Range": f"bytes {self.start}-{self.end}/{self.total}"}

    @property
    def length(self) -> int:
        """
        How many bytes this part carries.
        """
        return self.end - self.start + 1


def upload_ranges(upload: UploadInfo, size: int, chunk: int = CHUNK) -> list[UploadPart]:
    """
    The C{PUT}s that upload C{size} bytes, in order.

    @raise ValueError: For an empty file (Teams offers no consent for one).
    """
    if size <= 0:
        raise ValueError("nothing to upload")
    return [
        UploadPart(upload.upload_url, start, min(start + chunk, size) - 1, size)
        for start in range(0, size, chunk)
    ]


def upload_request(upload: UploadInfo, size: int) -> UploadPart:
    """
    The single C{PUT} for a file that fits one request.

    @raise ValueError: When it does not (use L{upload_ranges}).
    """
    parts = upload_ranges(upload, size)
    if len(parts) != 1:
        raise ValueError("file too large for one request")
    return parts[0]


def uploaded_card(upload: UploadInfo) -> dict[str, object]:
    """
    The file info card for an uploaded file.
    """
    file_type = upload.file_type or upload.name.rpartition(".")[2]
    return file_info_card(upload.name, upload.content_url, upload.unique_id or "", file_type)
