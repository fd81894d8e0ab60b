"""Continuity: a node outlives its machine — backups, restores, and taking its own chains back
from its peers before it signs again (docs/operations.md, docs/protocol.md §11.10)."""
