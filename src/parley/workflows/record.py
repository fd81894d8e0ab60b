"""One order for the record, the same on every node.

Each node appends envelopes to its log in the order they reach it, so two nodes' logs
interleave the two chains differently whenever both sides write at once. A projection that
folded envelopes in log order could then disagree between the nodes. Projections therefore
fold in *causal order*: a deterministic topological order in which

1. every envelope follows the envelopes of the same chain (same channel and sender) with
   a lower ``seq``,
2. every envelope follows the envelopes it names (``refs`` and the message ids in its body
   that answer, accept, sign or acknowledge another message),
3. ties are broken by the signed ``created`` time, then sender, then sequence number.

The same set of envelopes gives the same order everywhere, whatever order it arrived in,
and a reply never precedes what it answers even when the two clocks disagree. Projections
order each incident's or meeting's own envelopes on their own, so the incremental update
(one incident at a time) and a rebuild (all of them) see exactly the same order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import Any

from parley.protocol.envelope import SignedEnvelope

# Body fields that name another message this one answers (schemas in parley/formats).
_BODY_REFS = ("incident", "answers", "proposal", "protocol", "counter_to", "message")


def named_messages(env: SignedEnvelope) -> list[str]:
    """Ids of the messages ``env`` refers to: its refs and the ids in its body."""
    out = list(env.refs)
    body: dict[str, Any] = env.body
    for key in _BODY_REFS:
        value = body.get(key)
        if isinstance(value, str):
            out.append(value)
    return out


def _key(env: SignedEnvelope) -> tuple[str, str, str, int]:
    return (env.created, env.sender_node, env.channel, env.seq)


def causal_order(envelopes: Iterable[SignedEnvelope]) -> list[SignedEnvelope]:
    """The envelopes in causal order (see the module docstring); duplicates dropped."""
    by_id: dict[str, SignedEnvelope] = {}
    for env in envelopes:
        by_id.setdefault(env.id, env)
    chains: dict[tuple[str, str], list[SignedEnvelope]] = {}
    for env in by_id.values():
        chains.setdefault((env.channel, env.sender_node), []).append(env)
    prev_of: dict[str, str] = {}
    for chain in chains.values():
        chain.sort(key=lambda e: e.seq)
        for earlier, later in itertools.pairwise(chain):
            prev_of[later.id] = earlier.id
    waiting: dict[str, set[str]] = {}
    followers: dict[str, list[str]] = {}
    for env in by_id.values():
        before = {m for m in named_messages(env) if m in by_id and m != env.id}
        prev = prev_of.get(env.id)
        if prev is not None:
            before.add(prev)
        waiting[env.id] = before
        for m in before:
            followers.setdefault(m, []).append(env.id)
    ready = [(_key(by_id[i]), i) for i, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    out: list[SignedEnvelope] = []
    done: set[str] = set()
    while len(out) < len(by_id):
        if not ready:
            # Only a forged cycle of references can get here (ids are chosen by senders);
            # break it deterministically with the earliest remaining envelope.
            rest = min((_key(by_id[i]), i) for i in by_id if i not in done)
            ready.append(rest)
        _, current = heapq.heappop(ready)
        if current in done:
            continue
        done.add(current)
        out.append(by_id[current])
        for f in followers.get(current, ()):
            deps = waiting[f]
            deps.discard(current)
            if not deps and f not in done:
                heapq.heappush(ready, (_key(by_id[f]), f))
    return out
