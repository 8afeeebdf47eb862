"""
Connectors: one per protocol or platform, each implementing
L{nextplane.interfaces.IConnector}. L{nextplane.connectors.registry} lists
the ones this build offers.
"""
