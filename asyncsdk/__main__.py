"""``python -m asyncsdk``: the command line.

Imports: `asyncsdk.cli`.
"""

from asyncsdk.cli import main

raise SystemExit(main())
