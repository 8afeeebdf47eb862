"""
twistd plugin for the nextplane hub; the work happens in L{nextplane.tap}.
"""

from twisted.application.service import ServiceMaker

nextplane = ServiceMaker(
    "nextplane", "nextplane.tap", "Universal messaging interoperability hub.", "nextplane"
)
