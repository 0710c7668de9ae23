"""What ``--help`` shows beside each parameter, set once for every command.

Typer (0.29) prints each parameter's Python type in the rich help: ``--json <bool>``,
``--help <bool>``, ``--metric <list[str]>``, ``file <path>``. :func:`install` (called by
``promolab.cli.app``) replaces that with what a reader needs:

- a flag (``--json``, ``--cuped/--no-cuped``, ``--help``) shows nothing after its name;
- an option shows its ``metavar=`` when its declaration gives one (``--metric COL:kind...``),
  else one derived from its type and name: ``a|b`` for a choice, ``PATH`` for a path, ``N``
  for an integer, ``NUMBER`` for a float, else the option's name in capitals (``--kind KIND``);
  a repeatable option adds ``...``;
- an argument shows its name in capitals (``FILE``, ``FILES...``), in the usage line too, and
  no type.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, get_args, get_origin

from typer import core

_INSTALLED = "_promolab_help"


def _base_metavar(annotation: Any, name: str) -> str:
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "PATH"
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    if annotation in (datetime.datetime, datetime.date):
        return "TIME"
    return name.upper()


def option_metavar(param: Any) -> str | None:
    """The word shown after an option in ``--help``; None for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if param.metavar is not None:
        return param.metavar
    name = (param.name or "value").strip("_")
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return name.upper()
    annotation = desc.annotation
    repeatable = desc.is_list or bool(getattr(param, "multiple", False))
    if desc.is_choice:
        word = "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    elif desc.is_path:
        word = "PATH"
    elif desc.is_tuple:
        word = " ".join(_base_metavar(a, name) for a in get_args(annotation))
    else:
        inner = get_args(annotation)[0] if get_origin(annotation) is list and get_args(annotation) else annotation
        word = _base_metavar(inner, name)
    return f"{word}..." if repeatable else word


def _option_display(self: Any, ctx: Any) -> str | None:
    return option_metavar(self)


def _argument_display(self: Any, ctx: Any) -> str | None:
    return None  # the name column already shows the argument's name (its metavar)


def _argument_name(self: Any) -> str:
    return self.metavar if self.metavar is not None else (self.name or "arg").strip("_").upper()


def install() -> None:
    """Replace Typer's type names in the help of every promolab command (idempotent)."""
    if getattr(core, _INSTALLED, False):
        return
    if hasattr(core.TyperOption, "display_type_rich"):
        core.TyperOption.display_type_rich = _option_display  # type: ignore[method-assign]
        core.TyperArgument.display_type_rich = _argument_display  # type: ignore[method-assign]
        core.TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment]
    setattr(core, _INSTALLED, True)
