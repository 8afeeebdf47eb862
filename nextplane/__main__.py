"""
C{python -m nextplane COMMAND ...}: the C{nextplane} command
(L{nextplane.cli}), for environments without the console script.
"""

from nextplane.cli import main

raise SystemExit(main())
