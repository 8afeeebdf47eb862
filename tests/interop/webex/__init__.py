"""Webex end to end inside the interop network namespace."""
