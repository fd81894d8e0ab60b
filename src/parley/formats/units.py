"""Numbers with their units, in the reader's locale (CLDR number patterns via Babel).

Seafarers' units as the watch uses them: knots (kn), nautical miles (NM, 1852 m, ISO 80000-3
annex), degrees (°, true bearing or course), metres, minutes, hours. Symbols that differ by
language come from the catalogue (``unit.<name>``); the number is grouped and given at most
three decimals, and a whole value never shows a fraction (``1 440 min``, not ``1440.0 min``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from babel.numbers import format_decimal

from parley.formats.catalogue import load_catalogue

# unit as written in code or schemas -> (catalogue key of its symbol, or None; glued to number?)
_UNITS: dict[str, tuple[str | None, bool]] = {
    "kn": ("unit.kn", False),
    "NM": ("unit.nm", False),
    "nm": ("unit.nm", False),
    "°": (None, True),
    "deg": (None, True),
    "°C": (None, False),
    "m": ("unit.m", False),
    "km": ("unit.km", False),
    "min": ("unit.min", False),
    "h": ("unit.h", False),
    "s": ("unit.s", False),
    "%": (None, False),
}
_GLUED_SYMBOL = {"deg": "°"}

# The schemas declare no units, so a field's unit follows its name: a suffix (``speed_kn``,
# ``radius_nm``, ``course_deg``, ``air_temp_c``) or, for the few without one, the name itself.
# A schema may declare ``"x-unit"`` on a field, which wins.
_SUFFIXES = {
    "_kn": "kn",
    "_nm": "NM",
    "_deg": "°",
    "_c": "°C",
    "_m": "m",
    "_km": "km",
    "_min": "min",
    "_h": "h",
}
_NAMES = {"lat": "°", "lon": "°"}


def field_unit(prop: str | None, schema: Mapping[str, Any] | None = None) -> str | None:
    """The unit of the numeric body field ``prop`` (``kn`` for ``speed_kn``), or None."""
    declared = schema.get("x-unit") if schema is not None else None
    if isinstance(declared, str) and declared in _UNITS:
        return declared
    if not prop:
        return None
    if prop in _NAMES:
        return _NAMES[prop]
    for suffix, unit in _SUFFIXES.items():
        if prop.endswith(suffix):
            return unit
    return None


def _locale(lang: str) -> str:
    try:
        return load_catalogue(lang).locale
    except Exception:  # an unknown language gets English patterns rather than a failed page
        return "en_GB"


def unit_symbol(unit: str, lang: str) -> str:
    """The symbol of ``unit`` in ``lang`` (``уз`` for knots in Russian), or ``unit`` itself."""
    key, _ = _UNITS.get(unit, (None, False))
    if key is None:
        return _GLUED_SYMBOL.get(unit, unit)
    cat = load_catalogue(lang)
    return cat.get(key) if cat.has(key) else unit


def format_number(value: float, lang: str) -> str:
    """``12,5`` / ``12.5`` / ``1 440``: grouped, up to three decimals, no trailing zeros."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return format_decimal(value, format="#,##0.###", locale=_locale(lang))


def with_unit(value: float, unit: str, lang: str) -> str:
    """``12,5 kn``, ``270°``, ``3 NM``: the number in the reader's locale and its unit."""
    number = format_number(value, lang)
    _, glued = _UNITS.get(unit, (None, False))
    symbol = unit_symbol(unit, lang)
    if not symbol:
        return number
    return f"{number}{symbol}" if glued else f"{number} {symbol}"
