# -*- test-case-name: tests.test_profiles -*-
"""
What the hub shows of a person beyond their address: name, job title and
picture, whichever protocol or platform it came from (vCard-temp for XMPP,
platform user info for platforms).
"""

from __future__ import annotations

from attrs import frozen

__all__ = ["Profile"]


@frozen
class Profile:
    """
    A person's profile, as far as the hub cares.

    @ivar display_name: The name to show.
    @ivar title: A job title.
    @ivar avatar_url: An C{http}/C{https} URL of a picture.
    """

    display_name: str | None = None
    title: str | None = None
    avatar_url: str | None = None
