"""Body templates to fill in: commented TOML generated from each type's schema.

Operators compose bodies in a text editor; TOML (parsed with the standard library's
``tomllib``) is easier to write by hand than JSON and allows comments, so each field is
explained in the operator's language: its label, whether it is required, the allowed enum
values with their labels, and the expected form.

The output is TOML 1.0. A text value to fill in is a placeholder string in angle brackets
(``"<UTC time, …>"``); a number, whole number or true/false is written as the TOML float
``nan``, with its hint in a comment on the same line, so that the person replaces a number
with a number: a quoted placeholder filled in place kept its quotes and was refused as text
(``"12.5" is not of type number``). Neither placeholder may be sent: ``unfilled_fields``
names every one still in a body (``parley send`` refuses them field by field, one a line),
instead of the body carrying invented content.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from parley.formats.catalogue import Catalogue, available_languages, load_catalogue
from parley.formats.registry import latest_version
from parley.formats.registry import walker as schema_walker
from parley.formats.walk import Node, SchemaWalker

# Common definitions with a hint of their own; other values are hinted by JSON type.
_HINTED_KINDS = (
    "utc_time",
    "date",
    "count",
    "message_id",
    "party",
    "meeting_id",
    "item_id",
    "sha256",
    "lang_tag",
)


def _toml_string(text: str) -> str:
    # JSON string escapes (\", \\, \n, \uXXXX) are all valid in a TOML basic string.
    return json.dumps(text, ensure_ascii=False)


# JSON types written as ``nan``: TOML has no placeholder of these types that a schema refuses.
_NAN_TYPES = ("number", "integer", "boolean")
NAN_PLACEHOLDER = "nan"


class _Writer:
    def __init__(self, walker: SchemaWalker, cat: Catalogue) -> None:
        self.walker = walker
        self.cat = cat
        self.lines: list[str] = []
        self.trailing: list[str] = []  # hints of the nan placeholders on the line being written

    def placeholder(self, node: Node, prop: str) -> str:
        cat = self.cat
        if node.enum is not None:
            hint = cat.get("template.hint.enum")
        elif node.kind in _HINTED_KINDS:
            hint = cat.get(f"template.hint.{node.kind}")
        elif node.ctx == "common" and node.parts in (("position", "lat"), ("position", "lon")):
            hint = cat.get(f"template.hint.{prop}")
        else:
            kind = node.types[0] if node.types else "string"
            hint = cat.get(f"template.hint.{kind}")
        if node.enum is None and any(t in _NAN_TYPES for t in node.types) and "string" not in node.types:
            self.trailing.append(hint)
            return NAN_PLACEHOLDER
        return _toml_string(f"<{hint}>")

    def inline(self, node: Node, prop: str) -> str | None:
        """The value of ``prop`` written on one line, or None if it needs a table."""
        if node.kind == "lang_tag":
            return _toml_string(self.cat.lang)
        if node.kind == "position" or node.is_free_text():
            parts = []
            for sub in node.properties:
                child = self.walker.child(node, sub)
                if child is not None:
                    parts.append(f"{sub} = {self.inline(child, sub)}")
            return "{ " + ", ".join(parts) + " }"
        if "array" in node.types:
            items = self.walker.items(node)
            if items is None or ("object" in items.types and items.kind != "position"):
                return None
            return f"[{self.inline(items, prop)}]"
        if "object" in node.types:
            return None
        return self.placeholder(node, prop)

    def comment(self, parent: Node, prop: str, node: Node) -> None:
        cat = self.cat
        need = cat.get("template.required" if prop in parent.required else "template.optional")
        self.lines.append(f"# {cat.get(parent.field_key(prop))} ({need})")
        enum_node = node
        if "array" in node.types:
            items = self.walker.items(node)
            enum_node = items if items is not None else node
            if "object" in enum_node.types and enum_node.kind is None:
                self.lines.append(f"# {cat.get('template.list')}")
        if enum_node.enum is not None:
            self.lines.append(f"# {cat.get('template.allowed')}:")
            for value in enum_node.enum:
                self.lines.append(f"#   {value} = {cat.get(enum_node.enum_key(value))}")
        self.object_notes(enum_node)

    def object_notes(self, node: Node) -> None:
        schema = node.schema
        fields = ", ".join(node.properties)
        if schema.get("maxProperties") == 1:
            self.lines.append(f"# {self.cat.get('template.one_of', fields=fields)}")
        elif schema.get("minProperties") == 1:
            self.lines.append(f"# {self.cat.get('template.at_least_one', fields=fields)}")
        branches = schema.get("anyOf", ())
        if branches and all(set(b) == {"required"} for b in branches):
            either = ", ".join(f for b in branches for f in b["required"])
            self.lines.append(f"# {self.cat.get('template.at_least_one', fields=either)}")

    def table(self, node: Node, path: list[str]) -> None:
        tables: list[tuple[str, Node]] = []
        for prop in node.properties:
            child = self.walker.child(node, prop)
            if child is None:
                continue
            value = self.inline(child, prop)
            if value is None:
                self.trailing.clear()
                tables.append((prop, child))
                continue
            self.comment(node, prop, child)
            hints = f"  # {'; '.join(self.trailing)}" if self.trailing else ""
            self.trailing.clear()
            self.lines.append(f"{prop} = {value}{hints}")
        # TOML needs a table's own keys before its subtables: tables come last.
        for prop, child in tables:
            self.lines.append("")
            self.comment(node, prop, child)
            dotted = ".".join([*path, prop])
            items = self.walker.items(child) if "array" in child.types else None
            if items is not None:
                self.lines.append(f"[[{dotted}]]")
                self.table(items, [*path, prop])
            else:
                self.lines.append(f"[{dotted}]")
                self.table(child, [*path, prop])


def template(type_name: str, lang: str, version: int | None = None) -> str:
    """A commented TOML body of ``type_name`` for an operator writing in ``lang``."""
    cat = load_catalogue(lang)
    walker = schema_walker(type_name, version)
    number = version if version is not None else latest_version(type_name)
    w = _Writer(walker, cat)
    header = cat.get("template.header", type=cat.get(f"type.{type_name}"), version=number)
    w.lines += [f"# {header}", f"# {cat.get('template.instructions')}"]
    w.lines += [f"# {cat.get('cli.tool.template.nan')}", ""]
    w.object_notes(walker.root)
    w.table(walker.root, [])
    return "\n".join(w.lines) + "\n"


@functools.cache
def _placeholder_strings() -> frozenset[str]:
    """Every text placeholder a template writes, in every language it is written in."""
    out = set()
    for lang in available_languages():
        cat = load_catalogue(lang)
        hints = [text for key, text in cat.messages.items() if key.split(".")[:2] == ["template", "hint"]]
        out |= {f"<{text}>" for text in hints}
    return frozenset(out)


def unfilled_fields(body: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, what to do) for every template placeholder or non-finite number left in ``body``.

    A text placeholder can pass its schema (``"<text>"`` is a string) and ``nan`` passes
    ``type: number`` (no comparison with it is false), so they are looked for here."""
    if isinstance(body, float) and not math.isfinite(body):
        if math.isnan(body):
            what = "still the template's nan: write a number (or true or false) without quotes"
            return [(path or "/", f"{what}, or delete the field")]
        return [(path or "/", "not a finite number (inf cannot be signed): write an ordinary number")]
    if isinstance(body, str) and body in _placeholder_strings():
        return [(path or "/", f"still the template's placeholder {body}: fill it in, or delete the field")]
    items = body.items() if isinstance(body, dict) else enumerate(body) if isinstance(body, list) else ()
    found: list[tuple[str, str]] = []
    for key, child in items:
        found += unfilled_fields(child, f"{path}/{key}")
    return found
