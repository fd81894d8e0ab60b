"""The whole schema of a node: importing this module registers every table on ``metadata``."""

from __future__ import annotations

from parley.console import tables as _console_tables  # noqa: F401  (console sessions)
from parley.record import tables as _record_tables  # noqa: F401  (registers the log's tables)
from parley.record import witness_tables as _witness_tables  # noqa: F401  (witnessing)
from parley.storage import tables as _core_tables  # noqa: F401  (registers the core tables)
from parley.storage.metadata import metadata
from parley.workflows import tables as _workflow_tables  # noqa: F401  (incidents, meetings, drills)

__all__ = ["metadata"]
