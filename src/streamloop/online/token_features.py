"""What a span model knows of each token: its word, shape and neighbours."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

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
    words = [token.text.lower() for token in tokens]
    shapes = [_shape(token.text) for token in tokens]
    padded = ["<s>"] * NEIGHBOURS + words + ["</s>"] * NEIGHBOURS
    padded_shapes = ["<s>"] * NEIGHBOURS + [s for s, _ in shapes] + ["</s>"] * NEIGHBOURS
    rows: list[dict[str, float]] = []
    for n, word in enumerate(words):
        short, long = shapes[n]
        x = {
            "bias": 1.0,
            "w:" + word: 1.0,
            "p:" + word[:3]: 1.0,
            "x:" + word[-3:]: 1.0,
            "s:" + short: 1.0,
            "ss:" + long: 1.0,
        }
        if n == 0:
            x["first"] = 1.0
        for offset in range(1, NEIGHBOURS + 1):
            x[f"-{offset}:{padded[NEIGHBOURS + n - offset]}"] = 1.0
            x[f"+{offset}:{padded[NEIGHBOURS + n + offset]}"] = 1.0
            x[f"-{offset}s:{padded_shapes[NEIGHBOURS + n - offset]}"] = 1.0
            x[f"+{offset}s:{padded_shapes[NEIGHBOURS + n + offset]}"] = 1.0
        rows.append(x)
    return rows


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
