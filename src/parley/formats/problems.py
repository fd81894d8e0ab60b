"""Validation problems in the operator's language.

jsonschema's own messages are English sentences built from Python reprs ("'x' is a required
property"); operators read Norwegian, Russian or English. So each JSON Schema 2020-12
validator keyword that Parley's schemas use has its own catalogue message
(``validation.<keyword>``), filled with what was expected — the allowed enum values as
translated labels, the bound, the time format — and prefixed with the field's label.

Paths are JSON pointers (RFC 6901) into the body; a missing or unknown field is reported at
its own path (``/units/0/call_sign``), not at its parent's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaError

from parley.formats.catalogue import Catalogue
from parley.formats.texts import N, render
from parley.formats.walk import SchemaWalker

# A failed pattern says little to an operator; these patterns say what they are for.
_PATTERN_KINDS = {
    "utc_time": "validation.pattern.utc_time",
    "date": "validation.pattern.date",
    "lang_tag": "validation.pattern.lang_tag",
    "message_id": "validation.pattern.message_id",
    "party": "validation.pattern.party",
    "meeting_id": "validation.pattern.meeting_id",
    "item_id": "validation.pattern.item_id",
    "sha256": "validation.pattern.sha256",
}

_JSON_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")


def pointer(path: Iterable[str | int]) -> str:
    """The RFC 6901 JSON pointer of a body path; the whole body is ``/``."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else "/"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


class _Describer:
    def __init__(self, walker: SchemaWalker, cat: Catalogue) -> None:
        self.walker = walker
        self.cat = cat

    def label(self, path: Sequence[str | int]) -> str | None:
        node, key = self.walker.at(tuple(path))
        # An unknown field has no label: the path alone names it.
        return self.cat.get(key) if key and node is not None else None

    def problem(self, path: Sequence[str | int], text: str) -> tuple[list[str | int], str]:
        label = self.label(path)
        return list(path), f"{label}: {text}" if label else text

    def field_names(self, path: Sequence[str | int], names: Sequence[str]) -> str:
        """Fields named by their labels in the reader's language (the JSON key if none)."""
        return ", ".join(self.label([*path, name]) or name for name in names)

    def typename(self, name: str) -> str:
        return self.cat.get(f"validation.typename.{name}") if name in _JSON_TYPES else name

    def enum_values(self, path: Sequence[str | int], values: Sequence[object]) -> str:
        # Show the wire value an operator must type, with its label in their language.
        node, _ = self.walker.at(tuple(path))
        shown = []
        for v in values:
            key = node.enum_key(v) if node is not None else None
            if key and self.cat.has(key):
                shown.append(f"{v} ({self.cat.get(key)})")
            else:
                shown.append(str(v))
        return ", ".join(shown)

    def pattern_kind(self, error: SchemaError) -> str | None:
        # The resolved subschema is one of the common definitions: find which by its pattern.
        for name, key in _PATTERN_KINDS.items():
            target = self.walker.common["$defs"].get(name, {})
            if target.get("pattern") == error.validator_value:
                return key
        return None

    def describe(self, error: SchemaError) -> list[tuple[list[str | int], str]]:
        cat = self.cat
        path = list(error.absolute_path)
        keyword = str(error.validator)
        value: Any = error.validator_value
        instance: Any = error.instance
        schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
        if keyword == "required":
            have = instance if isinstance(instance, Mapping) else {}
            return [self.problem([*path, p], cat.get("validation.required")) for p in value if p not in have]
        if keyword == "additionalProperties":
            known = schema.get("properties", {})
            return [
                self.problem([*path, p], cat.get("validation.additionalProperties"))
                for p in instance
                if p not in known
            ]
        if keyword == "anyOf" and all(set(b) == {"required"} for b in value):
            fields = self.field_names(path, [f for branch in value for f in branch["required"]])
            return [self.problem(path, cat.get("validation.any_of_required", fields=fields))]
        if keyword in ("minProperties", "maxProperties"):
            fields = self.field_names(path, list(schema.get("properties", {})))
            key = f"validation.{keyword}"
            return [self.problem(path, cat.get(key, limit=value, fields=fields))]
        if keyword == "type":
            expected = value if isinstance(value, list) else [value]
            text = cat.get(
                "validation.type",
                expected=cat.get("validation.or").join(self.typename(t) for t in expected),
                actual=self.typename(_json_type(instance)),
            )
            return [self.problem(path, text)]
        if keyword == "enum":
            allowed = self.enum_values(path, value)
            return [self.problem(path, cat.get("validation.enum", allowed=allowed))]
        if keyword == "pattern":
            kind = self.pattern_kind(error)
            text = cat.get(kind) if kind else cat.get("validation.pattern", pattern=value)
            return [self.problem(path, text)]
        if keyword == "format":
            return [self.problem(path, cat.get(f"validation.format.{value}"))]
        if keyword in (
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "minLength",
            "maxLength",
        ):
            return [self.problem(path, cat.get(f"validation.{keyword}", limit=value))]
        if keyword in ("minItems", "maxItems"):
            count = int(value)
            if keyword == "minItems":
                bound = N("needs at least {n} entry", "needs at least {n} entries", count)
            else:
                bound = N("may have at most {n} entry", "may have at most {n} entries", count)
            return [self.problem(path, render(bound, cat.lang))]
        if keyword == "uniqueItems":
            return [self.problem(path, cat.get("validation.uniqueItems"))]
        return [self.problem(path, cat.get("validation.other", keyword=keyword))]


def _path_key(path: Sequence[str | int]) -> list[tuple[int, int | str]]:
    # Sorted by path: array indexes numerically, and a parent before its children.
    return [(0, p) if isinstance(p, int) else (1, p) for p in path]


def describe_errors(
    errors: Iterable[SchemaError], walker: SchemaWalker, cat: Catalogue
) -> list[tuple[str, str]]:
    """Every problem once, sorted by path, each as ``(json_pointer, translated message)``."""
    describer = _Describer(walker, cat)
    found: list[tuple[list[str | int], str, str]] = []
    for error in errors:
        for path, text in describer.describe(error):
            found.append((path, str(error.validator), text))
    # A time that fails its pattern also fails its format check: say it once.
    patterned = {pointer(path) for path, keyword, _ in found if keyword == "pattern"}
    problems: list[tuple[str, str]] = []
    for path, keyword, text in sorted(found, key=lambda f: _path_key(f[0])):
        problem = (pointer(path), text)
        if keyword == "format" and problem[0] in patterned:
            continue
        if problem not in problems:
            problems.append(problem)
    return problems
