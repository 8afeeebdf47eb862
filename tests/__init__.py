"""
Tests for nextplane.

The Hypothesis profile set here keeps property tests reproducible and
independent of machine load: no per-example deadline, no "too slow" health
check, and under C{CI=true} a fixed seed (derandomised), so a CI run never
fails on timing or on a new random draw.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "nextplane",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("CI", "").lower() == "true",
)
settings.load_profile("nextplane")
