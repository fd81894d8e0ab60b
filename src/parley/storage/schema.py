"""The whole schema of a node: importing this module registers every table on ``metadata``."""

from __future__ import annotations

from parley.record import tables as _record_tables  # noqa: F401  (registers the log's tables)
from parley.storage import tables as _core_tables  # noqa: F401  (registers the core tables)
from parley.storage.metadata import metadata

__all__ = ["metadata"]
