"""The runs search language: a filter (`metrics.rmse < 1 and params.model = "lr"`) and `order_by` clauses.

A tokenizer and a recursive-descent parser turn the text into comparisons; the repository turns those
into SQL with bound parameters. A malformed filter is Invalid and names the position it failed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlregistry.services.errors import Invalid

ENTITY_KINDS = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
ATTRIBUTES = {
    "status": "status",
    "name": "name",
    "run_name": "name",
    "start_time": "start_time",
    "end_time": "end_time",
    "run_id": "run_id",
    "run_uuid": "run_id",
    "id": "run_id",
    "lifecycle_stage": "lifecycle_stage",
    "description": "description",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "<>", "==")
WORD_OPERATORS = ("LIKE", "ILIKE", "IN")
NUMERIC_OPERATORS = {"=", "!=", "<", "<=", ">", ">="}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<backtick>`[^`]*`)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<op>!=|<>|<=|>=|==|=|<|>)
  | (?P<punct>[(),.])
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-/:]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Comparison:
    kind: str  # metric | param | tag | attribute
    key: str
    operator: str  # = != < <= > >= LIKE ILIKE IN NOT IN
    value: float | str | tuple[str | float, ...]


@dataclass(frozen=True)
class Ordering:
    kind: str
    key: str
    descending: bool


def _fail(field: str, position: int, message: str) -> Invalid:
    return Invalid.field([field], f"{message} at position {position}", kind="value_error.syntax")


def tokenize(text: str, field: str = "filter") -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _fail(field, position, f"unexpected character {text[position]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1].replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str, field: str) -> None:
        self.field = field
        self.tokens = tokenize(text, field)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, message: str, token: Token | None = None) -> Invalid:
        token = token or self.current
        found = "end of input" if token.kind == "end" else repr(token.text)
        return _fail(self.field, token.position, f"{message}, found {found}")

    def is_word(self, word: str) -> bool:
        return self.current.kind == "word" and self.current.text.upper() == word

    def identifier(self) -> tuple[str, str]:
        token = self.advance()
        if token.kind == "backtick":
            first = token.text[1:-1]
        elif token.kind == "word":
            first = token.text
        elif token.kind == "string":
            first = _unquote(token.text)
        else:
            raise self.error("expected a key such as metrics.x, params.y, tags.z or attributes.status", token)
        if self.current.kind == "punct" and self.current.text == ".":
            kind = ENTITY_KINDS.get(first.lower())
            if kind is None:
                raise _fail(
                    self.field, token.position, f"unknown entity {first!r} (metrics, params, tags or attributes)"
                )
            self.advance()
            key_token = self.advance()
            if key_token.kind == "word" or key_token.kind == "number":
                key = key_token.text
                # Keys may contain dots (`metrics.val.loss`): take the following words as part of it.
                while (
                    self.current.kind == "punct"
                    and self.current.text == "."
                    and self.tokens[self.index + 1].kind in ("word", "number")
                ):
                    self.advance()
                    key += "." + self.advance().text
            elif key_token.kind == "backtick":
                key = key_token.text[1:-1]
            elif key_token.kind == "string":
                key = _unquote(key_token.text)
            else:
                raise self.error("expected a key after the dot", key_token)
        else:
            kind, key = "attribute", first
        if not key:
            raise _fail(self.field, token.position, "empty key")
        if kind == "attribute":
            attribute = ATTRIBUTES.get(key.lower())
            if attribute is None:
                raise _fail(
                    self.field, token.position, f"unknown attribute {key!r} (one of {', '.join(sorted(ATTRIBUTES))})"
                )
            key = attribute
        return kind, key

    def operator(self) -> str:
        token = self.current
        if token.kind == "op":
            self.advance()
            return {"==": "=", "<>": "!="}.get(token.text, token.text)
        if token.kind == "word":
            word = token.text.upper()
            if word == "NOT":
                self.advance()
                if self.is_word("IN"):
                    self.advance()
                    return "NOT IN"
                if self.is_word("LIKE") or self.is_word("ILIKE"):
                    return "NOT " + self.advance().text.upper()
                raise self.error("expected IN, LIKE or ILIKE after NOT")
            if word in WORD_OPERATORS:
                self.advance()
                return word
        raise self.error("expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN)")

    def scalar(self) -> float | str:
        token = self.advance()
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return _unquote(token.text)
        raise self.error("expected a number or a quoted string", token)

    def comparison(self) -> Comparison:
        start = self.current
        kind, key = self.identifier()
        operator_token = self.current
        operator = self.operator()
        value: float | str | tuple[str | float, ...]
        if operator in ("IN", "NOT IN"):
            if not (self.current.kind == "punct" and self.current.text == "("):
                raise self.error("expected '(' after IN")
            self.advance()
            values = [self.scalar()]
            while self.current.kind == "punct" and self.current.text == ",":
                self.advance()
                values.append(self.scalar())
            if not (self.current.kind == "punct" and self.current.text == ")"):
                raise self.error("expected ',' or ')'")
            self.advance()
            value = tuple(values)
        else:
            value_token = self.current
            value = self.scalar()
            numeric = kind == "metric" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)
            if numeric and not isinstance(value, float):
                raise _fail(self.field, value_token.position, f"{kind} {key!r} is compared with a number")
            if not numeric and isinstance(value, float):
                raise _fail(self.field, value_token.position, f"{kind} {key!r} is compared with a quoted string")
        numeric = kind == "metric" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)
        if numeric and operator not in NUMERIC_OPERATORS:
            raise _fail(self.field, operator_token.position, f"{operator} does not apply to numbers")
        if not numeric and operator in ("IN", "NOT IN") and any(isinstance(v, float) for v in value):  # type: ignore[union-attr]
            raise _fail(self.field, start.position, "IN takes quoted strings")
        return Comparison(kind, key, operator, value)

    def parse_filter(self) -> list[Comparison]:
        if self.current.kind == "end":
            return []
        comparisons = [self.comparison()]
        while self.is_word("AND"):
            self.advance()
            comparisons.append(self.comparison())
        if self.current.kind != "end":
            raise self.error("expected AND or the end of the filter")
        return comparisons

    def parse_order(self) -> Ordering:
        kind, key = self.identifier()
        descending = False
        if self.is_word("DESC") or self.is_word("ASC"):
            descending = self.advance().text.upper() == "DESC"
        if self.current.kind != "end":
            raise self.error("expected ASC, DESC or the end of the clause")
        return Ordering(kind, key, descending)


def parse_filter(text: str | None) -> list[Comparison]:
    """The comparisons of `text`, all of which must hold (`and`); empty for no filter."""
    if text is None or not text.strip():
        return []
    return _Parser(text, "filter").parse_filter()


def parse_order_by(clauses: list[str] | None) -> list[Ordering]:
    orderings: list[Ordering] = []
    for index, clause in enumerate(clauses or []):
        if clause.strip():
            orderings.append(_Parser(clause, f"order_by[{index}]").parse_order())
    return orderings
