"""Positions and areas: WGS84 decimal degrees on the wire, seafarers' notation on screen.

Bodies carry positions as ``{"lat": 69.72, "lon": 30.04}`` (WGS84 decimal degrees, as in
RFC 7946 GeoJSON) and areas as a polygon ring or a circle in nautical miles. Watch officers
read positions as degrees and decimal minutes (``69°43.20′N 030°02.40′E``), so both forms are
shown. A polygon ring in a body may be open or closed; exporters close it (RFC 7946 §3.1.6
and CAP 1.2 both require the first and last points to be equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

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
