"""The running node: the service that ``parley serve`` starts, its group committer, and status.

This is the layer that puts the others together (see docs/architecture.md): it imports
workflows, federation, messaging and below, and only api, console and cli import it.
"""

from parley.running.wiring import wire

wire()
