"""TOML templates: parse with tomllib, explain fields in the operator's language, round-trip."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest

from parley.errors import NotFoundError, ValidationError
from parley.formats import template, validate_body
from parley.formats.catalogue import load_catalogue
from parley.formats.toml_template import unfilled_fields
from tests.formats.formats_helpers import LANGS, TYPES, example


def is_placeholder(value: Any) -> bool:
    if isinstance(value, float):  # numbers and true/false are written as nan (toml_template)
        return math.isnan(value)
    return isinstance(value, str) and value.startswith("<") and value.endswith(">")


def fill(tpl: Any, ex: Any, path: str = "") -> Any:
    """Fill a parsed template from an example body, checking it offers every example field.

    Optional fields the example does not use are deleted, as the operator would.
    """
    if isinstance(ex, dict):
        assert isinstance(tpl, dict), path
        assert set(ex) <= set(tpl), f"{path}: template lacks {set(ex) - set(tpl)}"
        return {k: fill(tpl[k], v, f"{path}/{k}") for k, v in ex.items()}
    if isinstance(ex, list):
        assert isinstance(tpl, list), path
        assert len(tpl) == 1, path
        return [fill(tpl[0], item, f"{path}/{i}") for i, item in enumerate(ex)]
    assert is_placeholder(tpl) or path.endswith("/lang"), f"{path}: {tpl!r} is not a placeholder"
    return ex


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("type_name", TYPES)
def test_template_round_trips_once_filled(type_name: str, lang: str) -> None:
    text = template(type_name, lang)
    parsed = tomllib.loads(text)
    body = fill(parsed, example(type_name))
    assert body == example(type_name)
    validate_body(type_name, 1, body)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("type_name", TYPES)
def test_template_comments_are_in_the_operators_language(type_name: str, lang: str) -> None:
    cat = load_catalogue(lang)
    text = template(type_name, lang)
    assert text.startswith(f"# {cat.get(f'type.{type_name}')}")
    assert f"({cat.get('template.required')})" in text


def test_template_lists_enum_values_with_labels() -> None:
    text = template("incident-at-sea", "nb")
    assert "#   dangerous_manoeuvre = Farlig manøver" in text
    assert "#   coast_guard = Kystvaktfartøy" in text
    assert "[[units]]" in text
    assert "# oppgi minst én av: hull_number, call_sign" in text
    assert 'lang = "nb"' in text
    ru = template("activity-notification", "ru")
    assert "# укажите ровно одно из: polygon, circle; остальные удалите" in ru
    assert "[closures.area.circle]" in ru


def test_an_unfilled_template_is_refused_field_by_field() -> None:
    parsed = tomllib.loads(template("incident-at-sea", "en"))
    with pytest.raises(ValidationError) as info:
        validate_body("incident-at-sea", 1, parsed)
    paths = {p for p, _ in info.value.problems} | {p for p, _ in unfilled_fields(parsed)}
    assert {"/time", "/position/lat", "/position/lon", "/category", "/units/0/unit_type"} <= paths
    assert {"/course_deg", "/speed_kn", "/requested_action", "/units/0/side"} <= paths


def test_template_of_unknown_type() -> None:
    with pytest.raises(NotFoundError):
        template("nonsense", "en")
