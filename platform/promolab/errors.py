"""Errors meant for people: each names the thing, the value and what was expected."""

from __future__ import annotations


class PromolabError(Exception):
    """Base class for every error promolab reports to a user (CLI exit code 2)."""


class InputError(PromolabError, ValueError):
    """Bad input: a field, its value, and what was expected.

    ``InputError("alpha", 1.5, "a number in (0, 1)")`` reads
    ``alpha: got 1.5, expected a number in (0, 1)``.
    """

    def __init__(self, field: str, value: object, expected: str, *, source: str | None = None):
        if type(value).__module__ == "numpy" and hasattr(value, "item"):
            value = value.item()  # show 1.5, not np.float64(1.5)
        self.field = field
        self.value = value
        self.expected = expected
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{field}: got {value!r}, expected {expected}")

    def __reduce__(self):  # pickled by its fields: it crosses to and from worker processes
        return _input_error, (type(self), self.field, self.value, self.expected, self.source)


def _input_error(cls: type[InputError], field: str, value: object, expected: str, source: str | None) -> InputError:
    return cls(field, value, expected, source=source)


class SpecError(PromolabError, ValueError):
    """One or more problems in an experiment spec; one line per problem."""

    def __init__(self, problems: list[InputError]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def __reduce__(self):
        return type(self), (self.problems,)


class StateError(PromolabError):
    """An operation not allowed in the current state (e.g. an illegal status change)."""
