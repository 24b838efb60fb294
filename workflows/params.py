"""Parameters a node kind declares: type, bounds, default and help, as model types do.

``param_problems`` checks a node's params against the declaration and ``params_clean``
fills in the defaults; both are pure and used by validation and the engine alike.
"""

import math
from dataclasses import dataclass
from typing import Any

TYPE_NAMES = {float: "a number", int: "a whole number", bool: "true or false", str: "a string"}
TYPE_NAMES.update({dict: "an object", list: "a list"})


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # float, int, bool, str, dict or list
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False  # None is allowed (and means what ``help`` says)
    required: bool = False  # no default: the document must give it

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this param, or None."""
        if value is None:
            return None if self.nullable else f"{self.name} must be {TYPE_NAMES[self.type]}."
        if self.type in (float, int):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{self.name} must be {TYPE_NAMES[self.type]}."
            if isinstance(value, float) and not math.isfinite(value):
                return f"{self.name} must be a finite number."
            if self.type is int and int(value) != value:
                return f"{self.name} must be a whole number."
            too_low = self.minimum is not None and value < self.minimum
            too_high = self.maximum is not None and value > self.maximum
            if too_low or too_high:
                return f"{self.name} must be between {self.minimum} and {self.maximum}."
            return None
        if not isinstance(value, self.type) or (self.type is not bool and isinstance(value, bool)):
            return f"{self.name} must be {TYPE_NAMES[self.type]}."
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}."
        return None

    def describe(self) -> dict:
        """The param as the API lists it."""
        out = {"name": self.name, "type": self.type.__name__, "default": self.default}
        out["help"] = self.help
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.choices:
            out["choices"] = list(self.choices)
        if self.nullable:
            out["nullable"] = True
        if self.required:
            out["required"] = True
        return out


def param_problems(declared: tuple[Param, ...], params: dict) -> list[tuple[str, str]]:
    """(param name, message) for each unknown, missing or ill-typed/out-of-bounds param."""
    known = {p.name: p for p in declared}
    problems = [(name, f"unknown param {name!r}.") for name in params if name not in known]
    for p in declared:
        if p.name not in params:
            if p.required:
                problems.append((p.name, f"{p.name} is required: {p.help}"))
            continue
        message = p.problem(params[p.name])
        if message:
            problems.append((p.name, message))
    return problems


def params_clean(declared: tuple[Param, ...], params: dict) -> dict:
    """The params with defaults filled in (numbers cast to the declared type). Call only on
    params ``param_problems`` found nothing wrong with."""
    cleaned = {p.name: p.default for p in declared}
    for p in declared:
        if p.name in params:
            value = params[p.name]
            cleaned[p.name] = (
                p.type(value) if p.type in (float, int) and value is not None else value
            )
    return cleaned
