"""The whole schema of a node: importing this module registers every table on ``metadata``.

It lives with the running node because it gathers the tables of every layer (each package
declares its own tables on ``parley.storage.metadata``); storage itself knows none of them.
"""

from __future__ import annotations

from parley.directory import contacts as _contact_tables  # noqa: F401  (operators' contact addresses)
from parley.directory import key_tables as _key_tables  # noqa: F401  (key history, §13)
from parley.directory import session_tables as _console_tables  # noqa: F401  (console sessions)
from parley.directory import time_zones as _time_zone_tables  # noqa: F401  (operators' zones)
from parley.directory import tls_tables as _tls_tables  # noqa: F401  (TLS pins, §13.7)
from parley.messaging import search_tables as _search_tables  # noqa: F401  (inbox paging index)
from parley.messaging import thread_tables as _thread_tables  # noqa: F401  (replies -> threads)
from parley.record import tables as _record_tables  # noqa: F401  (registers the log's tables)
from parley.record import witness_tables as _witness_tables  # noqa: F401  (witnessing)
from parley.storage import tables as _core_tables  # noqa: F401  (registers the core tables)
from parley.storage.metadata import metadata
from parley.watch import alert_tables as _alert_tables  # noqa: F401  (alert mute, notices)
from parley.watch import paging_tables as _paging_tables  # noqa: F401  (escalation chains, pages)
from parley.watch import tables as _watch_tables  # noqa: F401  (rosters, handovers)
from parley.workflows import tables as _workflow_tables  # noqa: F401  (incidents, meetings, drills)

__all__ = ["metadata"]
