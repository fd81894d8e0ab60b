"""Test harness: real node processes (re-exported from parley.devnet.nodes)."""

from parley.devnet.nodes import (
    CHARTER,
    PASSWORD,
    NodeProcess,
    init_node,
    make_pair,
    run_cli,
)

__all__ = ["CHARTER", "PASSWORD", "NodeProcess", "init_node", "make_pair", "run_cli"]
