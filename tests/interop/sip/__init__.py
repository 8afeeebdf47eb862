"""
The hub federating over SIP with real peers: Kamailio 5.6 relaying over
mutual TLS (with sipp behind it), baresip over TLS, and raw TLS clients.
"""
