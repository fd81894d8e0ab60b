"""Which action each HTTP route performs: FastAPI dependencies that check an operator's role
(``parley.directory.policy`` says which role may do what) and the declarations the
authorization table is built from (docs/console.md, tests/console/test_authorization_table.py).

Kept apart from the policy so that the command line, which reads roles and actions, does not
load FastAPI (0.4 s a command).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from parley.directory.operators import Operator
from parley.directory.policy import NOT_BY_ROLE, Action, require


# --- routes: what each one does ----------------------------------------------------------------
class Declared:
    """A FastAPI dependency that only declares the action of a route no role governs."""

    def __init__(self, action: Action) -> None:
        self.action = action

    async def __call__(self) -> None:
        return None


class Acting(Declared):
    """A FastAPI dependency: the operator asking (found by ``who``), allowed ``action``."""

    def __init__(self, action: Action, who: Callable[[Request], Awaitable[Operator]]) -> None:
        if action in NOT_BY_ROLE:
            raise ValueError(f"{action} is not an operator's action")
        super().__init__(action)
        self.who = who

    async def __call__(self, request: Request) -> Operator:  # type: ignore[override]
        op = await self.who(request)
        require(op, self.action)
        return op


_ATTRIBUTE = "parley_action"


def declare(route: BaseRoute, action: Action) -> BaseRoute:
    """Declare the action of a route built elsewhere (federation routes, mounts)."""
    setattr(route, _ATTRIBUTE, action)
    return route


def declare_paths(routes: Sequence[BaseRoute], action: Action, *paths: str) -> None:
    """Declare the routes at ``paths`` (each must exist: a stale name is a mistake)."""
    for path in paths:
        found = [r for r in routes if getattr(r, "path", None) == path]
        if not found:
            raise LookupError(f"no route {path} to declare")
        for r in found:
            declare(r, action)


def action_of(route: BaseRoute) -> Action | None:
    """The action ``route`` declared, or None."""
    declared = getattr(route, _ATTRIBUTE, None)
    if isinstance(declared, Action):
        return declared
    if isinstance(route, APIRoute):
        pending = list(route.dependant.dependencies)
        while pending:
            dep = pending.pop()
            if isinstance(dep.call, Declared):
                return dep.call.action
            pending.extend(dep.dependencies)
    return None


def every_route(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, with those of included routers (FastAPI keeps those as one entry that
    refers to the router) listed one by one."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from every_route(included.routes)
        else:
            yield route
