"""What a span model knows of each token: its word, shape and neighbours."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

from streamloop.online.tokens import Token

__all__ = ["NEIGHBOURS", "token_features"]

#: Neighbouring tokens each token's features name, on either side.
NEIGHBOURS = 2


def token_features(tokens: Sequence[Token]) -> list[dict[str, float]]:
    """Each token's features, all binary: its word in lower case, its first and last three
    letters, its shape (``Xx`` for "Paris", ``d`` for "42"), its shape with runs cut to four
    (``Xxxxx``, ``dd``), whether it starts the text, and the words and shapes of the
    `NEIGHBOURS` tokens on either side (``<s>`` and ``</s>`` past the ends).

    Examples
    --------
    >>> from streamloop.online.tokens import tokenize
    >>> features = token_features(tokenize("Paris, 2024"))
    >>> sorted(features[0])  # doctest: +NORMALIZE_WHITESPACE
    ['+1:,', '+1s:,', '+2:2024', '+2s:d', '-1:<s>', '-1s:<s>', '-2:<s>', '-2s:<s>',
     'bias', 'first', 'p:par', 's:Xx', 'ss:Xxxxx', 'w:paris', 'x:ris']
    """
    named = [_names(token.text) for token in tokens]
    padded = _START + named + _END
    rows: list[dict[str, float]] = []
    for n, token in enumerate(named):
        names = ["bias", *token.own]
        if n == 0:
            names.append("first")
        for offset in range(1, NEIGHBOURS + 1):
            left, right = padded[NEIGHBOURS + n - offset], padded[NEIGHBOURS + n + offset]
            names += left.as_left[offset - 1], right.as_right[offset - 1]
            names += left.shape_as_left[offset - 1], right.shape_as_right[offset - 1]
        rows.append(dict.fromkeys(names, 1.0))
    return rows


class _Names(NamedTuple):
    """The feature names a token's text gives, made once per distinct text."""

    #: The token's own: its word, first and last three letters, shape, shape with runs cut
    #: to four (none for the text's ends).
    own: tuple[str, ...]
    #: Its word and shape naming it as the neighbour ``offset`` tokens to the left or right of
    #: another, for each offset from 1 (``-1:paris``, ``+1:paris``, ``-1s:Xx``, ``+1s:Xx``).
    as_left: tuple[str, ...]
    as_right: tuple[str, ...]
    shape_as_left: tuple[str, ...]
    shape_as_right: tuple[str, ...]


def _neighbour_names(own: tuple[str, ...], word: str, shape: str) -> _Names:
    offsets = range(1, NEIGHBOURS + 1)
    return _Names(
        own,
        tuple(f"-{offset}:{word}" for offset in offsets),
        tuple(f"+{offset}:{word}" for offset in offsets),
        tuple(f"-{offset}s:{shape}" for offset in offsets),
        tuple(f"+{offset}s:{shape}" for offset in offsets),
    )


def _names_of(text: str) -> _Names:
    word = text.lower()
    short, long = _shape(text)
    own = ("w:" + word, "p:" + word[:3], "x:" + word[-3:], "s:" + short, "ss:" + long)
    return _neighbour_names(own, word, short)


#: Past either end of the text, a neighbour is ``<s>`` or ``</s>``, as word and as shape.
_START = [_neighbour_names((), "<s>", "<s>")] * NEIGHBOURS
_END = [_neighbour_names((), "</s>", "</s>")] * NEIGHBOURS
#: Token texts up to this long have their names kept, the `_KEPT_WORDS` used last (about
#: 10 MB): a language's words recur, so most tokens of a text are found kept rather than
#: named again.
_KEPT_LENGTH = 32
_KEPT_WORDS = 8_192
_kept_names = functools.lru_cache(maxsize=_KEPT_WORDS)(_names_of)


def _names(text: str) -> _Names:
    return _kept_names(text) if len(text) <= _KEPT_LENGTH else _names_of(text)


def _shape(word: str) -> tuple[str, str]:
    """A word's shape collapsed (``Xx``) and with runs cut to four (``Xxxx``)."""
    kinds: list[str] = []
    runs: list[int] = []
    for char in word:
        if char.isupper():
            kind = "X"
        elif char.islower():
            kind = "x"
        elif char.isdigit():
            kind = "d"
        elif char.isalpha():
            kind = "a"  # a letter without case: Arabic, Hebrew, CJK
        elif unicodedata.category(char)[0] == "M":
            continue  # an accent does not change a word's shape
        else:
            kind = char if char.isascii() else "#"
        if kinds and kinds[-1] == kind:
            runs[-1] += 1
        else:
            kinds.append(kind)
            runs.append(1)
    return "".join(kinds), "".join(k * min(r, 4) for k, r in zip(kinds, runs, strict=True))
