"""Property filters (``start_where`` / ``return_where`` / ``user_where``): typed conditions and their Ibis predicates.

A filter is a conjunction of :class:`Condition` ``(column, op, value)``. The operators are the ones PostHog,
Amplitude and Mixpanel offer, and each has one explicit answer for a null (unset) value, PostHog's:

==================  ===========================================  ==============================
op                  holds when (value ``x`` of the row)          unset (null) ``x``
==================  ===========================================  ==============================
``exact``           ``x == value``                               never matches
``is_not``          ``x != value``                               **matches**
``in``              ``x`` is one of ``value`` (a tuple)          never matches
``not_in``          ``x`` is none of ``value``                   **matches**
``contains``        ``value`` is a substring of ``x``            never matches
``not_contains``    it is not                                    **matches**
``icontains``       the same, both sides lower-cased             never matches
``not_icontains``   not ``icontains``                            **matches**
``regex``           the pattern matches somewhere in ``x``       never matches
``not_regex``       it does not                                  **matches**
``gt gte lt lte``   ``number(x) > >= < <= value``                never matches
``between``         ``lo <= number(x) <= hi``, ``value=(lo, hi)``  never matches
``is_set``          ``x`` is not null                            does not match
``is_not_set``      ``x`` is null                                matches
==================  ===========================================  ==============================

Why these null answers: they are what PostHog compiles. ``posthog/hogql/property.py`` (``_expr_to_compare_op``)
turns ``is_not`` into ``x != v``, ``not_icontains`` into ``toString(x) NOT ILIKE '%v%'``, ``not_in`` into
``x NOT IN (...)``, ``regex`` into ``ifNull(match(toString(x), v), 0)`` and ``not_regex`` into
``ifNull(not(match(toString(x), v)), 1)``; ``is_set`` / ``is_not_set`` into ``x != NULL`` / ``x = NULL``; a list
value for ``is_not`` / ``not_icontains`` / ``not_regex`` is an ``and`` of the single conditions, for the others an
``or``. Its ClickHouse printer (``visit_compare_operation``) then wraps nullable comparisons: ``=``, ``LIKE``,
``ILIKE``, ``<``, ``>`` ... in ``ifNull(..., 0)`` and the negations ``!=``, ``NOT LIKE``, ``NOT ILIKE``,
``NOT IN`` in ``ifNull(..., 1)`` (its comment: "NULL NOT ILIKE pattern should be TRUE"). So a user whose event has
no ``city`` is kept by ``city is_not bj`` and dropped by ``city exact bj``: "not bj" includes "unknown", as in
PostHog. (Mixpanel and Amplitude treat "is not" the same way in their UIs.)

Deliberate differences from PostHog, each so that DuckDB and Spark return identical numbers:

- ``contains`` / ``icontains`` take ``value`` literally; PostHog pastes it into an ``ILIKE`` pattern unescaped, so
  ``%`` and ``_`` are wildcards there. Case-insensitive means both sides go through the engine's ``lower()``
  (identical to ILIKE for ASCII; non-ASCII case folding is engine-defined). PostHog has no case-sensitive
  ``contains``; Mixpanel and Amplitude do.
- Numbers: a string column is a number when it is a plain decimal, ``[+-]`` then up to 20 digits, optionally a
  point and up to 20 digits (or a point and 1-20 digits), optionally ``e``/``E``, a sign and 1-2 exponent digits
  (``"10"``, ``"-2.5"``, ``".5"``, ``"3e2"``). Anything else, including ``"inf"``, ``"nan"``, hex, thousands
  separators and surrounding spaces, is not a number and never matches a numeric condition (PostHog: ``toFloat``
  gives null, and a null comparison is false). The bounds keep every number inside the double range, where the
  engines' string-to-double parsers agree. Numeric columns (``amount``) are compared as they are.
- ``regex`` is RE2 (PostHog's ClickHouse ``match`` and DuckDB's ``regexp_matches``), unanchored, restricted to
  the part of the syntax on which RE2 and Java (Spark's ``RLIKE``) agree; anything else is rejected when the spec
  is validated, on every engine, so a spec that runs on DuckDB runs on Spark with the same numbers. Allowed:
  literal characters; ``.``; ``^`` and ``$`` (start / end of the whole value); ``|``; groups ``( )`` and
  ``(?: )``; ``* + ?`` and ``{m}`` ``{m,}`` ``{m,n}``, each optionally lazy (``?``); escapes ``\\d \\D \\w \\W``
  (ASCII), ``\\s \\S`` (``[\\t\\n\\f\\r ]``), ``\\t \\n \\r \\f`` and any escaped punctuation; classes ``[...]`` /
  ``[^...]`` of literals, escapes and ranges ``a-z`` (write a literal ``-``, ``[`` or ``]`` inside a class
  escaped). Not allowed: flags (``(?i)``: use ``icontains``), lookaround, backreferences, named groups,
  ``\\b``, ``\\A``, ``\\z``, Unicode classes, possessive quantifiers, unescaped ``{``/``}``/``]`` as literals.
  The pattern is rewritten (``.`` to ``[^\\n]``, ``$`` to ``\\z``, ``\\s`` to its class) so that Java, whose ``.``
  also stops at ``\\r`` and whose ``$`` also matches before a final newline, means exactly what RE2 means.

String operators take string columns (property columns are stored as strings); numeric operators take string or
numeric columns; ``is_set`` / ``is_not_set`` take any column.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NoReturn

import ibis
import ibis.expr.types as ir

from liuliang.errors import UnsupportedOperationError, WorkspaceError

Op = Literal[
    "exact",
    "is_not",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "icontains",
    "not_icontains",
    "regex",
    "not_regex",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "is_set",
    "is_not_set",
]
#: Operators on one string value (``in`` / ``not_in`` take a tuple of strings).
TEXT_OPS = ("exact", "is_not", "contains", "not_contains", "icontains", "not_icontains", "regex", "not_regex")
SET_OPS = ("in", "not_in")
NUMERIC_OPS = ("gt", "gte", "lt", "lte", "between")
PRESENCE_OPS = ("is_set", "is_not_set")
OPS: tuple[str, ...] = TEXT_OPS + SET_OPS + NUMERIC_OPS + PRESENCE_OPS
#: Negated operators: an unset (null) value matches them (PostHog's ``ifNull(..., 1)``).
NEGATED = frozenset({"is_not", "not_in", "not_contains", "not_icontains", "not_regex"})

#: A plain decimal (module docstring). Written in the RE2/Java common syntax; ``\z`` is the end of the value in both.
NUMBER_PATTERN = r"^[+-]?([0-9]{1,20}([.][0-9]{0,20})?|[.][0-9]{1,20})([eE][+-]?[0-9]{1,2})?\z"


@dataclass(frozen=True)
class Condition:
    """One condition ``column op value`` of a filter (module docstring for the operators and null semantics).

    Construction only canonicalises, so equal filters give equal, hashable specs: ``exact`` / ``is_not`` with
    several values become ``in`` / ``not_in``; set values become a sorted tuple of distinct strings; numeric
    values become floats (``between``: a pair); other values become strings. Problems are reported by
    :meth:`problem` (the spec's ``retention_where_invalid`` rule), not raised here.

    >>> Condition("city", "is_not", ["sh", "bj"])
    Condition(column='city', op='not_in', value=('bj', 'sh'))
    >>> Condition("level", "between", ("1", 5)).value
    (1.0, 5.0)
    """

    column: str
    op: str = "exact"
    value: object = None

    def __post_init__(self) -> None:
        op, value = self.op, self.value
        many = value is not None and not isinstance(value, str | int | float) and _iterable(value)
        if op in ("exact", "is_not") and many:
            op = "in" if op == "exact" else "not_in"
        if op in SET_OPS:
            if isinstance(value, str):
                value = (value,)
            elif many:
                value = tuple(sorted({str(v) for v in value}))  # type: ignore[union-attr]
        elif op in TEXT_OPS:
            if many:
                value = tuple(value)  # type: ignore[arg-type]
            elif value is not None and not isinstance(value, bool):
                value = str(value)
        elif op in NUMERIC_OPS:
            if op == "between" and many:
                value = tuple(_number(v) for v in value)  # type: ignore[union-attr]
            elif op != "between":
                value = _number(value)
        elif many:
            value = tuple(value)  # type: ignore[arg-type]
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "value", value)

    def problem(self) -> str | None:
        """Why this condition cannot run, or None."""
        op, v = self.op, self.value
        if not isinstance(self.column, str) or not self.column:
            return "needs a column name"
        if op not in OPS:
            return f"has an unknown operator {op!r}; operators: {', '.join(OPS)}"
        if op in PRESENCE_OPS:
            return None if v is None else f"{op} takes no value (got {v!r})"
        if op in SET_OPS:
            ok = isinstance(v, tuple) and v and all(isinstance(x, str) for x in v)
            return None if ok else f"{op} needs one or more string values (got {v!r})"
        if op in TEXT_OPS:
            if not isinstance(v, str):
                return f"{op} needs a string value (got {v!r})"
            if op in ("regex", "not_regex"):
                try:
                    portable_regex(v)
                except ValueError as e:
                    return str(e)
            return None
        if op == "between":
            ok = isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, float) and math.isfinite(x) for x in v)
            if not ok:
                return f"between needs two numbers (low, high) (got {v!r})"
            return None if v[0] <= v[1] else f"between needs low <= high (got {v!r})"  # type: ignore[index]
        ok = isinstance(v, float) and math.isfinite(v)
        return None if ok else f"{op} needs a finite number (got {v!r})"

    def __str__(self) -> str:
        """The condition as the CLI's ``--where`` syntax (``COLUMN:OP:VALUE``)."""
        if self.op in PRESENCE_OPS:
            return f"{self.column}:{self.op}"
        v = self.value
        text = ",".join(_fmt(x) for x in v) if isinstance(v, tuple) else _fmt(v)
        return f"{self.column}:{self.op}:{text}"


def _fmt(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _iterable(value: object) -> bool:
    try:
        iter(value)  # type: ignore[call-overload]
    except TypeError:
        return False
    return not isinstance(value, dict)


def _number(value: object) -> object:
    """``float(value)`` for numbers and numeric strings; anything else unchanged (reported by ``problem``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


# -- the portable regex subset ----------------------------------------------------------------------------------
_SPACE = r"\t\n\f\r "
_PUNCT = frozenset(string.punctuation)


def portable_regex(pattern: str) -> str:
    """``pattern`` rewritten to mean the same in RE2 (DuckDB) and Java (Spark); ``ValueError`` outside the subset.

    The subset and the rewrites are listed in the module docstring.
    """

    def fail(what: str) -> NoReturn:
        raise ValueError(f"regex {pattern!r}: {what} is outside the syntax DuckDB (RE2) and Spark (Java) share")

    out: list[str] = []
    i, n, depth = 0, len(pattern), 0
    prev = "start"  # what the next quantifier would repeat: only an "atom" can be repeated
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                fail("a trailing backslash")
            e = pattern[i + 1]
            if e in "dDwWtnrf" or e in _PUNCT:
                out.append("\\" + e)
            elif e == "s":
                out.append(f"[{_SPACE}]")
            elif e == "S":
                out.append(f"[^{_SPACE}]")
            else:
                fail(f"the escape \\{e}")
            i, prev = i + 2, "atom"
        elif ch == "[":
            i, text = _class(pattern, i, fail)
            out.append(text)
            prev = "atom"
        elif ch in "*+?" or ch == "{":
            if prev != "atom":
                fail(f"{ch!r} with nothing to repeat (or a possessive / doubled quantifier)")
            if ch == "{":
                m = re.match(r"\{([0-9]{1,4})(,([0-9]{0,4}))?\}", pattern[i:])
                if not m:
                    fail("a '{' that is not a repetition {m}, {m,} or {m,n} (write a literal as \\{)")
                lo, hi = int(m.group(1)), m.group(3)  # type: ignore[union-attr]
                if lo > 1000 or (hi and (int(hi) < lo or int(hi) > 1000)):
                    fail(f"the repetition {m.group(0)}")  # type: ignore[union-attr]
                out.append(m.group(0))  # type: ignore[union-attr]
                i += len(m.group(0))  # type: ignore[union-attr]
            else:
                out.append(ch)
                i += 1
            if i < n and pattern[i] == "?":
                out.append("?")
                i += 1
            prev = "quantifier"
        elif ch in "}]":
            fail(f"an unescaped {ch!r} (write a literal as \\{ch})")
        elif ch == "(":
            if pattern.startswith("(?:", i):
                out.append("(?:")
                i += 3
            elif pattern.startswith("(?", i):
                fail("'(?' other than '(?:' (flags, lookaround, named groups)")
            else:
                out.append("(")
                i += 1
            depth, prev = depth + 1, "open"
        elif ch == ")":
            if depth == 0:
                fail("an unbalanced ')'")
            out.append(")")
            depth, i, prev = depth - 1, i + 1, "atom"
        elif ch in "|^$":
            out.append("\\z" if ch == "$" else ch)
            i, prev = i + 1, "anchor"
        elif ch == ".":
            out.append("[^\\n]")
            i, prev = i + 1, "atom"
        else:
            out.append(ch)
            i, prev = i + 1, "atom"
    if depth:
        fail("an unbalanced '('")
    return "".join(out)


def _class(p: str, i: int, fail: Callable[[str], NoReturn]) -> tuple[int, str]:
    """Parse the class starting at ``p[i] == "["``: (index after it, rewritten text)."""
    n, j, out = len(p), i + 1, ["["]
    if j < n and p[j] == "^":
        out.append("^")
        j += 1
    items = 0
    while True:
        if j >= n:
            fail("an unclosed '['")
        c = p[j]
        if c == "]":
            if not items:
                fail("an empty class")
            out.append("]")
            return j + 1, "".join(out)
        if c == "[" or p.startswith("&&", j):
            fail(f"{'[' if c == '[' else '&&'} inside a class (write a literal as \\{c})")
        lit, j, text = _class_atom(p, j, fail)
        if j + 1 < n and p[j] == "-" and p[j + 1] != "]":
            hi, j, text_hi = _class_atom(p, j + 1, fail)
            if lit is None or hi is None or hi < lit:
                fail("a range that is not between two characters in order")
            text = f"{text}-{text_hi}"
        out.append(text)
        items += 1


def _class_atom(p: str, j: int, fail: Callable[[str], NoReturn]) -> tuple[str | None, int, str]:
    """One member of a class: (its character if a single literal, index after it, rewritten text)."""
    c = p[j]
    if c == "\\":
        if j + 1 >= len(p):
            fail("a trailing backslash")
        e = p[j + 1]
        if e in "dDwW":
            return None, j + 2, "\\" + e
        if e == "s":
            return None, j + 2, _SPACE
        if e in "tnrf":
            return {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}[e], j + 2, "\\" + e
        if e in _PUNCT:
            return e, j + 2, "\\" + e
        fail(f"the escape \\{e} inside a class")
    if c == "-":
        fail("an unescaped '-' that is not a range (write a literal as \\-)")
    return c, j + 1, c


# -- Ibis predicates ----------------------------------------------------------------------------------------------
def string_column(t: ir.Table, column: str, table: str, why: str) -> ir.StringValue:
    """``t[column]``, checked to exist and to be a string column (property columns are stored as strings)."""
    col = _column(t, column, table, why)
    if not col.type().is_string():
        raise UnsupportedOperationError(
            f"{why}: {table}.{column} is {col.type()}; retention filters and breakdowns take string columns only"
            " (numeric conditions gt/gte/lt/lte/between and is_set/is_not_set take other columns too)"
        )
    return col


def _column(t: ir.Table, column: str, table: str, why: str) -> ir.Value:
    if column not in t.columns:
        raise WorkspaceError(f"{why}: the {table} table has no column {column!r}; columns: {', '.join(t.columns)}")
    return t[column]


def number_of(t: ir.Table, column: str, table: str, why: str) -> ir.FloatingValue:
    """The column as a double: numeric columns as they are, string columns when they are plain decimals (module
    docstring), else null."""
    col = _column(t, column, table, why)
    dtype = col.type()
    if dtype.is_numeric() and not dtype.is_boolean():
        return col.cast("float64")
    if not dtype.is_string():
        raise UnsupportedOperationError(
            f"{why}: {table}.{column} is {dtype}; numeric conditions take numeric columns or numbers stored as strings"
        )
    return ibis.ifelse(col.re_search(NUMBER_PATTERN), col.try_cast("float64"), ibis.null("float64"))


def condition_expr(t: ir.Table, c: Condition, table: str, why: str) -> ir.BooleanValue:
    """One condition as a non-null boolean (nulls resolved as the module docstring says)."""
    op, v = c.op, c.value
    if op in PRESENCE_OPS:
        col = _column(t, c.column, table, why)
        return col.notnull() if op == "is_set" else col.isnull()
    if op in NUMERIC_OPS:
        x = number_of(t, c.column, table, why)
        if op == "between":
            lo, hi = v  # type: ignore[misc]
            test = (x >= lo) & (x <= hi)
        else:
            test = {"gt": x > v, "gte": x >= v, "lt": x < v, "lte": x <= v}[op]
        return test.fill_null(False)
    if op not in OPS:
        raise UnsupportedOperationError(f"{why}: unknown filter operator {op!r} on {table}.{c.column}")
    s = string_column(t, c.column, table, why)
    if op in ("exact", "is_not"):
        test = s == v
    elif op in SET_OPS:
        test = s.isin(list(v))  # type: ignore[call-overload]
    elif op in ("contains", "not_contains"):
        test = s.contains(v)
    elif op in ("icontains", "not_icontains"):
        test = s.lower().contains(ibis.literal(v, "string").lower())
    else:
        test = s.re_search(portable_regex(v))  # type: ignore[arg-type]
    return (~test).fill_null(True) if op in NEGATED else test.fill_null(False)


def predicate(t: ir.Table, where: tuple[Condition, ...], table: str, why: str) -> ir.BooleanValue:
    """All conditions of ``where`` on ``t`` (and-ed), each with its operator's null semantics."""
    cond = ibis.literal(True)
    for c in where:
        cond &= condition_expr(t, c, table, why)
    return cond
