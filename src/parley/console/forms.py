"""Compose forms generated from the message schemas (JSON Schema 2020-12).

The form is the schema walked with :class:`parley.formats.walk.SchemaWalker`: every input
is named by the JSON pointer (RFC 6901) of the body field it fills (``/units/0/call_sign``),
so a validation problem reported at a pointer lands at its own input, and posting the form
back rebuilds the body without a second description of each message type. Labels and enum
values come from the same catalogue keys the renderer uses.

Values are converted only as far as the browser cannot (numbers with a decimal comma, UTC
times from ``datetime-local`` inputs, lines of corners for an area, positions typed as shown
in degrees and minutes or in decimal degrees, see :mod:`parley.formats.geo`); anything else
that does not convert is passed on as typed, so the schema itself says what is wrong, in the
operator's language. Numeric labels carry their unit (``Speed (kn)``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from parley.formats.catalogue import Catalogue
from parley.formats.geo import PositionSyntaxError, looks_like_position, parse_coordinate, parse_position
from parley.formats.problems import pointer
from parley.formats.registry import walker as schema_walker
from parley.formats.units import field_unit, unit_symbol
from parley.formats.walk import Node, SchemaWalker

LANGUAGES = ("nb", "ru", "en")
MAX_ITEMS_SHOWN = 50
_INT = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_LOCAL_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(\.\d{1,6})?)?$")
_HINT_KINDS = ("party", "meeting_id", "item_id", "message_id", "sha256", "count")

FormData = Mapping[str, list[str]]


@dataclass
class Field:
    """One input, or a group of them, of a generated form."""

    # text, number, integer, select, datetime, date, textarea, lines (one value a line),
    # checkboxes, position, area, group (an object) or list (an array of objects)
    widget: str
    name: str  # JSON pointer of the body field
    label: str
    required: bool = False
    value: str = ""
    values: list[str] = field(default_factory=list)  # checkboxes
    options: list[tuple[str, str]] = field(default_factory=list)
    hint: str = ""
    error: str = ""
    minimum: float | None = None
    maximum: float | None = None
    children: list[Field] = field(default_factory=list)
    free_text: bool = False

    @property
    def dom_id(self) -> str:
        return "f" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)

    def walk(self) -> Iterator[Field]:
        yield self
        for c in self.children:
            yield from c.walk()


def _first(form: FormData, name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


class FormBuilder:
    """Builds the field tree of one message type and parses posted forms back into bodies."""

    def __init__(self, type_name: str, cat: Catalogue, version: int | None = None) -> None:
        self.type_name = type_name
        self.cat = cat
        self.walker: SchemaWalker = schema_walker(type_name, version)

    # --- building ------------------------------------------------------------------------
    def fields(self, form: FormData, problems: Mapping[str, str], default_lang: str) -> list[Field]:
        root = self.walker.root
        return list(self._object_children(root, (), form, problems, default_lang))

    def _label(self, parent: Node, prop: str) -> str:
        return self.cat.get(parent.field_key(prop))

    def _object_children(
        self,
        node: Node,
        path: tuple[str | int, ...],
        form: FormData,
        problems: Mapping[str, str],
        lang: str,
    ) -> Iterator[Field]:
        for prop in node.properties:
            child = self.walker.child(node, prop)
            if child is None:
                continue
            yield self._field(
                child,
                (*path, prop),
                self._label(node, prop),
                prop in node.required,
                form,
                problems,
                lang,
                in_free_text=node.is_free_text(),
            )

    def _field(
        self,
        node: Node,
        path: tuple[str | int, ...],
        label: str,
        required: bool,
        form: FormData,
        problems: Mapping[str, str],
        lang: str,
        *,
        in_free_text: bool = False,
    ) -> Field:
        name = pointer(path)
        f = Field("text", name, label, required, error=problems.get(name, ""))
        f.value = _first(form, name)
        kind = node.kind
        types = node.types
        if kind in _HINT_KINDS:
            f.hint = self.cat.get(f"template.hint.{kind}")
        if kind == "position":
            f.widget = "position"
            f.children = [
                self._leaf(
                    self.walker.child(node, c),
                    (*path, c),
                    self._label(node, c),
                    True,
                    form,
                    problems,
                )
                for c in ("lat", "lon")
            ]
            for c in f.children:
                # Typed as shown (71°31.2′N) as well as in decimal degrees: a text input.
                c.widget, c.minimum, c.maximum = "text", None, None
                c.hint = self.cat.get(f"console.compose.position.hint_{c.name.rsplit('/', 1)[-1]}")
            return f
        if kind == "area":
            f.widget = "area"
            f.hint = self.cat.get("console.compose.area_hint")
            f.value = _first(form, pointer((*path, "polygon")))
            f.error = problems.get(pointer((*path, "polygon")), "") or f.error
            return f
        if "object" in types and node.properties:
            f.widget = "group"
            f.free_text = node.is_free_text()
            f.children = list(self._object_children(node, path, form, problems, lang))
            return f
        if "array" in types:
            return self._array(f, node, path, form, problems, lang)
        return self._leaf(node, path, label, required, form, problems, in_free_text=in_free_text, lang=lang)

    def _leaf(
        self,
        node: Node | None,
        path: tuple[str | int, ...],
        label: str,
        required: bool,
        form: FormData,
        problems: Mapping[str, str],
        *,
        in_free_text: bool = False,
        lang: str = "en",
    ) -> Field:
        name = pointer(path)
        f = Field("text", name, label, required, value=_first(form, name), error=problems.get(name, ""))
        if node is None:
            return f
        types = node.types
        if node.enum is not None:
            f.widget = "select"
            f.options = [(str(v), self.cat.get(node.enum_key(v))) for v in node.enum]
        elif node.kind == "lang_tag":
            f.widget = "select"
            f.options = [(code, self.cat.get(f"console.lang.{code}")) for code in LANGUAGES]
            f.value = f.value or lang
        elif node.kind == "utc_time":
            f.widget = "datetime"
            m = _LOCAL_TIME.match(f.value.rstrip("Z"))
            if m:  # a posted value in wire form goes back into the datetime-local input
                f.value = f"{m[1]}T{m[2]}"
        elif node.kind == "date":
            f.widget = "date"
        elif "boolean" in types:
            f.widget = "select"
            f.options = [("true", self.cat.get("ui.yes")), ("false", self.cat.get("ui.no"))]
        elif types == ("integer",) or types == ("number",):
            f.widget = "integer" if types == ("integer",) else "number"
            unit = field_unit(str(path[-1]) if path else None, node.schema)
            if unit is not None:
                f.label = f"{label} ({unit_symbol(unit, self.cat.lang)})"
            f.minimum = node.schema.get("minimum", node.schema.get("exclusiveMinimum"))
            f.maximum = node.schema.get("maximum", node.schema.get("exclusiveMaximum"))
            if node.kind == "count":
                f.hint = self.cat.get("template.hint.count")
        elif in_free_text and path and path[-1] == "text":
            f.widget = "textarea"
        elif node.kind in _HINT_KINDS:
            f.hint = self.cat.get(f"template.hint.{node.kind}")
        return f

    def _array(
        self,
        f: Field,
        node: Node,
        path: tuple[str | int, ...],
        form: FormData,
        problems: Mapping[str, str],
        lang: str,
    ) -> Field:
        items = self.walker.items(node)
        name = f.name
        if items is not None and items.enum is not None:
            f.widget = "checkboxes"
            f.values = list(form.get(name) or [])
            f.options = [(str(v), self.cat.get(items.enum_key(v))) for v in items.enum]
            return f
        if items is None or not ("object" in items.types and items.properties) or items.kind == "position":
            f.widget = "lines"
            f.hint = self.cat.get("console.compose.lines_hint")
            if items is not None and items.kind in _HINT_KINDS:
                f.hint += " — " + self.cat.get(f"template.hint.{items.kind}")
            return f
        f.widget = "list"
        count = self.item_count(form, name, f.required)
        for i in range(count):
            label = self.cat.get("ui.item", label=f.label, n=i + 1)
            group = Field(
                "group",
                pointer((*path, i)),
                label,
                True,
                error=problems.get(pointer((*path, i)), ""),
            )
            group.children = list(self._object_children(items, (*path, i), form, problems, lang))
            f.children.append(group)
        return f

    @staticmethod
    def item_count(form: FormData, name: str, required: bool) -> int:
        raw = _first(form, f"_count{name}")
        count = int(raw) if raw.isdigit() else (1 if required else 0)
        return max(0, min(count, MAX_ITEMS_SHOWN))

    # --- parsing -------------------------------------------------------------------------
    def body(self, form: FormData) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The body the form describes, and problems found before schema validation."""
        problems: list[tuple[str, str]] = []
        value = self._parse_object(self.walker.root, (), form, problems, required=True)
        return (value if isinstance(value, dict) else {}), problems

    def _parse_object(
        self,
        node: Node,
        path: tuple[str | int, ...],
        form: FormData,
        problems: list[tuple[str, str]],
        *,
        required: bool,
    ) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for prop in node.properties:
            child = self.walker.child(node, prop)
            if child is None:
                continue
            v = self._parse(child, (*path, prop), form, problems, prop in node.required)
            if v is not None:
                out[prop] = v
        if node.is_free_text() and path and "text" not in out:
            # A language chosen for text nobody wrote is not a field worth sending.
            return {"lang": out["lang"]} if required and "lang" in out else ({} if required else None)
        if not out and not required:
            return None
        return out

    def _parse(
        self,
        node: Node,
        path: tuple[str | int, ...],
        form: FormData,
        problems: list[tuple[str, str]],
        required: bool,
    ) -> Any:
        name = pointer(path)
        kind = node.kind
        if kind == "position":
            return self._parse_position(path, form, problems)
        if kind == "area":
            return self._parse_area(name, form, problems)
        if "object" in node.types and node.properties:
            return self._parse_object(node, path, form, problems, required=required)
        if "array" in node.types:
            items = self.walker.items(node)
            if items is not None and items.enum is not None:
                chosen = [v for v in form.get(name) or [] if v]
                return chosen or None
            if (
                items is None
                or not ("object" in items.types and items.properties)
                or items.kind == "position"
            ):
                lines = [ln.strip() for ln in _first(form, name).splitlines() if ln.strip()]
                return [self._scalar(items, ln) for ln in lines] if lines else None
            out = []
            for i in range(self.item_count(form, name, required)):
                item = self._parse_object(items, (*path, i), form, problems, required=False)
                if item is not None:
                    out.append(item)
            return out or None
        raw = _first(form, name)
        if raw == "":
            return None
        return self._scalar(node, raw)

    def _scalar(self, node: Node | None, raw: str) -> Any:
        types = node.types if node is not None else ("string",)
        kind = node.kind if node is not None else None
        if node is not None and node.enum is not None:
            return raw
        if kind == "utc_time":
            m = _LOCAL_TIME.match(raw)
            if m:
                return f"{m[1]}T{m[2]}{m[3] or ':00'}Z"
            return raw
        if "boolean" in types:
            return {"true": True, "false": False}.get(raw, raw)
        if "integer" in types and _INT.match(raw):
            return int(raw)
        if "number" in types and _NUMBER.match(raw):
            number = float(raw.replace(",", "."))
            return int(number) if number.is_integer() and "." not in raw and "," not in raw else number
        return raw

    def _parse_position(
        self, path: tuple[str | int, ...], form: FormData, problems: list[tuple[str, str]]
    ) -> dict[str, Any] | None:
        names = {axis: pointer((*path, axis)) for axis in ("lat", "lon")}
        raw = {axis: _first(form, name) for axis, name in names.items()}
        if not raw["lat"] and not raw["lon"]:
            return None
        if raw["lat"] and not raw["lon"] and looks_like_position(raw["lat"]):
            try:  # the whole position typed into the first field, as it is shown
                lat, lon = parse_position(raw["lat"])
            except PositionSyntaxError as exc:
                problems.append((names["lat"], self._position_problem(exc, raw["lat"])))
                return {"lat": 0.0, "lon": 0.0}  # stands in until the problem is fixed
            return {"lat": lat, "lon": lon}
        out: dict[str, Any] = {}
        for axis, text in raw.items():
            if not text:
                continue  # the schema says it is required, in the operator's language
            try:
                out[axis] = parse_coordinate(text, is_lat=axis == "lat")
            except PositionSyntaxError as exc:
                problems.append((names[axis], self._position_problem(exc, text)))
                # A stand-in the schema accepts, so the field shows one problem, not two;
                # the problem above stops the message from being sent.
                out[axis] = 0.0
        return out

    def _position_problem(self, exc: PositionSyntaxError, text: str) -> str:
        return self.cat.get(f"console.compose.position.{exc.reason}", text=text[:40])

    def _parse_area(self, name: str, form: FormData, problems: list[tuple[str, str]]) -> Any:
        text = _first(form, pointer((*name.strip("/").split("/"), "polygon")))
        if not text:
            return None
        corners: list[dict[str, Any]] = []
        for n, line in enumerate(text.replace(";", "\n").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            try:
                lat, lon = parse_position(line)
            except PositionSyntaxError:
                message = self.cat.get("console.compose.bad_corner", n=n, line=line[:40])
                problems.append((f"{name}/polygon", message))
                return None
            corners.append({"lat": lat, "lon": lon})
        return {"polygon": corners}


def problems_at(problems: list[tuple[str, str]], fields: list[Field]) -> tuple[dict[str, str], list[str]]:
    """Problems by the pointer of the field that shows them, and those no field can show.

    A problem below a field that has no inputs of its own there (a corner of an area drawn
    on the map) is shown at the nearest field above it.
    """
    names = {f.name for top in fields for f in top.walk()}
    names.add("")
    at: dict[str, str] = {}
    loose: list[str] = []
    for path, message in problems:
        target = path if path != "/" else ""
        while target and target not in names:
            target = target.rsplit("/", 1)[0]
        if not target:
            loose.append(message)
            continue
        at[target] = f"{at[target]}; {message}" if target in at else message
    return at, loose
