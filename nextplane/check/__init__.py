"""
C{nextplane check}: diagnosing a configuration against the world (its
certificates, DNS, partners and platform credentials), and the certificate
inspection start-up validation shares with it.
"""
