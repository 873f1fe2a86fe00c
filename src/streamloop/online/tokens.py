"""Tokens with their character offsets, and spans as BIO tags on them.

A text is cut into tokens that keep their offsets (`tokenize`); a span (start, end, label)
becomes BIO tags on the tokens it overlaps (`bio_tags`), and tags become spans again
(`spans_of`). Offsets are Python ``str`` indices (code points), as JSON carries them once
decoded.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "OUTSIDE",
    "Span",
    "Token",
    "align",
    "bio_tags",
    "spans_of",
    "tag_set",
    "tokenize",
    "wordy",
]

#: A pair of regional indicators (a flag), a run of word characters, or any other character
#: that is not a space. Marks and joiners are then glued to the token before them (`tokenize`).
_TOKEN = re.compile(r"[\U0001F1E6-\U0001F1FF]{2}|\w+|[^\w\s]")
#: Zero-width non-joiner and joiner: they join what is on either side of them.
_JOINERS = frozenset("\u200c\u200d")
#: The tag of a token outside every span.
OUTSIDE = "O"


class Token(NamedTuple):
    """A token of a text: ``text[start:end]``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A labelled stretch of a text: ``text[start:end]`` (``end`` exclusive) is a ``label``.

    Spans order by start, then end, then label.

    Examples
    --------
    >>> text = "Ada Lovelace met Babbage in London."
    >>> sorted([Span(28, 34, "LOC"), Span(0, 12, "PER")])
    [Span(start=0, end=12, label='PER'), Span(start=28, end=34, label='LOC')]
    >>> text[28:34], Span(28, 34, "LOC").as_json()
    ('London', {'start': 28, 'end': 34, 'label': 'LOC'})
    """

    start: int
    end: int
    label: str

    def as_json(self) -> dict[str, Any]:
        """The span as the contract gives it."""
        return {"start": self.start, "end": self.end, "label": self.label}

    def named(self) -> str:
        """How errors name the span: ``[start, end) label``.

        >>> Span(0, 3, "PER").named()
        '[0, 3) PER'
        """
        return f"[{self.start}, {self.end}) {self.label}"


def tokenize(text: str) -> list[Token]:
    """Cut a text into tokens (words, numbers, and each other character but spaces).

    A word is a run of word characters (``\\w``, any script). Combining marks (accents written
    as separate code points, vowel signs, Hebrew and Arabic points), variation selectors,
    emoji skin-tone modifiers and zero-width joiners stay in the token before them, and a
    word goes on after a mark within it (Devanagari, decomposed Latin); a ZWJ emoji sequence
    and a flag are one token each. Scripts written without spaces (Chinese, Thai) come out as
    one token per run: a span inside such a run covers the whole run.

    Examples
    --------
    >>> [t.text for t in tokenize("Dr. O'Neil paid $4.50 in Zürich!")]
    ['Dr', '.', 'O', "'", 'Neil', 'paid', '$', '4', '.', '50', 'in', 'Zürich', '!']
    >>> decomposed = "Nguye\\u0302\\u0303n"  # e + combining circumflex + combining tilde
    >>> [(t.start, t.end) for t in tokenize(decomposed + " ok")]
    [(0, 8), (9, 11)]
    >>> [t.text for t in tokenize("great 👍🏽👩\\u200d💻 🇫🇷")]
    ['great', '👍🏽', '👩\\u200d💻', '🇫🇷']
    >>> [t.text for t in tokenize("שָׁלוֹם עוֹלָם")]
    ['שָׁלוֹם', 'עוֹלָם']
    """
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        if tokens and tokens[-1].end == start and _joined(text, tokens[-1], start):
            first = tokens[-1].start
            tokens[-1] = Token(first, end, text[first:end])
        else:
            tokens.append(Token(start, end, match.group()))
    return tokens


def _joined(text: str, before: Token, start: int) -> bool:
    """Whether the token starting at ``start`` belongs to the ``before`` token it touches."""
    head = text[start]
    if _attaches(head):
        return True
    tail = text[before.end - 1]
    if tail in _JOINERS:
        return True
    # A word goes on after a mark inside it ("e" + U+0301 + "t").
    return unicodedata.category(tail)[0] == "M" and wordy(text[before.start]) and wordy(head)


def _attaches(char: str) -> bool:
    # Marks, joiners, skin-tone modifiers and emoji tag characters never start a token.
    return (
        unicodedata.category(char)[0] == "M"
        or char in _JOINERS
        or "\U0001f3fb" <= char <= "\U0001f3ff"
        or "\U000e0020" <= char <= "\U000e007f"
    )


def wordy(char: str) -> bool:
    """Whether ``char`` is a word's: a letter, a digit or ``_``.

    >>> wordy("é"), wordy("-")
    (True, False)
    """
    return char.isalnum() or char == "_"


def tag_set(labels: Sequence[str]) -> tuple[str, ...]:
    """The BIO tags of a project's labels: ``O``, then each label's ``B-`` and ``I-``.

    >>> tag_set(["PER", "LOC"])
    ('O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC')
    """
    return (OUTSIDE, *(f"{prefix}-{label}" for label in labels for prefix in "BI"))


def bio_tags(tokens: Sequence[Token], spans: Sequence[Span]) -> list[str]:
    """The BIO tag of every token: ``B-X`` on a span's first token, ``I-X`` on the others.

    A span covers every token it overlaps, even in part: a span that does not start or end
    at a token boundary grows to the boundaries of the tokens it touches. A token already
    covered by an earlier span (in start order) stays with it. Spans that overlap no token
    (only spaces) tag nothing; `SpanModel.learn` refuses those and spans that share a token.

    Examples
    --------
    >>> text = "Visit New York City now"
    >>> tokens = tokenize(text)
    >>> bio_tags(tokens, [Span(6, 19, "LOC")])
    ['O', 'B-LOC', 'I-LOC', 'I-LOC', 'O']
    >>> bio_tags(tokens, [Span(7, 11, "LOC")])  # "ew Y": grows to "New York"
    ['O', 'B-LOC', 'I-LOC', 'O', 'O']
    """
    tags = [OUTSIDE] * len(tokens)
    ends = [token.end for token in tokens]
    for span in sorted(spans):
        first = True
        n = bisect.bisect_right(ends, span.start)  # the first token ending after the start
        while n < len(tokens) and tokens[n].start < span.end:
            if tags[n] == OUTSIDE:
                tags[n] = f"{'B' if first else 'I'}-{span.label}"
                first = False
            n += 1
    return tags


def spans_of(tokens: Sequence[Token], tags: Sequence[str]) -> list[Span]:
    """The spans that BIO tags mark, from a span's first token's start to its last's end.

    An ``I-X`` that does not follow ``B-X`` or ``I-X`` starts a span, as CoNLL's scorer
    reads it (`decode` never yields one).

    Examples
    --------
    >>> tokens = tokenize("Ada met Bob Smith")
    >>> spans_of(tokens, ["B-PER", "O", "B-PER", "I-PER"])
    [Span(start=0, end=3, label='PER'), Span(start=8, end=17, label='PER')]
    """
    spans: list[Span] = []
    start = end = -1
    label = ""
    for token, tag in zip(tokens, tags, strict=True):
        prefix, _, name = tag.partition("-")
        if prefix == "I" and start >= 0 and name == label:
            end = token.end
            continue
        if start >= 0:
            spans.append(Span(start, end, label))
            start = -1
        if prefix in ("B", "I"):
            start, end, label = token.start, token.end, name
    if start >= 0:
        spans.append(Span(start, end, label))
    return spans


def align(text: str, spans: Sequence[Span]) -> list[Span]:
    """Spans as the model can learn them: grown to the boundaries of the tokens they overlap.

    >>> align("Visit New York City", [Span(7, 11, "LOC")])
    [Span(start=6, end=14, label='LOC')]
    """
    tokens = tokenize(text)
    return spans_of(tokens, bio_tags(tokens, spans))
