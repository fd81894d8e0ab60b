"""Where the words come from: enumerated from the code and the README, not listed by hand.

* the console's GET routes, walked from the node's application;
* the alarm kinds, from the places that write ``alarms`` rows (ast over ``src/parley``);
* the error codes, from ``ParleyError`` subclasses and ``code="…"`` at raise sites (ast);
* the lexical catalogue's templates, ``T("…")`` and ``N("…", "…", n)``, extracted with Babel;
* the ``parley …`` commands of the README's shell blocks.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.language.detector import LOCALE, PACKAGE, po_entries

REPO = PACKAGE.parent.parent
README = REPO / "README.md"
LANGS = ("nb", "ru")


def rel(path: Path | str) -> str:
    p = Path(path)
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


@functools.cache
def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _name(expr: ast.expr) -> str:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return ""


# --- lexical templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    msgid: str
    plural: str  # "" unless N(...)
    where: str  # file:line


def text_templates() -> list[Template]:
    """Every ``T("…")`` and ``N("…", "…", n)`` in src/parley, by Babel's own extractor."""
    from babel.messages.extract import extract_from_dir

    out = []
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map=[("**.py", "python")], keywords={"T": None, "N": (1, 2)}
    ):
        if isinstance(message, tuple):
            singular, plural = (str(m) if m else "" for m in message[:2])
        else:
            singular, plural = str(message), ""
        if singular:
            out.append(Template(singular, plural, f"src/parley/{filename}:{lineno}"))
    return out


@functools.cache
def texts_catalogue(lang: str) -> dict[str, list[str]]:
    """msgid -> its translations (one for a singular entry, every plural form for a plural
    one) in ``locale/<lang>/LC_MESSAGES/texts.po``; fuzzy entries count as missing."""
    from babel.messages.pofile import read_po

    path = LOCALE / lang / "LC_MESSAGES" / "texts.po"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh)
    out: dict[str, list[str]] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        key = m.id[0] if isinstance(m.id, (tuple, list)) else m.id
        forms = list(m.string) if isinstance(m.string, (tuple, list)) else [m.string]
        out[str(key)] = [str(f or "") for f in forms]
    return out


def key_catalogue(lang: str) -> dict[str, str]:
    return dict(po_entries(LOCALE / lang / "LC_MESSAGES" / "parley.po"))


# --- error codes ---------------------------------------------------------------------------------


@dataclass
class ErrorSite:
    code: str
    cls: str
    where: str
    message: ast.expr | None
    hint: ast.expr | None


@functools.cache
def _class_graph() -> tuple[dict[str, list[str]], dict[str, str]]:
    bases: dict[str, list[str]] = {}
    codes: dict[str, str] = {}
    for tree in _trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [_name(b) for b in node.bases]
                for stmt in node.body:
                    target = None
                    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                        target, value = stmt.targets[0], stmt.value
                    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                        target, value = stmt.target, stmt.value
                    if (
                        isinstance(target, ast.Name)
                        and target.id == "code"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        codes[node.name] = value.value
    return bases, codes


@functools.cache
def error_classes() -> dict[str, str]:
    """Every class deriving (transitively) from ParleyError -> its code (inherited if unset)."""
    bases, codes = _class_graph()

    def derives(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "ParleyError":
            return True
        return any(b not in seen and derives(b, seen | {name}) for b in bases.get(name, []))

    def code_of(name: str) -> str:
        if name in codes:
            return codes[name]
        for b in bases.get(name, []):
            if derives(b):
                return code_of(b)
        return "error"

    return {name: code_of(name) for name in bases if derives(name)}


def error_sites() -> list[ErrorSite]:
    """Every construction of a ParleyError subclass in src/parley, with its code."""
    classes = error_classes()
    out = []
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _name(node.func) not in classes:
                continue
            cls = _name(node.func)
            if isinstance(node.func, ast.Name) and node.func.id == "super":
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            code = classes[cls]
            given = kw.get("code")
            if isinstance(given, ast.Constant) and isinstance(given.value, str):
                code = given.value
            # VerificationError(step, message); the others take the message first.
            index = 1 if _derives_from(cls, "VerificationError") else 0
            message = node.args[index] if len(node.args) > index else kw.get("message")
            out.append(ErrorSite(code, cls, f"{rel(path)}:{node.lineno}", message, kw.get("hint")))
    return out


def _derives_from(cls: str, ancestor: str) -> bool:
    bases, _ = _class_graph()
    todo, seen = [cls], set()
    while todo:
        c = todo.pop()
        if c == ancestor:
            return True
        seen.add(c)
        todo += [b for b in bases.get(c, []) if b not in seen]
    return False


def error_codes() -> set[str]:
    return set(error_classes().values()) | {s.code for s in error_sites()}


def literal_text(expr: ast.expr | None) -> str | None:
    """The English of a plain string or f-string argument; None for anything else."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{…}" for v in expr.values)
    return None


def templates_in(expr: ast.AST | None) -> list[str]:
    """The templates of every ``T("…")`` / ``N("…", …)`` call inside ``expr``."""
    if expr is None:
        return []
    out = []
    for node in ast.walk(expr):
        if (
            isinstance(node, ast.Call)
            and _name(node.func) in ("T", "N")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append(node.args[0].value)
    return out


# --- alarm kinds ---------------------------------------------------------------------------------


@dataclass
class AlarmSite:
    kind: str
    where: str
    call: ast.Call
    templates: list[str] = field(default_factory=list)
    english: list[str] = field(default_factory=list)


def _constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            out[node.targets[0].id] = node.value.value
    return out


def _kind_values(expr: ast.expr, consts: dict[str, str], tree: ast.Module) -> list[str]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.Name) and expr.id in consts:
        return [consts[expr.id]]
    if isinstance(expr, ast.Name):  # a local variable: every string a function of that name returns
        kinds: list[str] = []
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == expr.id for t in node.targets)
                and isinstance(node.value, ast.Call)
            ):
                fn = _name(node.value.func)
                for f in ast.walk(tree):
                    if isinstance(f, ast.FunctionDef) and f.name == fn:
                        kinds += [
                            r.value.value
                            for r in ast.walk(f)
                            if isinstance(r, ast.Return)
                            and isinstance(r.value, ast.Constant)
                            and isinstance(r.value.value, str)
                        ]
        return kinds
    return []


def alarm_sites() -> list[AlarmSite]:
    """Every place an alarm is raised: ``insert(alarms).values(kind=…, …)`` and calls to an
    alarm-raising function (a function whose name says alarm, given a kind)."""
    out = []
    for path, tree in _trees().items():
        consts = _constants(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            kinds: list[str] = []
            fn = _name(node.func)
            is_insert = (
                fn == "values"
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Call)
                and _name(node.func.value.func) == "insert"
                and node.func.value.args
                and _name(node.func.value.args[0]) == "alarms"
            )
            if is_insert and "kind" in kw:
                kinds = _kind_values(kw["kind"], consts, tree)
            elif "alarm" in fn.lower() and fn.startswith("raise"):
                arg = kw.get("kind") or next(
                    (
                        a
                        for a in node.args
                        if isinstance(a, (ast.Constant, ast.Name)) and _kind_values(a, consts, tree)
                    ),
                    None,
                )
                kinds = _kind_values(arg, consts, tree) if arg is not None else []
            for kind in kinds:
                site = AlarmSite(kind, f"{rel(path)}:{node.lineno}", node)
                for arg in [*node.args, *(v for k, v in kw.items() if k != "kind")]:
                    site.templates += templates_in(arg)
                    if _english_outside_templates(arg):
                        site.english.append(ast.unparse(arg)[:160])
                out.append(site)
    return out


def _english_outside_templates(expr: ast.AST) -> bool:
    """Whether ``expr`` builds a sentence from string literals outside any T()/N() call."""
    if isinstance(expr, ast.Call) and _name(expr.func) in ("T", "N"):
        return False
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str) and " " in expr.value.strip()
    return any(_english_outside_templates(child) for child in ast.iter_child_nodes(expr))


def alarm_kind_templates() -> dict[str, list[str]]:
    """Templates keyed by an alarm kind anywhere (a registry ``{"link_down": T("…"), …}``)."""
    kinds = {s.kind for s in alarm_sites()}
    out: dict[str, list[str]] = defaultdict(list)
    for tree in _trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value in kinds:
                        out[str(k.value)] += templates_in(v)
    return dict(out)


# --- the README's commands -----------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    line: str  # the README line it is on
    segment: str  # one shell command of it
    background: bool  # followed by "&"


def readme_commands() -> list[Command]:
    """Each shell command of the README's ``sh`` blocks, in order (``a; b``, ``a & b``,
    ``a && b`` split)."""
    text = README.read_text(encoding="utf-8")
    out: list[Command] = []
    for block in re.findall(r"```(?:sh|bash|console|shell)\n(.*?)```", text, re.S):
        for line in block.splitlines():
            code = line.split("  #", 1)[0].strip()
            if not code:
                continue
            for part in re.split(r"(&&|;|&(?!&))", code):
                part = part.strip()
                if part in ("&&", ";", "&") or not part:
                    if part == "&" and out:
                        prev = out[-1]
                        out[-1] = Command(prev.line, prev.segment, True)
                    continue
                out.append(Command(line.strip(), part, False))
    return out


def parley_args(segment: str) -> list[str] | None:
    """The arguments of a ``parley …`` (or ``.venv/bin/parley …``) command; None otherwise."""
    words = shlex.split(segment)
    if not words or Path(words[0]).name != "parley":
        return None
    return words[1:]


def iter_langs() -> Iterator[str]:
    yield from LANGS
