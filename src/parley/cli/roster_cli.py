"""Commands for the watch: rosters, handovers and operators' contact addresses."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import typer

from parley.cli.common import at, node_from, print_json, say
from parley.directory.policy import role_name
from parley.errors import UsageError
from parley.formats.texts import T, cli_lang

roster_app = typer.Typer(help="Rosters: who is on watch at a desk, and when.", no_args_is_help=True)
handover_app = typer.Typer(help="Handovers between the outgoing and incoming officer.", no_args_is_help=True)

# A roster file names its shifts one by one; 1 MiB holds far more than a desk's bound of
# shifts, so a larger file is a mistake (or a device), refused before it is read.
ROSTER_FILE_LIMIT = 1024 * 1024
MAX_HANDOVER_LIST = 200


def _english(key: str, **params: Any) -> str:
    """A roster or handover line from the catalogue, in the command line's language."""
    from parley.formats.catalogue import load_catalogue

    return load_catalogue(cli_lang()).get(key, **params)


def _echo_warnings(warnings: list[Any], tz: str) -> None:
    for w in warnings:
        say(T("warning: {text}", text=_english(w.key, **w.params(tz))), err=True)


def _window(text: str | None, default: datetime, tz: str, what: str) -> datetime:
    from parley.watch.roster import local_instant, parse_wall, zone_of

    if text is None:
        return default
    zone = zone_of(tz)
    if "T" in text or " " in text.strip():
        return local_instant(parse_wall(text, what), zone, what)
    from parley.watch.roster import parse_date

    return local_instant(datetime.combine(parse_date(text, what), time()), zone, what)


@roster_app.command("add")
def roster_add(
    ctx: typer.Context,
    desk: str = typer.Argument(...),
    operator: str = typer.Option(..., "--operator", help="Who stands the shift."),
    start: str = typer.Option(..., "--start", help="Local start, e.g. 2026-11-30T08:00."),
    end: str = typer.Option(..., "--end", help="Local end, e.g. 2026-11-30T20:00."),
    tz: str = typer.Option(..., "--tz", help="IANA time zone of --start and --end, e.g. Europe/Oslo."),
    role: str = typer.Option("watch", "--as", help="watch | supervisor"),
    repeat: str | None = typer.Option(None, "--repeat", help="daily | weekly"),
    until: str | None = typer.Option(None, "--until", help="Last local date of a repeat (inclusive)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add a shift (or a repeating series) to a desk's roster; warns about gaps and overlaps."""
    from parley.watch.roster import ShiftSpec, add_shifts

    node = node_from(ctx)
    spec = ShiftSpec(operator, start, end, tz, role, repeat, until)
    change = add_shifts(node, desk, [spec], actor="cli")
    if as_json:
        print_json(
            {
                "shifts": [s.to_json() for s in change.shifts],
                "warnings": [w.to_json() for w in change.warnings],
            }
        )
        return
    first, last = change.shifts[0], change.shifts[-1]
    if len(change.shifts) == 1:
        say(
            T(
                "added shift {first_id}: {operator} ({role}) at {desk}, {span}",
                first_id=first.id,
                operator=operator,
                role=role_name(role),
                desk=desk,
                span=_span(first),
            )
        )
    else:
        say(
            T(
                "added {n_change_shifts} shifts (ids {first_id}–{last_id}): {operator} ({role}) at {desk}, "
                "first {span}, last {span2}",
                n_change_shifts=len(change.shifts),
                first_id=first.id,
                last_id=last.id,
                operator=operator,
                role=role_name(role),
                desk=desk,
                span=_span(first),
                span2=_span(last),
            )
        )
    _echo_warnings(change.warnings, tz)


def _span(shift: Any) -> str:
    fmt = "%Y-%m-%d %H:%M"
    return f"{shift.local(shift.start):{fmt}} – {shift.local(shift.end):{fmt}} {shift.tz}"


@roster_app.command("show")
def roster_show(
    ctx: typer.Context,
    desk: str = typer.Argument(...),
    start: str | None = typer.Option(None, "--from", help="Local date or date and time; default now."),
    end: str | None = typer.Option(None, "--to", help="Local date or date and time; default a week on."),
    tz: str = typer.Option("UTC", "--tz", help="The zone of --from and --to."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a desk's shifts in a period, with its gaps and overlaps."""
    from parley.directory.desks import require_desk
    from parley.watch.roster import LOOKAHEAD, MAX_REPEAT_SPAN, coverage_warnings, shifts_between

    node = node_from(ctx)
    require_desk(node, desk)
    now = node.clock.now().astimezone(UTC)
    lo = _window(start, now, tz, "--from")
    hi = _window(end, lo + LOOKAHEAD, tz, "--to")
    if hi <= lo:
        raise UsageError(T("--to is not after --from"), hint=T("give a later --to"))
    if hi - lo > MAX_REPEAT_SPAN:
        raise UsageError(
            T(
                "the period is longer than {max_repeat_span_days} days",
                max_repeat_span_days=MAX_REPEAT_SPAN.days,
            ),
            hint=T("show a shorter period"),
        )
    found = shifts_between(node, desk, lo, hi)
    warnings = coverage_warnings(node, desk, lo, hi)
    if as_json:
        print_json(
            {
                "desk": desk,
                "from": lo.isoformat().replace("+00:00", "Z"),
                "to": hi.isoformat().replace("+00:00", "Z"),
                "shifts": [s.to_json() for s in found],
                "warnings": [w.to_json() for w in warnings],
            }
        )
        return
    if not found:
        say(T("no shifts at {desk} in this period: add one with `parley roster add {desk} …`", desk=desk))
    for s in found:
        say(f"{s.id:>6}  {s.role:10} {s.username:20} {_span(s)}")
    _echo_warnings(warnings, tz)


@roster_app.command("remove")
def roster_remove(ctx: typer.Context, shift_id: int = typer.Argument(..., min=1)) -> None:
    """Remove one shift; warns about the gaps it leaves."""
    from parley.watch.roster import remove_shift

    change = remove_shift(node_from(ctx), shift_id, actor="cli")
    s = change.shifts[0]
    say(
        T(
            "removed shift {s_id}: {s_username} ({s_role}) at {s_desk}, {span}",
            s_id=s.id,
            s_username=s.username,
            s_role=s.role,
            s_desk=s.desk,
            span=_span(s),
        )
    )
    _echo_warnings(change.warnings, s.tz)


_SHIFT_KEYS = {"operator", "start", "end", "tz", "as", "repeat", "until"}


def parse_roster_file(data: bytes, path: Path) -> tuple[list[Any], str]:
    """The shifts of a roster file (TOML, see docs/watch.md) and its default zone."""
    from parley.watch.roster import MAX_BATCH, ShiftSpec

    hint = T("see docs/watch.md for the roster file format")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(T("{path} is not valid TOML: {exc}", path=path, exc=exc), hint=hint) from None
    unknown = set(doc) - {"tz", "shift"}
    if unknown:
        raise UsageError(
            T("{path}: unknown key {unknown_0!r} at the top", path=path, unknown_0=sorted(unknown)[0]),
            hint=hint,
        )
    default_tz = doc.get("tz", "UTC")
    entries = doc.get("shift", [])
    if not isinstance(default_tz, str) or not isinstance(entries, list):
        raise UsageError(
            T("{path}: 'tz' must be a string and 'shift' a list of [[shift]] tables", path=path), hint=hint
        )
    if not entries:
        raise UsageError(T("{path} holds no [[shift]]", path=path), hint=hint)
    if len(entries) > MAX_BATCH:
        raise UsageError(
            T(
                "{path} holds {n_entries} shifts, more than {max_batch}",
                path=path,
                n_entries=len(entries),
                max_batch=MAX_BATCH,
            ),
            hint=T("split the file"),
        )
    specs = []
    for n, entry in enumerate(entries, 1):
        where = f"{path}: shift {n}"
        if not isinstance(entry, dict):
            raise UsageError(T("{where} is not a table", where=where), hint=hint)
        bad = set(entry) - _SHIFT_KEYS
        if bad:
            raise UsageError(
                T("{where}: unknown key {bad_0!r}", where=where, bad_0=sorted(bad)[0]),
                hint=T("use {shift_keys}", shift_keys=", ".join(sorted(_SHIFT_KEYS))),
            )
        for key in ("operator", "start", "end"):
            if key not in entry:
                raise UsageError(T("{where} has no {key!r}", where=where, key=key), hint=hint)
        values = {k: v if not isinstance(v, datetime) else v.isoformat() for k, v in entry.items()}
        if "until" in values and not isinstance(values["until"], str):
            values["until"] = str(values["until"])  # a TOML local date
        if not all(isinstance(v, str) for v in values.values()):
            raise UsageError(
                T("{where}: every value must be a string or a local date and time", where=where), hint=hint
            )
        specs.append(
            ShiftSpec(
                values["operator"],
                values["start"],
                values["end"],
                values.get("tz", default_tz),
                values.get("as", "watch"),
                values.get("repeat"),
                values.get("until"),
            )
        )
    return specs, default_tz


def _with_line(exc: UsageError, where: str) -> UsageError:
    return UsageError(f"{where}: {exc.message}", hint=exc.hint)


@roster_app.command("import")
def roster_import(
    ctx: typer.Context,
    desk: str = typer.Argument(...),
    file: Path = typer.Argument(..., help="A roster file (TOML)."),
    replace: bool = typer.Option(False, "--replace", help="First remove the desk's shifts not yet started."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add a whole roster from a TOML file: all shifts or none."""
    from parley.files import LIMITS, read_bounded
    from parley.watch.roster import add_shifts, expand

    LIMITS.setdefault("roster file", ROSTER_FILE_LIMIT)
    specs, default_tz = parse_roster_file(read_bounded(file, "roster file"), file)
    for n, spec in enumerate(specs, 1):
        try:
            expand(spec)  # to say which shift is wrong; add_shifts checks again
        except UsageError as exc:
            raise _with_line(exc, f"{file}: shift {n}") from None
    node = node_from(ctx)
    change = add_shifts(node, desk, specs, actor="cli", replace=replace)
    if as_json:
        print_json(
            {
                "shifts": [s.to_json() for s in change.shifts],
                "warnings": [w.to_json() for w in change.warnings],
            }
        )
        return
    say(
        T(
            "imported {n_change_shifts} shifts to {desk} from {file}",
            n_change_shifts=len(change.shifts),
            desk=desk,
            file=file,
        )
    )
    _echo_warnings(change.warnings, default_tz)


# --- handover -------------------------------------------------------------------------------


def _echo_handover(h: Any) -> None:
    say(
        T(
            "handover {h_id} at {h_desk}: {h_outgoing} → {h_incoming}",
            h_id=h.id,
            h_desk=h.desk,
            h_outgoing=h.outgoing,
            h_incoming=h.incoming or T("(not confirmed yet)"),
        )
    )
    say(
        T(
            "started {h_started_at}{h_confirmed_at}",
            h_started_at=at(h.started_at),
            h_confirmed_at=T(", confirmed {h_confirmed_at}", h_confirmed_at=at(h.confirmed_at))
            if h.confirmed_at
            else "",
        )
    )
    say(T("note: {h_note}", h_note=h.note))
    if not h.items:
        say(T("open items: none"))
    else:
        say(T("open items:"))
    for item in h.items[:MAX_HANDOVER_LIST]:
        say(f"  - {_english(item.key, **item.params)}")
    if len(h.items) > MAX_HANDOVER_LIST:
        say(
            T(
                "  … and {max_handover_list} more (see --json)",
                max_handover_list=len(h.items) - MAX_HANDOVER_LIST,
            )
        )


@handover_app.command("start")
def handover_start(
    ctx: typer.Context,
    desk: str = typer.Argument(...),
    operator: str = typer.Option(..., "--operator", help="The outgoing officer."),
    note: str = typer.Option(..., "--note", help="A short note for the incoming officer."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Start a handover: your note plus the desk's open items, for the incoming officer."""
    from parley.watch.handover import start_handover

    h = start_handover(node_from(ctx), desk, operator, note)
    if as_json:
        print_json(h.to_json())
        return
    _echo_handover(h)
    say(T("the incoming officer confirms with: parley handover confirm {h_id} --operator USER", h_id=h.id))


@handover_app.command("confirm")
def handover_confirm(
    ctx: typer.Context,
    handover_id: str = typer.Argument(...),
    operator: str = typer.Option(..., "--operator", help="The incoming officer."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Confirm a handover as the incoming officer."""
    from parley.watch.handover import confirm_handover

    h = confirm_handover(node_from(ctx), handover_id, operator)
    if as_json:
        print_json(h.to_json())
        return
    say(
        T(
            "{operator} confirmed handover {h_id} at {h_desk} from {h_outgoing}",
            operator=operator,
            h_id=h.id,
            h_desk=h.desk,
            h_outgoing=h.outgoing,
        )
    )


@handover_app.command("show")
def handover_show(
    ctx: typer.Context, handover_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show a handover: the note, the open items and who confirmed it."""
    from parley.watch.handover import get_handover

    h = get_handover(node_from(ctx), handover_id)
    if as_json:
        print_json(h.to_json())
        return
    _echo_handover(h)


# --- operator contact -----------------------------------------------------------------------


def operator_contact(
    ctx: typer.Context,
    user: str = typer.Argument(...),
    email: str | None = typer.Option(None, "--email", help="Where e-mail pages go."),
    phone: str | None = typer.Option(None, "--phone", help="International number, e.g. +4712345678."),
    clear: bool = typer.Option(False, "--clear", help="Remove the stored addresses."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Set or show an operator's contact addresses for pages (no option: show them)."""
    from parley.directory.contacts import contact_of, set_contact
    from parley.directory.operators import get_operator

    node = node_from(ctx)
    if email is None and phone is None and not clear:
        get_operator(node, user)
        contact = contact_of(node, user)
    else:
        contact = set_contact(node, user, email=email, phone=phone, clear=clear, actor="cli")
    if as_json:
        print_json(
            {
                "username": user,
                "email": contact.email if contact else None,
                "phone": contact.phone if contact else None,
            }
        )
        return
    if contact is None:
        say(T("{user}: no contact addresses{clear}", user=user, clear=T(" (cleared)") if clear else ""))
    else:
        say(
            T(
                "{user}: e-mail {contact_email}, phone {contact_phone}",
                user=user,
                contact_email=contact.email or "-",
                contact_phone=contact.phone or "-",
            )
        )
