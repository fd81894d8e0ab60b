"""The registry of message types and their JSON Schema 2020-12 schemas.

Each message type has one schema file per version, ``schemas/<type>.v<N>.json``; shared
definitions live in ``schemas/common.v1.json`` and are referenced by relative ``$ref``,
resolved through a :mod:`referencing` registry keyed by each file's ``$id``.

Versioning rule: a schema file never changes once released. A new field, a new enum value
or a tighter bound is a new version and a new file; the old file stays, because a signed
message must verify and validate against the version it names forever.

:func:`validate_body` collects every problem (``iter_errors``), not only the first, and
reports each at its JSON pointer (``/units/0/call_sign``) in the operator's language.

Two validators, one verdict. Every sent and received envelope's body is checked, so the
check is first made by a compiled validator (``jsonschema-rs``, about 100× faster than the
reference on these schemas); only a body it refuses goes to the reference validator
(``jsonschema``), whose errors carry what the operator is told. Where the two disagree, the
reference wins; tests/formats/test_compiled_validator.py proves they agree on every
published example and on hypothesis-made mutations of them.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from parley.errors import NotFoundError, UsageError, ValidationError
from parley.formats.catalogue import load_catalogue
from parley.formats.problems import describe_errors
from parley.formats.texts import T
from parley.formats.walk import SchemaWalker

SCHEMA_DIR = Path(__file__).parent / "schemas"
COMMON = "common"
_FILE = re.compile(r"^(?P<type>[a-z][a-z0-9-]*)\.v(?P<version>[1-9][0-9]*)\.json$")


@dataclass(frozen=True)
class TypeInfo:
    """A message type as the registry knows it."""

    name: str
    versions: tuple[int, ...]
    title: str
    description: str

    @property
    def latest(self) -> int:
        return self.versions[-1]


@dataclass(frozen=True)
class _Store:
    schemas: dict[tuple[str, int], dict[str, Any]]
    registry: Registry[Any]


@functools.cache
def _store() -> _Store:
    schemas: dict[tuple[str, int], dict[str, Any]] = {}
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        m = _FILE.match(path.name)
        if m is None:
            raise RuntimeError(f"schema file {path.name} is not named <type>.v<N>.json")
        schema = json.loads(path.read_text(encoding="utf-8"))
        schemas[m["type"], int(m["version"])] = schema
        resources.append((schema["$id"], Resource.from_contents(schema, DRAFT202012)))
    return _Store(schemas, Registry().with_resources(resources))


def _check_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _format_checker() -> FormatChecker:
    # jsonschema checks "date-time" only when an optional package is installed; the pattern
    # in common.v1.json always holds the shape, and these catch impossible dates (30 Feb).
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_check_date_time)
    checker.checks("date")(_check_date)
    return checker


def list_types() -> list[TypeInfo]:
    """Every message type (not the common definitions), by name."""
    versions: dict[str, list[int]] = {}
    for name, version in _store().schemas:
        if name != COMMON:
            versions.setdefault(name, []).append(version)
    out = []
    for name in sorted(versions):
        vs = tuple(sorted(versions[name]))
        latest = _store().schemas[name, vs[-1]]
        out.append(TypeInfo(name, vs, latest["title"], latest["description"]))
    return out


def _type_info(type_name: str) -> TypeInfo:
    for info in list_types():
        if info.name == type_name:
            return info
    known = ", ".join(t.name for t in list_types())
    raise NotFoundError(
        T("unknown message type {type_name!r}", type_name=type_name),
        hint=T("known types: {known}", known=known),
    )


def latest_version(type_name: str) -> int:
    return _type_info(type_name).latest


def _schema(type_name: str, version: int | None) -> tuple[int, dict[str, Any]]:
    info = _type_info(type_name)
    if version is None:
        version = info.latest
    if isinstance(version, bool) or not isinstance(version, int):
        raise UsageError(T("schema version must be a whole number, not {version!r}", version=version))
    if version not in info.versions:
        have = ", ".join(str(v) for v in info.versions)
        raise NotFoundError(
            T("message type {type_name!r} has no version {version}", type_name=type_name, version=version),
            hint=T("versions: {have}", have=have),
        )
    return version, _store().schemas[type_name, version]


def get_schema(type_name: str, version: int | None = None) -> dict[str, Any]:
    """A copy of the schema of ``type_name`` at ``version`` (default: the latest)."""
    return copy.deepcopy(_schema(type_name, version)[1])


def common_schema() -> dict[str, Any]:
    """A copy of the shared definitions every type schema refers to."""
    return copy.deepcopy(_store().schemas[COMMON, 1])


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file, keyed by file name, as published (for export)."""
    return {f"{t}.v{v}.json": copy.deepcopy(s) for (t, v), s in sorted(_store().schemas.items())}


def walker(type_name: str, version: int | None = None) -> SchemaWalker:
    """A walker over the schema of ``type_name`` (shared, do not mutate its schemas)."""
    _, schema = _schema(type_name, version)
    return SchemaWalker(type_name, schema, _store().schemas[COMMON, 1])


@functools.cache
def _validator(type_name: str, version: int) -> Draft202012Validator:
    schema = _store().schemas[type_name, version]
    return Draft202012Validator(schema, registry=_store().registry, format_checker=_format_checker())


@functools.cache
def _compiled_registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(s["$id"], s) for s in _store().schemas.values()])


@functools.cache
def _compiled(type_name: str, version: int) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(
        _store().schemas[type_name, version],
        registry=_compiled_registry(),
        formats={"date-time": _check_date_time, "date": _check_date},
        validate_formats=True,
    )


def compiled_verdict(type_name: str, version: int, body: Any) -> bool | None:
    """The compiled validator's verdict on ``body``; None where it cannot take the value
    (an integer beyond 64 bits, say), which leaves the verdict to the reference."""
    try:
        return bool(_compiled(type_name, version).is_valid(body))
    except (ValueError, OverflowError, TypeError):
        return None


def reference_verdict(type_name: str, version: int, body: Any) -> bool:
    return next(iter(_validator(type_name, version).iter_errors(body)), None) is None


def validate_body(type_name: str, version: int | None, body: Any, lang: str = "en") -> None:
    """Raise :class:`ValidationError` listing every problem of ``body``, or return None.

    Problems are ``(json_pointer, message)`` pairs, the message in ``lang`` and naming the
    field by its label and what is expected there.
    """
    version, _ = _schema(type_name, version)
    if compiled_verdict(type_name, version, body):
        return
    cat = load_catalogue(lang)
    errors = list(_validator(type_name, version).iter_errors(body))
    if not errors:
        return
    problems = describe_errors(errors, walker(type_name, version), cat)
    raise ValidationError(
        cat.get(
            "validation.headline",
            type=cat.get(f"type.{type_name}"),
            version=version,
            count=len(problems),
        ),
        problems,
        hint=cat.get("validation.hint", type=type_name),
    )
