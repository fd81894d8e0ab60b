"""The ``parley`` command as installed: the node's command line (``parley.cli``) with
``demo`` and ``bench``, which sit above it.

The demo and the benchmark start nodes and drive them (``parley.devnet``), and the demo's
scenarios run CLI commands; so they import the CLI, and the CLI does not import them. This
module, the top of the layers (docs/architecture.md), puts the two together.
"""

from __future__ import annotations

from parley.bench.command import bench
from parley.cli.main import app, main
from parley.demo.command import demo

app.command("bench")(bench)
app.command("demo")(demo)

__all__ = ["main"]
