"""Card numbers and other secrets removed from the text that becomes a title or a body, as it is landed.

Why at landing (``extract/raw.py`` calls ``Redactor`` on the columns each platform declares as free
text, before the raw Parquet is written): no copy of a value ever reaches the work dir (the raw
tables, the DuckDB file, a Spark warehouse, the rejects), and one Python function does it for every
engine and topology, a Spark Thrift server included, where no Python function can be registered
in SQL. docs/redaction.md says what is caught, what is not, and what was measured.

What is caught, each kind behind a check that keeps look-alikes intact:

- ``card_number`` (on by default): 13-19 digits, a space, dash or no-break space allowed between
  groups, glued to words or not, with a known card prefix and length (Visa, Mastercard, Amex,
  Discover, JCB, Diners, UnionPay, Maestro, Mir) and a valid Luhn check digit, and not groups in
  the middle of a longer number grouped the same way (a tracking number in groups of four);
- ``iban``: an IBAN whose country format and mod-97 check digits are valid (``stdnum.iban``);
- ``us_ssn``: ``NNN-NN-NNNN`` outside the ranges never issued (``stdnum.us.ssn``);
- custom patterns: a name and a Python regular expression each.

The checksums are python-stdnum's. Each detector has a cheap pre-filter (the shape its values must
have: e.g. 13 digits in a row, separators allowed) that the writer runs on a whole column at once
(``candidates``: RE2 through pyarrow), so the Python work is spent only on the texts that may hold
a value. A value found is replaced by ``replacement`` (``{kind}`` is its kind) and counted; the
value itself is never kept, logged or written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from extract import options as opt

if TYPE_CHECKING:
    import pyarrow as pa

CARD = "card_number"
IBAN = "iban"
US_SSN = "us_ssn"
BUILT_IN_KINDS = (CARD, IBAN, US_SSN)
# What a count says, singular and plural: "1,204 card numbers removed from 1,187 items".
KIND_WORDS = {CARD: ("card number", "card numbers"), IBAN: ("IBAN", "IBANs"),
              US_SSN: ("US social security number", "US social security numbers")}
DEFAULT_REPLACEMENT = "[redacted {kind}]"

PATTERN_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_PATTERNS = 50
MAX_REGEX_CHARS = 300
MAX_REPLACEMENT_CHARS = 100


def kind_words(kind: str, count: int = 2) -> str:
    """A kind in words: "card numbers", "IBAN", "order_token matches"."""
    one, many = KIND_WORDS.get(kind, (f"{kind} match", f"{kind} matches"))
    return one if count == 1 else many


# -- card numbers -------------------------------------------------------------------------------

# Between two groups of digits: one space, dash or no-break space (HTML-to-text leaves those).
CARD_SEPARATORS = " -\u00a0"
_CARD_SEPARATOR = "[ \\-\u00a0]"  # the same as a character class (the dash escaped, not a range)
# A run of digit groups holding 13 digits or more (a shorter run is no card): matched whole, as
# the first start that reaches 13 digits is a run's first digit.
CARD_RUN = re.compile(f"[0-9](?:{_CARD_SEPARATOR}?[0-9]){{12,}}")
# The pre-filter: 13 digits, at most one separator between two of them (the same text in Python
# and RE2 syntax: the no-break space is the character itself).
CARD_PREFILTER = f"[0-9](?:{_CARD_SEPARATOR}?[0-9]){{12}}"
CARD_MIN_DIGITS, CARD_MAX_DIGITS = 13, 19

# Issuer prefixes (IIN ranges: first digits from, to) and the lengths their numbers have.
# The issuer identification number ranges the schemes publish (Wikipedia's "Payment card number" lists them).
CARD_RANGES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({16, 19})),                           # Visa (its 13-digit numbers expired long ago;
                                                               # 10% of German EAN-13 barcodes would pass)
    ("51", "55", frozenset({16})),                             # Mastercard
    ("2221", "2720", frozenset({16})),                         # Mastercard 2-series
    ("34", "34", frozenset({15})), ("37", "37", frozenset({15})),  # American Express
    ("6011", "6011", frozenset(range(16, 20))),                # Discover
    ("644", "649", frozenset(range(16, 20))),
    ("65", "65", frozenset(range(16, 20))),
    ("3528", "3589", frozenset(range(16, 20))),                # JCB
    ("300", "305", frozenset(range(14, 20))),                  # Diners Club
    ("3095", "3095", frozenset(range(14, 20))),
    ("36", "36", frozenset(range(14, 20))), ("38", "39", frozenset(range(16, 20))),
    ("62", "62", frozenset(range(16, 20))),                    # UnionPay
    ("81", "81", frozenset(range(16, 20))),
    ("2200", "2204", frozenset(range(16, 20))),                # Mir
    ("5018", "5018", frozenset(range(13, 20))), ("5020", "5020", frozenset(range(13, 20))),  # Maestro
    ("5038", "5038", frozenset(range(13, 20))), ("5893", "5893", frozenset(range(13, 20))),
    ("6304", "6304", frozenset(range(13, 20))), ("6759", "6759", frozenset(range(13, 20))),
    ("6761", "6763", frozenset(range(13, 20))),
)


# Every issuer prefix spelled out (2221 ... 2720), with its lengths: one look-up per prefix length.
CARD_PREFIXES: dict[str, frozenset[int]] = {
    str(prefix).zfill(len(low)): lengths
    for low, high, lengths in CARD_RANGES for prefix in range(int(low), int(high) + 1)}
CARD_PREFIX_LENGTHS = sorted({len(prefix) for prefix in CARD_PREFIXES}, reverse=True)


def is_card_number(digits: str) -> bool:
    """13-19 digits with a known issuer prefix, a length that issuer uses, and a valid Luhn check."""
    from stdnum import luhn

    for size in CARD_PREFIX_LENGTHS:
        lengths = CARD_PREFIXES.get(digits[:size])
        if lengths is not None:
            return len(digits) in lengths and luhn.is_valid(digits)
    return False


def _group_spans(text: str, start: int, end: int, is_separator: Callable[[str], bool]) -> list[tuple[int, int]]:
    """The (start, end) of each group of a run, the run cut at its separators."""
    groups, begin = [], start
    for index in range(start, end):
        if is_separator(text[index]):
            groups.append((begin, index))
            begin = index + 1
    groups.append((begin, end))
    return groups


def _whole_groups(text: str, groups: list[tuple[int, int]], valid: Callable[[str], bool], min_chars: int,
                  max_chars: int, may_start: Callable[[int], bool] = lambda index: True,
                  may_take: Callable[[int, int], bool] = lambda first, last: True) -> Iterator[tuple[int, int]]:
    """Values made of whole groups of a run: from each group on, the longest that ``valid`` accepts
    (a card typed after an order number, or followed by its CVC, still ends on a group)."""
    index = 0
    while index < len(groups):
        found = None
        if may_start(index):
            chars, last, ends = 0, index, []
            while last < len(groups) and chars <= max_chars:
                chars += groups[last][1] - groups[last][0]
                if min_chars <= chars <= max_chars:
                    ends.append(last)
                last += 1
            found = next((end for end in reversed(ends) if may_take(index, end)
                          and valid("".join(text[s:e] for s, e in groups[index:end + 1]))), None)
        if found is None:
            index += 1
            continue
        yield groups[index][0], groups[found][1]
        index = found + 1


def _inside_a_longer_grouping(groups: list[tuple[int, int]], first: int, last: int) -> bool:
    """Groups continued by a group of the same length (of 3 digits or more) just before or just after
    them: part of a longer number grouped the same way (a USPS tracking number, 9400 1000 0000 0000
    0000 00), not a card. A card after a short group ("order 12 4111 1111 ...") or before its CVC is one."""
    def size(index: int) -> int:
        return groups[index][1] - groups[index][0]

    return ((first > 0 and size(first - 1) == size(first) >= 3)
            or (last + 1 < len(groups) and size(last + 1) == size(last) >= 3))


def find_card_numbers(text: str) -> Iterator[tuple[int, int]]:
    for run in CARD_RUN.finditer(text):
        groups = _group_spans(text, run.start(), run.end(), CARD_SEPARATORS.__contains__)
        yield from _whole_groups(text, groups, is_card_number, CARD_MIN_DIGITS, CARD_MAX_DIGITS,
                                 may_take=lambda first, last, g=groups: not _inside_a_longer_grouping(g, first, last))


# -- IBANs ----------------------------------------------------------------------------------------

# A run of letter-and-digit groups that starts like an IBAN (country, two check digits), not inside
# a word; groups separated by one space or dash (printed IBANs come in groups of four).
IBAN_START = re.compile(r"[A-Za-z]{2}[0-9]{2}")
IBAN_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}[A-Za-z0-9]*(?:[ \-][A-Za-z0-9]+)*")
IBAN_MIN_CHARS, IBAN_MAX_CHARS = 15, 34
# The pre-filter: a country, check digits and 11 more letters or digits, one separator at most
# between two (the shortest IBAN, Norway's, has 15 characters).
IBAN_PREFILTER = r"[A-Za-z]{2}[0-9]{2}(?:[ \-]?[A-Za-z0-9]){11}"
_IBAN_PREFILTER = re.compile(IBAN_PREFILTER)


def is_iban(compact: str) -> bool:
    """A known country's IBAN structure with valid mod-97 check digits (``stdnum.iban``). Not its bank
    registries (``check_country``): an account at a bank they do not list yet is still removed."""
    from stdnum import iban

    return iban.is_valid(compact, check_country=False)


def find_ibans(text: str) -> Iterator[tuple[int, int]]:
    if _IBAN_PREFILTER.search(text) is None:
        return
    for run in IBAN_RUN.finditer(text):
        if run.end() - run.start() < IBAN_MIN_CHARS:
            continue
        groups = _group_spans(text, run.start(), run.end(), " -".__contains__)
        yield from _whole_groups(text, groups, is_iban, IBAN_MIN_CHARS, IBAN_MAX_CHARS,
                                 lambda index, g=groups: IBAN_START.match(text, g[index][0]) is not None)


# -- US social security numbers ---------------------------------------------------------------------

US_SSN_PREFILTER = "[0-9]{3}-[0-9]{2}-[0-9]{4}"
US_SSN_RE = re.compile(r"(?<![0-9-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9-])")


def is_us_ssn(value: str) -> bool:
    """Not in a range never issued: area 000, 666 or 900-999, group 00, serial 0000 (``stdnum.us.ssn``)."""
    from stdnum.us import ssn

    return ssn.is_valid(value)


def find_us_ssns(text: str) -> Iterator[tuple[int, int]]:
    for match in US_SSN_RE.finditer(text):
        if is_us_ssn(match.group()):
            yield match.span()


# -- the redactor -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detector:
    """One kind of value: how to find it, and the shape any text holding one has (``prefilter``, a
    pattern with the same meaning in Python and RE2; None: every text is looked at)."""

    kind: str
    find: Callable[[str], Iterator[tuple[int, int]]]
    prefilter: str | None


BUILT_IN = {CARD: Detector(CARD, find_card_numbers, CARD_PREFILTER),
            IBAN: Detector(IBAN, find_ibans, IBAN_PREFILTER),
            US_SSN: Detector(US_SSN, find_us_ssns, US_SSN_PREFILTER)}


def _custom(kind: str, pattern: re.Pattern[str]) -> Detector:
    def find(text: str) -> Iterator[tuple[int, int]]:
        for match in pattern.finditer(text):
            if match.end() > match.start():
                yield match.span()

    return Detector(kind, find, _literal_prefilter(pattern))


def _literal_prefilter(pattern: re.Pattern[str]) -> str | None:
    """For a pattern that starts with a literal text (``tok_`` in ``tok_[A-Za-z0-9]{24}``), case
    sensitive: that text as an RE2 pattern, which every text it matches holds. None otherwise: the
    pattern is then run on every text (RE2's ``\\d``, ``\\w``, ``\\b`` are ASCII, Python's are not)."""
    try:
        from re import _constants as sre_constants  # type: ignore[attr-defined]
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:
        return None
    if pattern.flags & re.IGNORECASE:
        return None
    literal = []
    for op, av in sre_parse.parse(pattern.pattern, pattern.flags & ~re.UNICODE):
        if op != sre_constants.LITERAL:
            break
        literal.append(chr(av))
    if len(literal) < 3:
        return None
    return "".join(c if c.isalnum() or ord(c) > 127 else f"\\x{{{ord(c):02x}}}" for c in literal)


@dataclass(frozen=True)
class Redactor:
    """The detectors a config turns on, and what a value found becomes."""

    detectors: tuple[Detector, ...] = ()
    replacement: str = DEFAULT_REPLACEMENT
    _marks: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_marks", {d.kind: self.replacement.replace("{kind}", d.kind) for d in self.detectors})

    def __bool__(self) -> bool:
        return bool(self.detectors)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(d.kind for d in self.detectors)

    def spans(self, text: str, detectors: tuple[Detector, ...] | None = None) -> list[tuple[int, int, str]]:
        """Every value found (by ``detectors``, default all), as (start, end, kind), in order and never
        overlapping: where two overlap, the one starting first wins, then the longer, then the kind
        listed first."""
        found = [(start, end, order, d.kind) for order, d in enumerate(self.detectors)
                 if detectors is None or d in detectors for start, end in d.find(text)]
        if not found:
            return []
        found.sort(key=lambda f: (f[0], f[0] - f[1], f[2]))
        kept, position = [], 0
        for start, end, _, kind in found:
            if start >= position:
                kept.append((start, end, kind))
                position = end
        return kept

    def redact(self, text: str, detectors: tuple[Detector, ...] | None = None) -> tuple[str, dict[str, int]]:
        """The text with every value found replaced, and how many of each kind were."""
        spans = self.spans(text, detectors)
        if not spans:
            return text, {}
        parts, counts, position = [], {}, 0
        for start, end, kind in spans:
            parts.append(text[position:start])
            parts.append(self._marks[kind])
            counts[kind] = counts.get(kind, 0) + 1
            position = end
        parts.append(text[position:])
        return "".join(parts), counts

    def candidates(self, array: pa.Array) -> dict[int, tuple[Detector, ...]]:
        """The texts of a string column that may hold a value, by position, each with the detectors
        to run on it: a built-in kind where its pre-filter matches, a custom pattern on every text
        (its RE2 meaning may differ from Python's) unless it starts with a literal. The pre-filters
        run in RE2 over the whole column at once, all of them in one pass, then each on the few texts
        that pass."""
        import pyarrow.compute as pc

        found: dict[int, list[Detector]] = {}
        filtered = [d for d in self.detectors if d.prefilter is not None]
        if filtered:
            any_filter = "|".join(f"(?:{d.prefilter})" for d in filtered)
            rows = pc.indices_nonzero(pc.fill_null(pc.match_substring_regex(array, any_filter), False))
            if len(rows):
                texts = array.take(rows)
                positions = rows.to_pylist()
                for detector in filtered:
                    mask = pc.match_substring_regex(texts, detector.prefilter) if len(filtered) > 1 else None
                    for index in (pc.indices_nonzero(mask).to_pylist() if mask is not None else range(len(positions))):
                        found.setdefault(positions[index], []).append(detector)
        unfiltered = [d for d in self.detectors if d.prefilter is None]
        if unfiltered:
            for row in pc.indices_nonzero(pc.is_valid(array)).to_pylist():
                found.setdefault(row, []).extend(unfiltered)
        order = {d.kind: n for n, d in enumerate(self.detectors)}
        return {row: tuple(sorted(detectors, key=lambda d: order[d.kind])) for row, detectors in found.items()}

    def redact_array(self, array: pa.Array) -> tuple[pa.Array, dict[int, dict[str, int]]]:
        """A string column redacted (the same array when nothing was found), and the values found
        per row and kind."""
        import pyarrow as pa

        candidates = self.candidates(array)
        if not candidates:
            return array, {}
        values = array.to_pylist()
        found = {}
        for row, detectors in candidates.items():
            text, counts = self.redact(values[row], detectors)
            if counts:
                values[row] = text
                found[row] = counts
        return (pa.array(values, type=array.type) if found else array), found


NO_REDACTION = Redactor()


# -- the redact: block of the config ------------------------------------------------------------------


def _repeat_nesting_problem(regex: str) -> str | None:
    """A variable repetition around an unbounded one, such as ``(a+)+`` or ``(\\w+\\s?){1,20}``, can take
    exponential time on an unlucky text: refused (found in the parsed pattern, never by running it)."""
    try:
        from re import _constants as sre_constants  # type: ignore[attr-defined]
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # another Python's internals: the length cap still holds
        return None
    repeats = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
    possessive = getattr(sre_constants, "POSSESSIVE_REPEAT", None)

    def has_unbounded(items: Any) -> bool:
        for op, av in items:
            if op in repeats or op == possessive:
                low, high, body = av
                if high == sre_constants.MAXREPEAT or has_unbounded(body):
                    return True
            elif (inner := _children(op, av, sre_constants)) and any(has_unbounded(c) for c in inner):
                return True
        return False

    def nested(items: Any) -> bool:
        for op, av in items:
            if op in repeats:
                low, high, body = av
                if high > 1 and low != high and has_unbounded(body):
                    return True
                if nested(body):
                    return True
            elif (inner := _children(op, av, sre_constants)) and any(nested(c) for c in inner):
                return True
        return False

    try:
        parsed = sre_parse.parse(regex)
    except re.error:
        return None
    if nested(parsed):
        return "has a repetition inside a repetition, such as (a+)+, that can take exponential time: rewrite it"
    return None


def _children(op: Any, av: Any, c: Any) -> list[Any]:
    """The sub-patterns of one parsed node (groups, alternatives, look-arounds)."""
    if op == c.SUBPATTERN:
        return [av[-1]]
    if op == c.BRANCH:
        return list(av[1])
    if op in (c.ASSERT, c.ASSERT_NOT):
        return [av[1]]
    if op == getattr(c, "ATOMIC_GROUP", None):
        return [av]
    if op == c.GROUPREF_EXISTS:
        return [branch for branch in av[1:] if branch is not None]
    return []


def pattern_problem(regex: Any) -> str | None:
    """What is wrong with one custom regular expression, in words that never repeat it."""
    if not isinstance(regex, str) or not regex.strip():
        return "must be a regular expression (a text)"
    if len(regex) > MAX_REGEX_CHARS:
        return f"is {len(regex):,} characters long: at most {MAX_REGEX_CHARS} (a longer one is not a pattern of one value)"
    try:
        compiled = re.compile(regex)
    except re.error as error:
        where = f" at position {error.pos}" if error.pos is not None else ""
        return f"is not a valid regular expression: {error.msg}{where}"
    if compiled.search("") is not None:
        return "matches an empty text, so it would match everywhere: make it match at least one character"
    return _repeat_nesting_problem(regex)


def _patterns_problem(value: list[Any]) -> str | None:
    if len(value) > MAX_PATTERNS:
        return f"holds {len(value)} patterns: at most {MAX_PATTERNS}"
    problems, names = [], set()
    for number, entry in enumerate(value, start=1):
        if not isinstance(entry, dict):
            problems.append(f"entry {number}: must be a mapping {{name: ..., regex: ...}}, got {opt.shown(entry)}")
            continue
        name = entry.get("name")
        label = f"entry {number}" + (f" ({name})" if isinstance(name, str) and PATTERN_NAME_RE.fullmatch(name) else "")
        unknown = sorted(opt.key_shown(k) for k in entry if k not in ("name", "regex"))
        if unknown:
            problems.append(f"{label}: unknown key {', '.join(unknown)} (allowed: name, regex)")
        if not isinstance(name, str) or not PATTERN_NAME_RE.fullmatch(name):
            problems.append(f"{label}: name must be a lower-case name such as order_token (letters, digits, _),"
                            f" got {opt.shown(name)}")
        elif name in BUILT_IN_KINDS or name in names:
            problems.append(f"{label}: name '{name}' is " + ("a built-in kind" if name in BUILT_IN_KINDS
                                                              else "used by an earlier entry"))
        else:
            names.add(name)
        if (problem := pattern_problem(entry.get("regex"))) is not None:
            problems.append(f"{label}: regex {problem}")
    return "; ".join(problems) or None


def _replacement_problem(value: str) -> str | None:
    if len(value) > MAX_REPLACEMENT_CHARS or not value.isprintable():
        return f"must be one line of at most {MAX_REPLACEMENT_CHARS} characters, got {opt.shown(value)}"
    return None


PATTERNS = opt.Option("a list of {name, regex} (a lower-case name, a Python regular expression)",
                      lambda v: isinstance(v, list), check_value=_patterns_problem)
REPLACEMENT = opt.Option('a text ("{kind}" in it becomes the kind removed)', lambda v: isinstance(v, str),
                         check_value=_replacement_problem)

SETTINGS = opt.Settings((
    opt.Setting("card_numbers", opt.FLAG, "remove card numbers (13-19 digits, spaces or dashes between groups,"
                " a known card prefix, Luhn-valid)", default=True),
    opt.Setting("iban", opt.FLAG, "remove IBANs (a known country's format, valid mod-97 check digits)", default=False),
    opt.Setting("us_ssn", opt.FLAG, "remove US social security numbers (NNN-NN-NNNN outside the ranges never issued)",
                default=False),
    opt.Setting("patterns", PATTERNS, "your own kinds of value to remove, each a name and a regular expression",
                shows="none"),
    opt.Setting("replacement", REPLACEMENT, "what a removed value becomes", default=DEFAULT_REPLACEMENT,
                shows=f"`{DEFAULT_REPLACEMENT}`"),
))


def redactor_from(block: Mapping[str, Any] | None) -> Redactor:
    """The redactor of a checked ``redact:`` block (None or absent: the defaults, card numbers on)."""
    values = SETTINGS.resolve(block)
    detectors = [BUILT_IN[kind] for kind, key in ((CARD, "card_numbers"), (IBAN, "iban"), (US_SSN, "us_ssn"))
                 if values[key]]
    detectors += [_custom(entry["name"], re.compile(entry["regex"])) for entry in values["patterns"] or []]
    return Redactor(tuple(detectors), values["replacement"])
