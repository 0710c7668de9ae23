"""The ``promolab`` command. Each command module registers itself on ``app``."""

from __future__ import annotations

import sys

from promolab.cli.app import app, run

# Command modules: importing them registers their commands on ``app``.
from promolab.cli import commands  # noqa: E402,F401


def main() -> None:
    sys.exit(run(sys.argv[1:]))


__all__ = ["app", "main", "run"]
