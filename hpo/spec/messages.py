"""Spec errors from pydantic errors: one line that names the key path and what was expected.

Every check of a spec (its sections, ``train:`` through the trainer's schema, the corners
of the space) ends in a :class:`~hpo.errors.SpecError` built here, so all of them name
keys the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from hpo.contract import did_you_mean
from hpo.errors import SpecError


def validation_error(source: str, prefix: str, exc: pydantic.ValidationError) -> SpecError:
    """Turn the first error of :func:`hpo.contract.validate_strict` into a SpecError naming its key."""
    error = exc.errors()[0]
    return SpecError(source, join_path(prefix, *error["loc"]), error_message(error))


def join_path(*parts: object) -> str:
    return ".".join(str(p) for p in parts if p != "")


def error_message(error: Mapping[str, Any]) -> str:
    """The words of one pydantic error, with the value it got where that helps."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "missing required key"
    if kind == "union_tag_invalid":
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        return did_you_mean(str(ctx.get("tag")), expected, str(ctx.get("discriminator", "type")).strip("'"))
    if kind == "union_tag_not_found":
        return f"missing required key {ctx.get('discriminator', 'type')!s}"
    message = error["msg"]
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.startswith(("greater", "less", "int_", "float_", "bool_", "string_", "literal", "dict_", "list_", "too_", "multiple")):
        message = f"{message} (got {error.get('input')!r})"
    return message


def param_for(where: str, assignment: dict[str, Any]) -> str:
    """The searched path that the failing config location lies in (or the last one)."""
    matches = [p for p in assignment if where == p or where.startswith(p + ".") or p.startswith(where + ".")]
    return max(matches, key=len) if matches else next(reversed(assignment))
