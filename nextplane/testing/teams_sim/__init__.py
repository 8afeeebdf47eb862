"""
A local Microsoft Teams for tests and benchmarks: the Bot Framework
channel's signing keys and OpenID metadata, the token endpoint, the
Connector REST API checked against the published spec, Teams' rate
limits, and signed activity deliveries to the hub.
"""
