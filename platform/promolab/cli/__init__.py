"""The ``promolab`` command. Each command module registers itself on ``app`` when the
command table (``promolab.cli.app.COMMANDS``) first needs it."""

from __future__ import annotations

import sys

from promolab.cli.app import app, run


def main() -> None:
    sys.exit(run(sys.argv[1:]))


__all__ = ["app", "main", "run"]
