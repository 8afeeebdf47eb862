"""
Test doubles shipped with the hub, for its own tests, interop tests and
benchmarks (and for connector authors): recording connectors and helpers.
"""
