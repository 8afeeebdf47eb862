"""
Interop tests against real XMPP and SIP servers from Debian packages.

These tests start Prosody, ejabberd (and later Kamailio, sipp, baresip) as
child processes in a private network namespace with a local DNS server.  Run
them with::

    scripts/install-interop-deps.sh      # once, as root
    scripts/in-netns .venv/bin/trial tests.interop

Outside C{scripts/in-netns} they are skipped (failed under C{CI=true}).
"""
