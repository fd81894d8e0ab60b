"""Walking a Parley message schema (JSON Schema 2020-12) alongside the labels it needs.

Every other part of the formats package — validation messages, rendering, templates, exports
and the catalogue completeness test — needs the same two things from a schema: the resolved
subschema at a place in a body, and the catalogue key that names it. Keeping both here means
a field's label key is derived in exactly one way:

* a property ``P`` under type ``T`` is ``field.T.P``; nested properties extend the dotted path
  (``field.activity-notification.forces.ships``); array items share their array's path;
* anything reached through ``common.v1.json#/$defs/NAME`` starts again under ``common.NAME``
  (``field.common.position.lat``), so shared definitions are translated once;
* an enum value ``V`` at the same place is ``enum.<same path>.V``.

The ``kind`` of a node is the name of the common definition it came from (``position``,
``area``, ``utc_time``, ``free_text`` …); renderers and exporters dispatch on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

COMMON_REF = "common.v1.json#/$defs/"

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Node:
    """A subschema with the context its labels live in."""

    schema: Schema
    kind: str | None
    ctx: str
    parts: tuple[str, ...]
    description: str = ""

    @property
    def types(self) -> tuple[str, ...]:
        t = self.schema.get("type", ())
        return (t,) if isinstance(t, str) else tuple(t)

    @property
    def properties(self) -> Mapping[str, Schema]:
        props: Mapping[str, Schema] = self.schema.get("properties", {})
        return props

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.schema.get("required", ()))

    @property
    def enum(self) -> tuple[str, ...] | None:
        values = self.schema.get("enum")
        return tuple(values) if values is not None else None

    def enum_key(self, value: object) -> str:
        return "enum." + ".".join((self.ctx, *self.parts, str(value)))

    def field_key(self, prop: str) -> str:
        return "field." + ".".join((self.ctx, *self.parts, prop))

    def is_free_text(self) -> bool:
        """An object carrying ``text`` with the ``lang`` it is written in.

        Structural rather than by name, so that the ``general`` type (whose whole body is
        such an object, plus a subject) is treated like every ``free_text`` field.
        """
        props = self.properties
        lang = props.get("lang", {})
        return "text" in props and lang.get("$ref") == COMMON_REF + "lang_tag"


class SchemaWalker:
    """Resolves subschemas of one type's schema against the common definitions."""

    def __init__(self, type_name: str, schema: Schema, common: Schema) -> None:
        self.type_name = type_name
        self.root_schema = schema
        self.common = common

    @property
    def root(self) -> Node:
        return Node(self.root_schema, None, self.type_name, (), self.root_schema.get("description", ""))

    def resolve(self, schema: Schema, ctx: str, parts: tuple[str, ...]) -> Node:
        ref = schema.get("$ref")
        description = str(schema.get("description", ""))
        if isinstance(ref, str) and ref.startswith(COMMON_REF):
            name = ref[len(COMMON_REF) :]
            target: Schema = self.common["$defs"][name]
            return Node(target, name, "common", (name,), description or target.get("description", ""))
        if ref is not None:
            raise ValueError(f"{self.type_name}: unsupported $ref {ref!r}")
        return Node(schema, None, ctx, parts, description)

    def child(self, node: Node, prop: str) -> Node | None:
        sub = node.properties.get(prop)
        if sub is None:
            return None
        return self.resolve(sub, node.ctx, (*node.parts, prop))

    def items(self, node: Node) -> Node | None:
        sub = node.schema.get("items")
        if not isinstance(sub, Mapping):
            return None
        return self.resolve(sub, node.ctx, node.parts)

    def at(self, path: tuple[str | int, ...]) -> tuple[Node | None, str | None]:
        """The node at a body path, and the label key of the last property on the way."""
        node: Node | None = self.root
        key: str | None = None
        for part in path:
            if node is None:
                return None, key
            if isinstance(part, int) or ("array" in node.types and part.isdigit()):
                node = self.items(node)
            else:
                key = node.field_key(part)
                node = self.child(node, part)
        return node, key

    def catalogue_keys(self) -> Iterator[str]:
        """Every field label and enum value key this schema needs translated."""
        yield f"type.{self.type_name}"
        yield from self._keys(self.root)

    def _keys(self, node: Node) -> Iterator[str]:
        for value in node.enum or ():
            yield node.enum_key(value)
        for prop in node.properties:
            yield node.field_key(prop)
            sub = self.child(node, prop)
            if sub is not None:
                yield from self._keys(sub)
        items = self.items(node)
        if items is not None:
            yield from self._keys(items)

    def find(self, body: Any, kinds: tuple[str, ...]) -> Iterator[tuple[tuple[str | int, ...], Node, Any]]:
        """Every value in ``body`` whose schema is one of the common ``kinds``, in schema order.

        Used to find the positions and areas of a message for maps and alert exports.
        """
        yield from self._find(self.root, body, (), kinds)

    def _find(
        self, node: Node, value: Any, path: tuple[str | int, ...], kinds: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str | int, ...], Node, Any]]:
        if node.kind in kinds:
            yield path, node, value
            return
        if isinstance(value, Mapping):
            for prop in node.properties:
                child = self.child(node, prop)
                if prop in value and child is not None:
                    yield from self._find(child, value[prop], (*path, prop), kinds)
        elif isinstance(value, list):
            items = self.items(node)
            if items is not None:
                for i, item in enumerate(value):
                    yield from self._find(items, item, (*path, i), kinds)
