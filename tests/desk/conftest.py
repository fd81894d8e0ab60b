"""Fixtures for the desk tests: the workflow tests' two in-process nodes (tests/workflows/support.py)."""

from __future__ import annotations

from tests.workflows.conftest import any_pair, pair_template, sqlite_pair

__all__ = ["any_pair", "pair_template", "sqlite_pair"]
