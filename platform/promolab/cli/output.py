"""Printing results: JSON for machines (``promolab.jsonable``), rich tables for people."""

from __future__ import annotations

from typing import Any

from promolab.cli.app import console
from promolab.jsonable import to_json


def print_json(data: Any) -> None:
    console.print_json(to_json(data)) if console.is_terminal else print(to_json(data))
