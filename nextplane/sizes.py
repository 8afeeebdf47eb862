# -*- test-case-name: tests.test_sizes -*-
"""
Message-size limits of a destination (Slack's 40,000 characters, XMPP's
and SIP's as configured): a text longer than one message may hold is split
into several where the platform allows it, at a paragraph, line
or word boundary and never inside a markup entity (C{<...>}, as Slack's
links and mentions); past C{max_parts} it is refused (L{too_long}), and
the sender is told through the router like any refused delivery.
"""

from __future__ import annotations

from .interfaces import DeliveryFailed

__all__ = ["split_text", "too_long"]

# Break preferences, best first; a break is looked for in the last quarter
# of a part so that no part is much shorter than the limit.
_BREAKS = ("\n\n", "\n", " ")


def _cut(text: str, limit: int, boundaries: bool) -> int:
    """
    Where to end the first part of C{text} (longer than C{limit}).
    """
    window = text[:limit]
    # Never inside an entity: cut before a "<" that is not closed yet.
    opened = window.rfind("<")
    if opened > window.rfind(">") and opened > 0:
        window = window[:opened]
    if boundaries:
        floor = len(window) * 3 // 4
        for mark in _BREAKS:
            at = window.rfind(mark, floor)
            if at > 0:
                return at + len(mark)
    return len(window)


def _split(text: str, limit: int, max_parts: int, boundaries: bool) -> list[str] | None:
    parts: list[str] = []
    while len(text) > limit:
        if len(parts) == max_parts:
            return None
        end = _cut(text, limit, boundaries)
        parts.append(text[:end])
        text = text[end:]
    parts.append(text)
    return parts if len(parts) <= max_parts else None


def split_text(text: str, limit: int, max_parts: int) -> list[str] | None:
    """
    C{text} in parts of at most C{limit} characters, in order; joined they
    are C{text} again. Parts end at boundaries when that fits in
    C{max_parts}, else as full as entities allow.

    @return: C{None} when more than C{max_parts} parts would be needed (the
        text is then refused).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    if len(text) > limit * max_parts:
        return None
    return _split(text, limit, max_parts, True) or _split(text, limit, max_parts, False)


def too_long(platform: str, length: int, limit: int, max_parts: int) -> DeliveryFailed:
    """
    The failure telling the sender their message is too long for
    C{platform} (its length and the limit, never its content).
    """
    most = limit * max_parts
    return DeliveryFailed(
        "policy-violation",
        f"the message is too long for {platform}: {length:,} characters, at most {most:,}",
    )
