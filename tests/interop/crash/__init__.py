"""
The crash suite (issue 16): kill -9 the hub under a mixed burst among real
peers and account for every message. See L{tests.interop.crash.test_crash}.
The outage suite runs in the same world through a minute of Slack Web API
faults; see L{tests.interop.crash.test_outage}.
"""
