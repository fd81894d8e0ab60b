"""The serving side of a TLS certificate rotation (docs/protocol.md §13.7), and of an
operational-key rotation dated ahead (§13.4, parley.directory.key_swap).

Each tick: once every peer has acknowledged the announced certificate, the files are
switched (parley.directory.tls_rotation), the new pair is loaded into the live server
``SSLContext`` on the event loop's thread (``SSLContext.load_cert_chain``: handshakes that
start afterwards present it, connections already open keep theirs), and then the update
that drops the old pin is queued. The load comes before that update, so no peer is told to
drop the old pin while the old certificate is still what new handshakes get.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parley.federation.runtime import Runtime

log = logging.getLogger("parley.tls")


async def tls_rotation_tick(service: Runtime) -> bool:
    """One round; True when this round switched the served certificate."""
    from parley.directory.tls_rotation import finish_switch, switch_if_acknowledged

    if not await service.db(switch_if_acknowledged, service.node):
        return False
    if service.tls_reload is not None:
        service.tls_reload()
    doc = await service.db(finish_switch, service.node)
    if doc is not None:
        fp = doc["tls_update"]["card"]["card"]["tls_fingerprint"]
        log.warning("%s now serves TLS certificate %s", service.node.name, fp)
        service.wake_senders()
    return True


async def repin_changed(service: Runtime) -> int:
    """Re-pin the clients whose peer's pins changed outside a request (an imported bundle,
    ``parley peer remove`` and ``add``); the ``/keys`` handler re-pins at once."""
    from parley.directory.tls_rotation import pinned_pem

    changed = 0
    for peer, client in list(service.clients.items()):
        pem = await service.db(pinned_pem, service.node, peer)
        if pem and pem != client.cert_pem:
            client.repin(pem)
            changed += 1
    return changed


async def key_rotation_tick(service: Runtime) -> None:
    """An operational-key rotation installed ahead of its time by another process (§13.4)."""
    from parley.directory.key_swap import take_up_rotation

    done = await service.db(take_up_rotation, service.node)
    if done is not None:
        log.warning(
            "%s: key rotation %s (current key %s)", service.node.name, done, service.node.key.public.key_id
        )


async def tls_rotation_loop(service: Runtime) -> None:
    from parley.errors import ParleyError

    said = ""  # a refusal that lasts (the new pair missing here) is logged once, not every tick
    while not service.stop.is_set():
        service.beat("tls")
        try:
            await tls_rotation_tick(service)
            await repin_changed(service)
            await key_rotation_tick(service)
            said = ""
        except ParleyError as exc:
            if exc.one_line() != said:
                said = exc.one_line()
                log.warning("TLS rotation cannot go on: %s", said)
        except Exception:
            log.exception("TLS rotation step failed; retrying")
        await service._sleep(service.tick_s)
