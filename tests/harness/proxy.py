"""Test harness: the fault proxy (re-exported from parley.devnet.proxy)."""

from parley.devnet.proxy import FaultProxy, free_port

__all__ = ["FaultProxy", "free_port"]
