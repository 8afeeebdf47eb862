"""
The admin portal in a real headless Chromium (Debian's, driven by
Playwright for Python): C{make browser}, part of C{make test}.
"""
