"""
The crash suite (issue 16): kill -9 the hub under a mixed burst among real
peers and account for every message. See L{tests.interop.crash.test_crash}.
"""
