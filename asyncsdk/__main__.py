"""``python -m asyncsdk``: the command line."""

from asyncsdk.cli import main

raise SystemExit(main())
