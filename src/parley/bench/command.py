"""``parley bench``: run the benchmark and print a table (and JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from parley.bench.goals import goal_cells, goal_lines
from parley.cli.common import say
from parley.formats.texts import T


def bench(
    quick: bool = typer.Option(False, "--quick", help="A reduced run that takes about a minute."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON here."),
    engine: list[str] = typer.Option(
        [], "--engine", help="sqlite and/or postgresql (default: both, quick: sqlite)."
    ),
    history: str = typer.Option(
        "", "--history", help="Stored-history sizes to measure at, e.g. 10000,100000,1000000."
    ),
    record: str = typer.Option(
        "", "--record", help="Merkle log sizes to measure, e.g. 10000,100000,1000000."
    ),
    pg: str = typer.Option(
        "postgresql://postgres@127.0.0.1:5432",
        "--pg",
        help="PostgreSQL server (a database per node is created and dropped).",
    ),
    chart: Path | None = typer.Option(None, "--chart", help="Also draw the figures as a PNG here."),
    from_json: Path | None = typer.Option(
        None, "--from-json", help="Measure nothing: report (and --chart) a previous run's JSON."
    ),
    markdown: bool = typer.Option(False, "--markdown", help="Print the report as Markdown tables."),
    desk: bool = typer.Option(
        False, "--desk", help="Measure the desk alone: inbox, search, incident page on a year of traffic."
    ),
    desk_messages: int = typer.Option(
        100_000, "--desk-messages", min=100, max=2_000_000, help="Messages in the desk's simulated year."
    ),
    fixture: Path | None = typer.Option(
        None, "--fixture", help="Keep the desk's year here (one directory per engine) and reuse it next time."
    ),
) -> None:
    """Start two nodes on loopback and measure latency, throughput, catch-up, record and memory."""
    from parley.bench.run import BenchPlan, run_bench
    from parley.errors import UsageError

    if from_json is not None:
        try:
            from parley.files import read_json_file

            previous = read_json_file(from_json)
            say(markdown_report(previous)) if markdown else print_report(previous)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                T(
                    "cannot read benchmark figures from {from_json}: {exc_type_name}: {exc}",
                    from_json=from_json,
                    exc_type_name=type(exc).__name__,
                    exc=exc,
                ),
                hint=T("give a file written by `parley bench --json FILE`"),
            ) from None
        if chart:
            _draw(previous, chart)
        return

    plan = BenchPlan.quick() if quick else BenchPlan()
    plan.pg_base = pg
    try:
        if history:
            plan.history_sizes = tuple(int(x) for x in history.split(","))
        if record:
            plan.record_sizes = tuple(int(x) for x in record.split(","))
    except ValueError:
        raise UsageError(T("--history and --record take whole numbers separated by commas")) from None
    if engine:
        bad = set(engine) - {"sqlite", "postgresql"}
        if bad:
            raise UsageError(
                T("unknown engine(s) {bad}", bad=sorted(bad)),
                hint=T("use --engine sqlite and/or --engine postgresql"),
            )
        plan.engines = tuple(engine)
    err = Console(stderr=True)
    if desk:
        from parley.bench.run import run_desk_bench

        plan.desk_messages, plan.fixture = desk_messages, fixture
        if not engine:
            plan.engines = ("sqlite", "postgresql")
        result = run_desk_bench(plan, lambda line: err.print(f"[dim]{line}[/dim]"))
    else:
        result = run_bench(plan, lambda line: err.print(f"[dim]{line}[/dim]"))
    say(markdown_report(result)) if markdown else print_report(result)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2) + "\n")
        say(T("wrote {json_out}", json_out=json_out))
    if chart:
        _draw(result, chart)


def _draw(result: dict[str, Any], chart: Path) -> None:
    from parley.bench.chart import render_chart

    say(T("wrote {render_chart}", render_chart=render_chart(result, chart)))


def print_report(r: dict[str, Any]) -> None:
    out = Console()
    m = r["machine"]
    out.print(
        f"[bold]Parley benchmark[/bold] on {m['cores']} cores, {m['memory_gb']} GB, "
        f"{m['system']}, Python {m['python']}"
    )
    if "desk" in r:
        out.print(desk_table(r["desk"]))
    if "floor" not in r:
        return
    f = r["floor"]
    out.print(
        f"floor (HTTPS + one durable commit): p50 {f['latency_ms']['p50']} ms, "
        f"{f['throughput_per_s']} req/s with 8 clients"
    )
    lat = Table(title="latency, end to end (submit on A → stored and verified at B → receipt at A)")
    for col in ("engine", "p50 ms", "p90 ms", "p99 ms", "max ms", "p50 × floor"):
        lat.add_column(col)
    tput = Table(title="throughput (messages delivered, stored on both nodes and receipted)")
    for col in ("engine", "submitted/s", "receipted/s", "× floor", "batched/s", "catch-up"):
        tput.add_column(col)
    mem = Table(title="peak memory (RSS) of each node during the runs above")
    for col in ("engine", "node", "MB"):
        mem.add_column(col)
    for kind, e in r["engines"].items():
        if "skipped" in e:
            lat.add_row(kind, e["skipped"], *[""] * 4)
            continue
        ms, tp, cu = e["latency_ms"], e["throughput"], e["catch_up"]
        ratio = e.get("ratio_to_floor", {})
        lat.add_row(
            kind,
            str(ms["p50"]),
            str(ms["p90"]),
            str(ms["p99"]),
            str(ms["max"]),
            str(ratio.get("latency_p50")),
        )
        batched = e.get("throughput_batched", {})
        tput.add_row(
            kind,
            str(tp["submitted_per_s"]),
            str(tp["receipted_per_s"]),
            str(ratio.get("throughput")),
            f"{batched.get('receipted_per_s', '')} ({batched.get('per_request', '?')}/request)",
            f"{cu['messages']:,} in {cu['seconds']} s",
        )
        for name, mb in e["rss_peak_mb"].items():
            mem.add_row(kind, name, str(mb))
    out.print(lat)
    out.print(tput)
    out.print(mem)
    h = Table(title="as the stored history grows")
    for col in ("engine", "stored", "p50 ms", "p99 ms", "receipted/s", "peak RSS MB"):
        h.add_column(col)
    for kind, e in r["engines"].items():
        for row in e.get("history", []):
            h.add_row(
                kind,
                f"{row['stored_messages']:,}",
                str(row["latency_ms"]["p50"]),
                str(row["latency_ms"]["p99"]),
                str(row["receipted_per_s"]),
                ", ".join(f"{k} {v}" for k, v in row["rss_peak_mb"].items()),
            )
    out.print(h)
    rec = Table(title="record (Merkle log on SQLite)")
    for col in ("entries", "append/s", "inclusion proof ms", "consistency proof ms", "verify/s"):
        rec.add_column(col)
    for row in r["record"]:
        rec.add_row(
            f"{row['entries']:,}",
            f"{row['append_rate']:,.0f}",
            f"{row['inclusion_mean_seconds'] * 1000:.3f}",
            f"{row['consistency_mean_seconds'] * 1000:.3f}",
            f"{row['verify_per_s']:,.0f}",
        )
    out.print(rec)
    sig = r.get("signatures")
    if sig:
        out.print(
            f"signature floor: {sig['cores']} cores × {sig['one_core_per_s']:,.0f} Ed25519 verifies/s "
            f"= {sig['floor_per_s']:,.0f}/s"
        )
    g = Table(title="goals (ratios within this run)")
    for col in ("goal", "ratio", "bound", "met", "figures"):
        g.add_column(col)
    for cells in goal_cells(r, "[bold red]no[/bold red]"):
        g.add_row(*cells)
    out.print(g)


DESK_PAGES = {
    "console_inbox": "console inbox",
    "console_search": "console search",
    "incident_page": "incident page",
    "api_search": "API search",
}


def _desk_cell(row: dict[str, Any]) -> tuple[str, str, str]:
    if "missing" in row:
        return ("missing: " + str(row["missing"]), "", "")
    verdict = "met" if row.get("met") else "MISSED"
    return (str(row["p50"]), str(row["p90"]), f"≤ {row['target_ms']} ms: {verdict}")


def _paging(row: dict[str, Any]) -> str:
    if "missing" in row:
        return "missing: " + str(row["missing"])
    return (
        f"{row['messages']:,} messages in {row['pages']:,} pages, {row['seconds']} s "
        f"(p50 {row['p50']} ms a page)"
    )


def desk_table(desk: dict[str, Any]) -> Table:
    t = Table(title="the desk: a year of traffic (figures in ms)")
    for col in ("engine", "page", "p50", "p90", "target"):
        t.add_column(col)
    for kind, e in desk.items():
        if "skipped" in e:
            t.add_row(kind, e["skipped"], "", "", "")
            continue
        built = f"{e['messages']:,} messages ({e['envelopes']:,} envelopes), built in {e['build_seconds']} s"
        if e.get("load_average"):
            built += f"; load average {' / '.join(str(x) for x in e['load_average'])}"
        t.add_row(kind, built)
        for key, label in DESK_PAGES.items():
            if key in e:
                t.add_row("", label, *_desk_cell(e[key]))
        t.add_row("", "API paging to the oldest page", _paging(e["api_paging"]), "", "")
    return t


def desk_markdown(desk: dict[str, Any]) -> list[str]:
    out = [
        "| engine | messages (envelopes) | build | console inbox p50 / p90 | console search p50 "
        "| incident page p50 | API search p50 | API paging to the oldest page |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(e: dict[str, Any], key: str, p90: bool = False) -> str:
        row = e.get(key, {"missing": "not measured"})
        if "missing" in row:
            return "missing (" + str(row["missing"]) + ")"
        mark = "" if row.get("met") else " (missed)"
        return f"{row['p50']} / {row['p90']}{mark}" if p90 else f"{row['p50']}{mark}"

    for kind, e in desk.items():
        if "skipped" in e:
            out.append(f"| {kind} | {e['skipped']} | | | | | | |")
            continue
        out.append(
            f"| {kind} | {e['messages']:,} ({e['envelopes']:,}) | {e['build_seconds']} s "
            f"| {cell(e, 'console_inbox', True)} | {cell(e, 'console_search')} "
            f"| {cell(e, 'incident_page')} | {cell(e, 'api_search')} | {_paging(e['api_paging'])} |"
        )
    return out


def markdown_report(r: dict[str, Any]) -> str:
    """The same figures as Markdown tables (for a README)."""
    if "floor" not in r:
        m = r["machine"]
        head = f"Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['system']}, Python {m['python']}."
        return "\n".join([head, "", *desk_markdown(r.get("desk", {}))])
    m, f = r["machine"], r["floor"]
    out = [
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['system']}, Python {m['python']}.",
        "",
        f"**Floor** (minimal HTTPS endpoint committing one row, same run): p50 {f['latency_ms']['p50']} ms "
        f"sequential; {f['throughput_per_s']:,} requests/s with 8 clients.",
        "",
        "| engine | latency p50 / p90 / p99 (ms) | p50 × floor | receipted/s, 8 senders | × floor "
        "| batched/s | catch-up | peak RSS A / B (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, e in r["engines"].items():
        if "skipped" in e:
            out.append(f"| {kind} | {e['skipped']} | | | | | | |")
            continue
        ms, tp, cu, ratio = e["latency_ms"], e["throughput"], e["catch_up"], e.get("ratio_to_floor", {})
        b = e.get("throughput_batched", {})
        rss = " / ".join(str(v) for v in e["rss_peak_mb"].values())
        out.append(
            f"| {kind} | {ms['p50']} / {ms['p90']} / {ms['p99']} | {ratio.get('latency_p50')} "
            f"| {tp['receipted_per_s']:,} ({tp['messages']:,} messages) | {ratio.get('throughput')} "
            f"| {b.get('receipted_per_s', 0):,} ({b.get('per_request', '?')} a request) "
            f"| {cu['messages']:,} in {cu['seconds']} s ({cu['per_s']:,}/s) | {rss} |"
        )
    history = [(k, row) for k, e in r["engines"].items() for row in e.get("history", [])]
    if history:
        out += [
            "",
            "| engine | stored messages | latency p50 / p99 (ms) | receipted/s | peak RSS A / B (MB) |",
            "|---|---|---|---|---|",
        ]
        for kind, row in history:
            rss = " / ".join(str(v) for v in row["rss_peak_mb"].values())
            lat = row["latency_ms"]
            out.append(
                f"| {kind} | {row['stored_messages']:,} | {lat['p50']} / {lat['p99']} "
                f"| {row['receipted_per_s']:,} | {rss} |"
            )
    if r.get("record"):
        out += [
            "",
            "| entries | append/s | inclusion proof (ms) | consistency proof (ms) "
            "| transcript verification (entries/s) |",
            "|---|---|---|---|---|",
        ]
        for row in r["record"]:
            inclusion, consistency = row["inclusion_mean_seconds"], row["consistency_mean_seconds"]
            out.append(
                f"| {row['entries']:,} | {row['append_rate']:,.0f} | {inclusion * 1000:.2f} "
                f"| {consistency * 1000:.2f} | {row['verify_per_s']:,.0f} |"
            )
    sig = r.get("signatures")
    if sig:
        out += [
            "",
            f"**Signature floor**: {sig['cores']} cores × {sig['one_core_per_s']:,.0f} Ed25519 verifies/s "
            f"on one core (PyNaCl) = {sig['floor_per_s']:,.0f}/s.",
        ]
    out += ["", "**Goals** (ratios within this run):", "", *goal_lines(r)]
    if r.get("desk"):
        out += ["", *desk_markdown(r["desk"])]
    return "\n".join(out)
