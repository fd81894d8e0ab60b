"""Structured message formats: schemas, catalogues, rendering, translation and exports.

Message bodies are language-neutral JSON validated against versioned JSON Schema 2020-12
files; labels and enum values render from gettext catalogues in nb, ru and en; free text
keeps its original language, and machine translations (LibreTranslate) are kept apart and
marked unofficial. Exports follow CAP 1.2, RFC 7946 GeoJSON and RFC 5545 iCalendar. SAR
types follow the IAMSAR SITREP. See docs/formats.md.
"""

from typing import TYPE_CHECKING, Any

from parley.formats.catalogue import Catalogue, available_languages, load_catalogue
from parley.formats.registry import (
    TypeInfo,
    get_schema,
    latest_version,
    list_types,
    validate_body,
)
from parley.formats.render import Rendered, RenderedField, render, render_html, render_text
from parley.formats.toml_template import template
from parley.formats.translate import (
    LibreTranslateTranslator,
    MachineTranslation,
    NoTranslator,
    Translator,
    machine_translate,
)

if TYPE_CHECKING:
    from parley.formats.exports import to_cap, to_feature_collection, to_geojson, to_ical

_EXPORTS = ("to_cap", "to_feature_collection", "to_geojson", "to_ical")


def __getattr__(name: str) -> Any:
    # The exports pull in XML and iCalendar libraries; load them only when used, so the
    # CLI starts quickly.
    if name in _EXPORTS:
        from parley.formats import exports

        return getattr(exports, name)
    raise AttributeError(name)


__all__ = [
    "Catalogue",
    "LibreTranslateTranslator",
    "MachineTranslation",
    "NoTranslator",
    "Rendered",
    "RenderedField",
    "Translator",
    "TypeInfo",
    "available_languages",
    "get_schema",
    "latest_version",
    "list_types",
    "load_catalogue",
    "machine_translate",
    "render",
    "render_html",
    "render_text",
    "template",
    "to_cap",
    "to_feature_collection",
    "to_geojson",
    "to_ical",
    "validate_body",
]
