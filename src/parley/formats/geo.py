"""Positions and areas: WGS84 decimal degrees on the wire, seafarers' notation on screen.

Bodies carry positions as ``{"lat": 69.72, "lon": 30.04}`` (WGS84 decimal degrees, as in
RFC 7946 GeoJSON) and areas as a polygon ring or a circle in nautical miles. Watch officers
read positions as degrees and decimal minutes (``69°43.20′N 030°02.40′E``), so both forms are
shown. A polygon ring in a body may be open or closed; exporters close it (RFC 7946 §3.1.6
and CAP 1.2 both require the first and last points to be equal).

Positions are read back in the forms people type them (:func:`parse_position`,
:func:`parse_coordinate`): decimal degrees (``71.52``, ``-31,2``), degrees and decimal minutes
(``71°31.2′N``, ``71 31.2 N``, ``N71 31.2``) or degrees, minutes and seconds (``71°31′12″N``),
with the hemisphere as a letter or a sign; a whole position is two of these, latitude first
(or in either order when both carry hemisphere letters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any, Literal

NM_IN_METRES = 1852.0


def format_degrees_minutes(value: float, *, is_lat: bool) -> str:
    """``69°43.20′N`` / ``030°02.40′E``: degrees, minutes to hundredths, hemisphere."""
    hemisphere = ("N" if value >= 0 else "S") if is_lat else ("E" if value >= 0 else "W")
    # Round once on hundredths of a minute so 59.999′ carries into the degree, never "60.00′".
    hundredths = round(abs(value) * 6000)
    degrees, rest = divmod(hundredths, 6000)
    width = 2 if is_lat else 3
    return f"{degrees:0{width}d}°{rest / 100:05.2f}′{hemisphere}"


def format_position(position: Mapping[str, Any]) -> str:
    """``69°43.20′N 030°02.40′E (69.72000, 30.04000)``."""
    lat, lon = float(position["lat"]), float(position["lon"])
    return (
        f"{format_degrees_minutes(lat, is_lat=True)} {format_degrees_minutes(lon, is_lat=False)}"
        f" ({lat:.5f}, {lon:.5f})"
    )


def closed_ring(points: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """The ring as (lat, lon) pairs with the first point repeated at the end."""
    ring = [(float(p["lat"]), float(p["lon"])) for p in points]
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return ring


def counterclockwise(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The closed ring in counterclockwise order, as RFC 7946 §3.1.6 wants exterior rings."""
    # Sum of (x2 - x1)(y2 + y1) over the edges, x=lon, y=lat: positive means clockwise.
    area2 = sum((b[1] - a[1]) * (b[0] + a[0]) for a, b in pairwise(ring))
    return ring if area2 <= 0 else list(reversed(ring))


# --- reading typed positions ----------------------------------------------------------------
MAX_POSITION_TEXT = 80  # the longest honest position is about 30 characters

PositionProblem = Literal["unreadable", "minutes", "hemisphere", "lat_range", "lon_range"]


class PositionSyntaxError(ValueError):
    """A typed position that cannot be read; ``reason`` names what is wrong, for a field error."""

    def __init__(self, reason: PositionProblem, text: str) -> None:
        super().__init__(f"{reason}: {text[:MAX_POSITION_TEXT]!r}")
        self.reason: PositionProblem = reason


_FRACTION = r"(?:[.,]\d{1,12})?"
# Hemisphere letters as written in each language: Norwegian Ø(st)/V(est), Russian
# С(евер)/Ю(г)/В(осток)/З(апад), besides the international N/S/E/W.
_LETTERS = {"N": "N", "S": "S", "E": "E", "W": "W", "Ø": "E", "V": "W"}
_LETTERS |= {"С": "N", "Ю": "S", "В": "E", "З": "W"}
_LETTER = "[" + "".join(sorted({*_LETTERS, *(k.lower() for k in _LETTERS)})) + "]"
_DEG_MARK = r"(?:°|º|˚|deg\b)"
_MIN_MARK = r"(?:′|'|’)"
_SEC_MARK = r"(?:″|\"|”|''|′′)"


def _coordinate_pattern(tag: str, letter: str) -> str:
    """One coordinate; its hemisphere letter (if any) goes before (``prefix``) or after it."""
    degrees = rf"(?P<{tag}deg>\d{{1,3}})(?:\s*{_DEG_MARK}\s*|[\s:]+)"
    minutes = (
        rf"(?:(?P<{tag}min>\d{{1,2}}{_FRACTION})\s*{_MIN_MARK}?"
        rf"|(?P<{tag}mi>\d{{1,2}})(?:\s*{_MIN_MARK}\s*|\s+)(?P<{tag}sec>\d{{1,2}}{_FRACTION})\s*{_SEC_MARK}?)"
    )
    decimal = rf"(?P<{tag}dec>\d{{1,3}}{_FRACTION})\s*{_DEG_MARK}?"
    number = rf"(?P<{tag}sign>[-+−])?\s*(?:{degrees}{minutes}|{decimal})"
    if letter == "prefix":
        return rf"(?:(?P<{tag}h>{_LETTER})\s*)?{number}"
    return rf"{number}(?:\s*(?P<{tag}h>{_LETTER}))?"


def _compiled(count: int) -> list[re.Pattern[str]]:
    out = []
    for letter in ("suffix", "prefix"):
        one = _coordinate_pattern("a", letter)
        two = rf"{one}\s*[,;/]?\s*{_coordinate_pattern('b', letter)}"
        out.append(re.compile(rf"\s*{one if count == 1 else two}\s*"))
    return out


_ONE = _compiled(1)
_TWO = _compiled(2)


def _match(patterns: list[re.Pattern[str]], text: str) -> re.Match[str] | None:
    if len(text) > MAX_POSITION_TEXT:
        return None
    for pattern in patterns:
        m = pattern.fullmatch(text)
        if m is not None:
            return m
    return None


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _value(m: re.Match[str], tag: str, text: str) -> tuple[float, str | None]:
    """The coordinate's magnitude with its sign, and its hemisphere letter if one was typed."""
    letter = m[f"{tag}h"]
    hemisphere = _LETTERS[letter.upper()] if letter else None
    if m[f"{tag}dec"] is not None:
        value = _number(m[f"{tag}dec"])
    else:
        whole = m[f"{tag}min"] if m[f"{tag}min"] is not None else m[f"{tag}mi"]
        minutes = _number(whole)
        seconds = _number(m[f"{tag}sec"]) if m[f"{tag}sec"] is not None else 0.0
        if minutes >= 60 or seconds >= 60:
            raise PositionSyntaxError("minutes", text)
        value = int(m[f"{tag}deg"]) + minutes / 60 + seconds / 3600
    if m[f"{tag}sign"]:
        if hemisphere is not None:  # "-71 N" says two things; neither is safe to pick
            raise PositionSyntaxError("hemisphere", text)
        if m[f"{tag}sign"] in "-−":
            value = -value
    if hemisphere in ("S", "W"):
        value = -value
    return value, hemisphere


def _checked(value: float, *, is_lat: bool, text: str) -> float:
    if is_lat and not -90 <= value <= 90:
        raise PositionSyntaxError("lat_range", text)
    if not is_lat and not -180 <= value <= 180:
        raise PositionSyntaxError("lon_range", text)
    return value


def _axis_ok(hemisphere: str | None, *, is_lat: bool) -> bool:
    return hemisphere is None or (hemisphere in "NS") == is_lat


def parse_coordinate(text: str, *, is_lat: bool) -> float:
    """One latitude or longitude as typed, in decimal degrees; PositionSyntaxError if not."""
    m = _match(_ONE, text)
    if m is None:
        raise PositionSyntaxError("unreadable", text)
    value, hemisphere = _value(m, "a", text)
    if not _axis_ok(hemisphere, is_lat=is_lat):
        raise PositionSyntaxError("hemisphere", text)
    return _checked(value, is_lat=is_lat, text=text)


def parse_position(text: str) -> tuple[float, float]:
    """A whole position as typed (``71°31.2′N 031°12.0′E``, ``71.52, 31.2``) as (lat, lon)."""
    m = _match(_TWO, text)
    if m is None:
        raise PositionSyntaxError("unreadable", text)
    first, h1 = _value(m, "a", text)
    second, h2 = _value(m, "b", text)
    if h1 is not None and h2 is not None and h1 in "EW" and h2 in "NS":
        first, second, h1, h2 = second, first, h2, h1  # typed longitude first, and said so
    if not (_axis_ok(h1, is_lat=True) and _axis_ok(h2, is_lat=False)):
        raise PositionSyntaxError("hemisphere", text)
    return _checked(first, is_lat=True, text=text), _checked(second, is_lat=False, text=text)


def looks_like_position(text: str) -> bool:
    """Whether ``text`` holds a whole position rather than one coordinate."""
    return _match(_ONE, text) is None and _match(_TWO, text) is not None
