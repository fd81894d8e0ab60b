"""Finds English words and raw data structures in text meant for a Norwegian or Russian reader.

The English vocabulary is what the product itself can say in English, so it grows with the
product and needs no dictionary: the English catalogue's texts (``parley.po`` msgstr values),
the English templates of the lexical catalogue (``texts.po`` msgids, every language), every
string literal in ``src/parley/**/*.py``, the text of the console's templates, the English
texts of the built-in demo scenario, and a short list of common English words.

From it are subtracted the allow-list (``allow_list.txt``: proper names and codes, each entry
justified) and, for Norwegian, the words the Norwegian catalogues themselves use ("status",
"alarm", "node", "for" and "at" are Norwegian words too; what a Norwegian catalogue says is, by
the translator's authority, Norwegian). Cyrillic needs no such step: any ASCII word in Russian
output that the product says in English is flagged.

A token with '-', '_', '/', '.', '@', ':' or a digit is a code (node, desk and channel ids,
message ids, times, URLs, paths) and passes, except raw catalogue keys (``console.nav.inbox``,
``enum.…``, ``type.…``) and snake_case words (``border_situation``): those are flagged as
"raw key". Raw Python or JSON structures (dict and list reprs, ``datetime.datetime(``,
``None``/``True``/``False``, ``{"…``, tracebacks, unfilled ``{placeholders}``) are flagged
as "raw structure".

HTML is read as a person sees it: tags, scripts and styles stripped; the attributes a person
reads (title, placeholder, aria-label, alt, the value of a submit button, hx-confirm) checked
too; an element marked with another ``lang`` than the page's (the sender's original words,
the language switch) is foreign on purpose and skipped, as is the signed JSON the message
page shows under "signed bytes" (``pre.signed-json``).
"""

from __future__ import annotations

import ast
import functools
import html.parser
import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import parley

PACKAGE = Path(parley.__file__).parent
LOCALE = PACKAGE / "formats" / "locale"
TEMPLATES = PACKAGE / "console" / "templates"
SCENARIOS = PACKAGE / "demo" / "scenarios"
ALLOW_LIST = Path(__file__).with_name("allow_list.txt")
CONTEXT = 60

# Words any English sentence is made of, whether or not the code happens to contain them.
COMMON_ENGLISH = frozenset(
    """
    the of and to not no is are was were be been by at on in for with from as or if it its this
    that these those an all any each every some none only also but so than then there here when
    where what which who whom whose why how yes can could may might must shall should will would do
    does did done has have had having get got make made see seen set sent send show shown new old
    one two three first last next more most less least out up down over under into onto off after
    before since until while per via about again just yet still now today yesterday tomorrow hour
    hours minute minutes second seconds day days week weeks month months year years ago you your we
    our they them their he she his her him i me my message messages node nodes channel channels
    desk desks operator operators record receipt receipts acknowledged acknowledgment
    acknowledgments due overdue link down running stopped error failed unknown invalid missing wait
    please try again
    """.split()  # noqa: SIM905 (a word list, easier to read and edit so)
)

# Python and JSON structures, tracebacks and unfilled templates in running text.
RAW_STRUCTURES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), what)
    for p, what in (
        (r"\{'", "Python dict repr"),
        (r"\['", "Python list repr"),
        (r"\[\{", "list of objects"),
        (r'\{"', "JSON object"),
        (r'\["', "JSON array"),
        (r"\b(?:datetime|date|time|timedelta|Decimal|UUID|PosixPath|Path|Text)\(", "Python repr"),
        (r"<[\w.]+ object at 0x[0-9a-fA-F]+>", "Python object repr"),
        (r"Traceback \(most recent call last\)", "traceback"),
        (r'File "[^"\n]+", line \d+', "traceback"),
        (r"\b(?:None|True|False)\b", "Python constant"),
        (r"\{[A-Za-z_][A-Za-z0-9_]*(?:![rsa])?(?::[^{}\s]*)?\}", "unfilled placeholder"),
    )
)

_LETTERS = re.compile(r"[^\W\d_]+")
_ASCII_WORD = re.compile(r"[A-Za-z]{2,}")
_TOKEN = re.compile(r"\S+")
_STRIP = "\"'«»“”„‘’()[]{}<>,;:!?…·›‹—–*•✓✗→←|"
_CODE_CHARS = re.compile(r"[-_/.@:0-9\\=#%&+~$^]")
_SECTION = re.compile(r"\[[a-z][a-z0-9_.]*\]")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


@dataclass(frozen=True)
class Finding:
    source: str  # where it came from: a page URL, a command, an alarm kind, an error code
    lang: str
    kind: str  # "english", "nb word", "ru word", "raw key", "raw structure", "page language"
    word: str
    context: str


# --- the vocabularies ------------------------------------------------------------------------


def words(text: str) -> Iterator[str]:
    """The ASCII words of ``text`` (>= 2 letters), lower-cased; letters runs with non-ASCII
    letters ("på", "møte", "журнал") are not English words and give nothing."""
    for run in _LETTERS.findall(text):
        if len(run) >= 2 and run.isascii():
            yield run.lower()


def po_entries(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of a .po file; plural entries give each form; [] when absent."""
    from babel.messages.pofile import read_po

    if not path.is_file():
        return []
    with path.open("rb") as fh:
        catalog = read_po(fh)
    out: list[tuple[str, str]] = []
    for m in catalog:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, (tuple, list)) else (m.id,)
        strs = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
        for i, s in enumerate(strs):
            out.append((str(ids[min(i, len(ids) - 1)]), str(s or "")))
        for extra in ids[len(strs) :]:
            out.append((str(extra), ""))
    return out


@functools.cache
def catalogue_keys() -> frozenset[str]:
    return frozenset(k for k, _ in po_entries(LOCALE / "en" / "LC_MESSAGES" / "parley.po"))


@functools.cache
def key_pattern() -> re.Pattern[str]:
    """A raw catalogue key: one of the key catalogue's first segments, a dot, more."""
    prefixes = sorted({k.split(".")[0] for k in catalogue_keys() if "." in k} | {"topic"})
    alternatives = "|".join(map(re.escape, prefixes))
    return re.compile(rf"(?:{alternatives})\.[A-Za-z0-9_.\-]*[A-Za-z0-9_]")


def python_literals(root: Path = PACKAGE) -> Iterator[str]:
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield node.value


_TAG = re.compile(r"<[^>]*>|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def template_texts(root: Path = TEMPLATES) -> Iterator[str]:
    for path in sorted(root.glob("*.html")):
        yield _TAG.sub(" ", path.read_text(encoding="utf-8"))


def _scenario_texts(lang: str) -> Iterator[str]:
    def walk(value: object, key: str = "") -> Iterator[str]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, k)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v, key)
        elif isinstance(value, str) and key == lang:
            yield value
        elif isinstance(value, str) and lang == "en" and key in ("title", "role"):
            yield value  # desk titles and attendees' roles: English data the scenario shows

    for path in sorted(SCENARIOS.glob("*.toml")):
        yield from walk(tomllib.loads(path.read_text(encoding="utf-8")))


def texts_po_files() -> list[Path]:
    return sorted(LOCALE.glob("*/LC_MESSAGES/texts.po"))


@functools.cache
def english_vocabulary() -> frozenset[str]:
    found: set[str] = set(COMMON_ENGLISH)
    sources: list[Iterable[str]] = [
        (s for _, s in po_entries(LOCALE / "en" / "LC_MESSAGES" / "parley.po")),
        (i for p in texts_po_files() for i, _ in po_entries(p)),
        python_literals(),
        template_texts(),
        _scenario_texts("en"),
    ]
    for source in sources:
        for text in source:
            found.update(words(text))
    return frozenset(found)


@functools.cache
def reader_vocabulary(lang: str) -> frozenset[str]:
    """Words the catalogues of ``lang`` use: Norwegian words that are spelt like English ones.

    An entry identical to its English text with three words or more is left out: a whole
    sentence copied from English is an untranslated entry, not a Norwegian one."""
    found: set[str] = set()
    en = dict(po_entries(LOCALE / "en" / "LC_MESSAGES" / "parley.po"))
    pairs = [(en.get(k, ""), s) for k, s in po_entries(LOCALE / lang / "LC_MESSAGES" / "parley.po")]
    pairs += po_entries(LOCALE / lang / "LC_MESSAGES" / "texts.po")
    for english, text in pairs:
        if _prose(text) == _prose(english) and len(list(words(_prose(text)))) >= 3:
            continue
        found.update(words(_prose(text)))
    found.update(w for t in _scenario_texts(lang) for w in words(_prose(t)))
    found.update(w for name in _calendar_names(lang) for w in words(name))
    return frozenset(found)


def _calendar_names(lang: str) -> Iterator[str]:
    """The month and day names Babel writes dates with in ``lang`` ("29. desember 1949"): the
    reader's words, though no catalogue holds them (a docstring may quote them)."""
    from babel import Locale

    locale = Locale.parse(lang)
    for table in (locale.months, locale.days):
        for widths in table.values():
            for names in widths.values():
                yield from names.values()


_BACKTICKS = re.compile(r"`[^`\n]*`")
_COMMAND = re.compile(r"\bparley(?:\s+(?:--?)?[a-z][a-z-]*){1,3}")


def _prose(text: str) -> str:
    """``text`` without placeholders, ``parley …`` commands and code tokens (ids, options)."""
    text = _COMMAND.sub(" ", _BACKTICKS.sub(" ", _PLACEHOLDER.sub(" ", text)))
    return " ".join(t for t in text.split() if not _CODE_CHARS.search(t.strip(_STRIP)))


def _all_words(lang: str) -> set[str]:
    texts = [s for _, s in po_entries(LOCALE / lang / "LC_MESSAGES" / "parley.po")]
    texts += [s for _, s in po_entries(LOCALE / lang / "LC_MESSAGES" / "texts.po")]
    return {w.lower() for t in texts for w in _LETTERS.findall(_prose(t)) if len(w) >= 4}


@functools.cache
def catalogue_words(lang: str) -> frozenset[str]:
    """Every word (any script, >= 4 letters, lower-cased) the catalogues of ``lang`` use and
    neither English nor the other reader's catalogues do: a Norwegian word on a Russian page,
    or a Russian one on a Norwegian page, is as wrong as an English one."""
    english = english_vocabulary()
    found = _all_words(lang) - _all_words(_OTHER[lang])
    return frozenset(w for w in found if w not in english and not allow_list().allows(w))


@dataclass(frozen=True)
class AllowList:
    exact: frozenset[str]  # entries with a capital letter: that spelling only
    anycase: frozenset[str]  # lower-case entries: any spelling

    def allows(self, word: str) -> bool:
        return word in self.exact or word.lower() in self.anycase


@functools.cache
def allow_list() -> AllowList:
    exact: set[str] = set()
    anycase: set[str] = set()
    for line in ALLOW_LIST.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        assert "#" in line, f"allow-list entry {entry!r} has no reason"
        (exact if entry != entry.lower() else anycase).add(entry)
    return AllowList(frozenset(exact), frozenset(anycase))


def is_english(word: str, lang: str) -> bool:
    """Whether ``word`` (one ASCII letter run) is English the reader of ``lang`` must not see."""
    if allow_list().allows(word):
        return False
    low = word.lower()
    if low not in english_vocabulary():
        return False
    # Norwegian shares spellings with English; Russian words are Cyrillic, so a Latin word in
    # the Russian catalogue (FLASH, MMSI) is a code or a name: it belongs on the allow-list.
    return lang != "nb" or low not in reader_vocabulary(lang)


# --- scanning text -----------------------------------------------------------------------------


def _context(text: str, start: int, end: int) -> str:
    a, b = max(0, start - CONTEXT), min(len(text), end + CONTEXT)
    snippet = ("…" if a else "") + text[a:b] + ("…" if b < len(text) else "")
    return " ".join(snippet.split())


_WORD_CHAR = r"[^\W_]"


def _blankable(values: Iterable[str]) -> list[str]:
    """The values worth blanking (>= 3 characters once trimmed), each also with its runs of
    white space made single (as a page's text node reads), longest first."""
    found = set()
    for value in values:
        for v in (value.strip(), " ".join(value.split())):
            if len(v) >= MIN_VALUE:
                found.add(v)
    return sorted(found, key=lambda v: (-len(v), v))


MIN_VALUE = 3  # shorter values ("NO", "en") are codes anyway, and would blank inside words


def blank_originals(text: str, originals: Iterable[str]) -> str:
    """``text`` with what people entered (the values) blanked out, longest first, each only
    where it stands as a whole (not "ola" inside "violation"); also where a value is cut
    short with "…" (its first 12 characters or more, up to where the text departs from it)."""
    for original in _blankable(originals):
        whole = re.compile(rf"(?<!{_WORD_CHAR}){re.escape(original)}(?!{_WORD_CHAR})")
        text = whole.sub(" ", text)
        head = original[:24]
        if len(head) < 12:
            continue
        start = _find_word_start(text, head)
        while start >= 0:
            end = start + len(head)
            while end < len(text) and end - start < len(original) and text[end] == original[end - start]:
                end += 1
            text = text[:start] + " " + text[end:]
            start = _find_word_start(text, head)
    return text


blank_values = blank_originals  # the name the language tests use for people's values


def _find_word_start(text: str, head: str) -> int:
    m = re.search(rf"(?<!{_WORD_CHAR}){re.escape(head)}", text)
    return m.start() if m else -1


def is_code_value(value: str) -> bool:
    """Whether a string of a message body is a code the product renders (an enum value such as
    ``border_situation`` or ``exercise``, a party ``NO``, a precedence ``ROUTINE``, an id)
    rather than words a person typed: one token of lower-case letters, digits, '_', '-', '.',
    ':' or of capitals and digits, or the last segment of a catalogue key. Codes are not
    blanked: shown raw, they are the product's fault and must still be found."""
    v = value.strip()
    return bool(_CODE_VALUE.fullmatch(v)) or v in _key_segments()


_CODE_VALUE = re.compile(r"[a-z0-9_.:\-]+|[A-Z0-9_\-]+")


@functools.cache
def _key_segments() -> frozenset[str]:
    return frozenset(k.rsplit(".", 1)[-1] for k in catalogue_keys())


# A value the product quotes with straight single quotes, Python's repr of what was typed
# (unknown operator 'nobody', 'not-a-date' is not a date): a value, not words. The quote must
# open a token and close one, so an English apostrophe ("operator's") is no quote.
_QUOTED = re.compile(r"(?<![\w'])'[^'\n]{1,120}'(?![\w'])")


def scan_text(text: str, *, lang: str, source: str, foreign: bool = True) -> list[Finding]:
    """Every English word, raw key and raw structure in ``text``, read by a ``lang`` reader;
    with ``foreign``, the other reader's catalogue words too; without, the other reader's
    words are let pass even where English spells them the same (the demo shows both sides)."""
    found: list[Finding] = []
    for pattern, what in RAW_STRUCTURES:
        for m in pattern.finditer(text):
            found.append(
                Finding(source, lang, "raw structure", f"{what}: {m.group(0)}", _context(text, *m.span()))
            )
    keys = key_pattern()
    # Commands quoted for the reader to type (`parley serve`, parley inbox --cursor …) are code.
    # Values quoted with single quotes are values (they are checked as raw structures above).
    spaces = lambda m: " " * len(m.group(0))  # noqa: E731 (keeps the spans for the context)
    typed = _QUOTED.sub(spaces, _COMMAND.sub(spaces, _BACKTICKS.sub(spaces, text)))
    for m in _TOKEN.finditer(typed):
        token = m.group(0).strip(_STRIP)
        if not token:
            continue
        ctx = _context(text, *m.span())
        if _SECTION.fullmatch(m.group(0).rstrip(",.;:")):
            continue  # a configuration section, [federation]
        if _is_raw_key(token, keys) or _SNAKE.fullmatch(token):
            found.append(Finding(source, lang, "raw key", token, ctx))
            continue
        if _CODE_CHARS.search(token) or _looks_like_hash(token):
            continue
        for run in _LETTERS.findall(token):
            if len(run) < 2:
                continue
            if run.isascii() and is_english(run, lang) and (foreign or not _theirs(run, lang)):
                found.append(Finding(source, lang, "english", run, ctx))
            elif foreign and lang in _OTHER and run.lower() in catalogue_words(_OTHER[lang]):
                found.append(Finding(source, lang, f"{_OTHER[lang]} word", run, ctx))
    return found


def _theirs(word: str, lang: str) -> bool:
    """Whether ``word`` is the other reader's own (a Norwegian "om", "radius" in a Russian text)."""
    return lang == "ru" and word.lower() in reader_vocabulary("nb")


_OTHER = {"nb": "ru", "ru": "nb"}  # the other reader's catalogue words are wrong here too


def _is_raw_key(token: str, keys: re.Pattern[str]) -> bool:
    """A catalogue key shown as it is: one the key catalogue has, or one of its shape with two
    dots or more (``console.nav.inbox``); ``console.key`` (a file) or ``parley.toml`` is not."""
    if token in catalogue_keys():
        return True
    return bool(keys.fullmatch(token)) and (token.count(".") >= 2 or token.split(".")[0] in _ONE_DOT)


_ONE_DOT = frozenset(["type", "topic", "precedence", "status", "enum", "field", "unit"])


def _looks_like_hash(token: str) -> bool:
    return (
        len(token) >= 16 and bool(re.fullmatch(r"[A-Za-z0-9+/=]+", token)) and any(c.isdigit() for c in token)
    )


# --- HTML as a person reads it -------------------------------------------------------------------

_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]
)
_HIDDEN = frozenset(["script", "style", "template", "svg", "head"])
_READ_ATTRS = ("title", "placeholder", "aria-label", "alt", "hx-confirm", "data-confirm", "label")


class _Visible(html.parser.HTMLParser):
    def __init__(self, lang: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = lang
        self.page_lang = ""
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.chunks: list[str] = []
        self.title: list[str] = []
        self.in_title = False

    def skipping(self) -> bool:
        return any(s for _, s in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "html":
            self.page_lang = a.get("lang", "")
        if tag == "title":
            self.in_title = True
        lang = a.get("lang", "")
        skip = (
            tag in _HIDDEN
            or (bool(lang) and lang.split("-")[0] != self.lang)
            or "signed-json" in a.get("class", "").split()
            or "hidden" in a
            or (tag == "input" and a.get("type", "text") == "hidden")
        )
        if not (skip or self.skipping()):
            for name in _READ_ATTRS:
                if a.get(name):
                    self.chunks.append(a[name])
            if tag == "input" and a.get("type") in ("submit", "button", "reset") and a.get("value"):
                self.chunks.append(a["value"])
        if tag not in _VOID:
            self.stack.append((tag, skip))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skipping() and data.strip():
            self.chunks.append(data)


def visible_text(page: str, lang: str) -> tuple[str, str]:
    """(the page's <html lang>, the text a person reads on it, one line per text node)."""
    p = _Visible(lang)
    p.feed(page)
    p.close()
    title = " ".join("".join(p.title).split())
    lines = [title] if title else []
    lines += [" ".join(c.split()) for c in p.chunks]
    return p.page_lang, "\n".join(line for line in lines if line)


def scan_html(page: str, *, lang: str, source: str, values: Iterable[str] = ()) -> list[Finding]:
    """The findings on a page as a person reads it; ``values`` (what people entered: desk
    titles, message texts, reasons, notes) are blanked out of its text first."""
    page_lang, text = visible_text(page, lang)
    text = blank_values(text, values)
    found = scan_text(text, lang=lang, source=source)
    if page_lang and page_lang.split("-")[0] != lang:
        found.append(Finding(source, lang, "page language", f'<html lang="{page_lang}">', ""))
    return found


# --- reporting -----------------------------------------------------------------------------------


def report(findings: list[Finding], *, limit: int = 400, with_summary: bool = True) -> str:
    """Grouped by source, each offending word with its context; then a summary for the fixers."""
    if not findings:
        return "no English words and no raw structures"
    by_source: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_source[f"{f.source} [{f.lang}]"].append(f)
    lines: list[str] = []
    shown = 0
    for source in sorted(by_source):
        items = by_source[source]
        lines.append(f"== {source}: {len(items)}")
        # One line per context: the words found in it, by kind.
        grouped: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for f in items:
            if f.word not in grouped[f.context][f.kind]:
                grouped[f.context][f.kind].append(f.word)
        for context, by_kind in grouped.items():
            if shown < limit:
                what = "; ".join(f"{kind}: {', '.join(ws)}" for kind, ws in by_kind.items())
                lines.append(f"   {what}  ‹{context}›")
            shown += 1
    if shown > limit:
        lines.append(f"   … and {shown - limit} more")
    if with_summary:
        lines += ["", summary(findings)]
    return "\n".join(lines)


def summary(findings: list[Finding], top: int = 30) -> str:
    per_source = Counter(f"{f.source.split(' ')[0]} [{f.lang}]" for f in findings)
    per_kind = Counter(f.kind for f in findings)
    per_word = Counter(f.word if f.kind != "raw structure" else f.word.split(":")[0] for f in findings)
    out = [f"{len(findings)} findings; by kind: " + ", ".join(f"{k} {n}" for k, n in per_kind.most_common())]
    out.append("by source: " + ", ".join(f"{k} {n}" for k, n in sorted(per_source.items())))
    out.append(f"top {top} words: " + ", ".join(f"{w} ({n})" for w, n in per_word.most_common(top)))
    return "\n".join(out)
