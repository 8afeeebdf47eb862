"""
The hub's HTTP application (Klein): /healthz, and the mount points where
connectors attach their webhook routes and the admin API attaches its own.
"""
