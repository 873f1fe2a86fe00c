"""How an item's data becomes model features: the River fronts of every pipeline.

Each front is deterministic and holds no state whose pickled form depends on string hashing,
so that equal learning histories give equal snapshots in any process.
"""

from __future__ import annotations

import functools
import operator
import re
import zlib
from collections.abc import Hashable, Iterable
from typing import Any, NamedTuple, cast

from river import base, feature_extraction, preprocessing
from river.feature_extraction import vectorize

from streamloop.online.inputs import TEXT_FIELD, Row, as_row, kept_terms
from streamloop.online.scaler import ArrayScaler

__all__ = [
    "HASHED_BUCKETS",
    "HASHED_PREFIX",
    "MAX_FEATURES",
    "MAX_VALUES",
    "NUMBER_TYPES",
    "TEXT_FIELD",
    "BoundedVocabulary",
    "DenseHasher",
    "OneHot",
    "OrderedTFIDF",
    "TabularFront",
    "composed_tabular_front",
    "tabular_front",
    "text_bucket_front",
    "text_count_front",
    "text_tfidf_front",
]

# Enough buckets that a short text's words rarely share one, few enough that a tree keeps a
# small statistic per bucket in every leaf.
_TEXT_BUCKETS = 64


#: Texts whose terms an `OrderedTFIDF` keeps, at most, and about the bytes they may take, the
#: texts' own included (beyond either it lets them all go; a longer text is not kept).
_TEXTS_KEPT = 4096
_KEPT_SIZE = 8 * 2**20


def _kept_size(text: str, terms: tuple[Any, ...]) -> int:
    """About the bytes a text and its terms take: a character each, and a term's string."""
    return len(text) + 64 * len(terms)


class _Plain(NamedTuple):
    """River's own steps of a TF-IDF (`OrderedTFIDF._plain_steps`): the text's field, whether
    accents are stripped and the text lower-cased, and the tokenizer's pattern."""

    on: str | None
    strip_accents: bool
    lowercase: bool
    pattern: re.Pattern[str]


class OrderedTFIDF(feature_extraction.TFIDF):
    """TF-IDF that records document frequencies in the order terms first appear.

    River's TF-IDF counts the set of a text's terms, so new terms enter its frequency table in
    hash order, which differs between processes. Counting the terms in text order gives the same
    table, in the same order, everywhere.

    Examples
    --------
    >>> tfidf = OrderedTFIDF(on="text")
    >>> tfidf.learn_one({"text": "beta alpha beta"})
    >>> list(tfidf.dfs.items())
    [('beta', 1), ('alpha', 1)]
    """

    # Terms kept (`process_text`) and about the bytes they take; not model state.
    _terms: dict[str, tuple[Any, ...]]
    _kept_size: int
    # River's steps done in one call (`_plain_steps`), worked out once; not model state.
    _plain: tuple[_Plain | None]

    def learn_one(self, x: dict[base.typing.FeatureName, Any]) -> None:
        terms = self.process_text(x)
        self.dfs.update(dict.fromkeys(terms, 1))
        self.n += 1

    def process_text(self, x: Any) -> Any:
        """The text's terms, as River finds them; within `keeping_terms`, those of the last
        `_TEXTS_KEPT` texts are kept. A waiting item is scored again and again as the model
        learns (each lease re-scores its candidates), and finding a text's terms was a third
        of that work. An event is read once: keeping its terms would only cost."""
        text = x if self.on is None else x.get(self.on) if type(x) is dict else None
        if type(text) is not str or not kept_terms():
            return self._find_terms(x)
        # Made on first use, not in `__init__`: River reads a step's parameters (its clone,
        # its repr) from the signature of `__init__`.
        kept: dict[str, tuple[Any, ...]] | None = self.__dict__.get("_terms")
        terms = None if kept is None else kept.get(text)
        if terms is None:
            terms = tuple(self._find_terms(x))
            size = _kept_size(text, terms)
            if kept is None or len(kept) >= _TEXTS_KEPT or self._kept_size + size > _KEPT_SIZE:
                kept = self._terms = {}
                self._kept_size = 0
            if size <= _KEPT_SIZE:
                kept[text] = terms
                self._kept_size += size
        return terms

    def _find_terms(self, x: Any) -> Any:
        """River's `process_text` of ``x``: with River's own steps (the text's field, accents
        stripped, lower case, a pattern of no groups, one word a term), the same terms in one
        `re.Pattern.findall`, a list; else River's steps one by one. Finding a text's terms
        through River's generator took twice as long, and every event and label of a text
        project takes this path."""
        plain = self.__dict__.get("_plain")
        if plain is None:
            plain = self.__dict__["_plain"] = (self._plain_steps(),)
        steps = plain[0]
        text = x
        if steps is not None and steps.on is not None:
            text = x[steps.on] if type(x) is dict else None  # a missing field: River's KeyError
        if steps is None or type(text) is not str:
            return super().process_text(x)  # type: ignore[no-untyped-call]
        if steps.strip_accents:
            text = vectorize.strip_accents_unicode(text)
        return steps.pattern.findall(text.lower() if steps.lowercase else text)

    def _plain_steps(self) -> _Plain | None:
        """River's steps, when they are exactly those `_find_terms` does in one call; else
        ``None``. Read once, as River fixes its steps when the TF-IDF is made. (With a group,
        River keeps the first group's text, and the whole match when it did not take part:
        not what ``findall`` gives.)"""
        expected = [
            *([operator.itemgetter(self.on).__reduce__()] if self.on is not None else []),
            *([vectorize.strip_accents_unicode] if self.strip_accents else []),
            *([str.lower] if self.lowercase else []),
            vectorize.tokenize_using_regex_pattern,
        ]
        found = [
            step.__reduce__() if type(step) is operator.itemgetter else step
            for step in self.processing_steps
        ]
        found[-1:] = [getattr(step, "func", step) for step in found[-1:]]
        tokenizer = self.processing_steps[-1] if self.processing_steps else None
        if (
            found != expected
            or self.preprocessor is not None
            or self.tokenizer is not None
            or self.stop_words
            or tuple(self.ngram_range) != (1, 1)
            or type(tokenizer) is not functools.partial
            or tokenizer.args
            or set(tokenizer.keywords) != {"pattern"}
        ):
            return None
        pattern = re.compile(tokenizer.keywords["pattern"])
        if pattern.groups:
            return None
        return _Plain(self.on, bool(self.strip_accents), bool(self.lowercase), pattern)

    def __getstate__(self) -> dict[str, Any]:
        # Terms kept are not the model's state: a snapshot is the same with or without them.
        state = dict(self.__dict__)
        state.pop("_terms", None)
        state.pop("_kept_size", None)
        state.pop("_plain", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class DenseHasher(base.Transformer):
    """Fold sparse features into a fixed set of buckets and emit every bucket, zeros included.

    A tree learns only from the values it sees. In a sparse bag of words an absent word is not
    a zero, it is missing, so a tree can never split on a word being absent. Folding words into
    buckets that are always present lets it. Buckets come from CRC-32, not `hash`, so they are
    the same in every process.

    Parameters
    ----------
    n_buckets
        How many features every output has.

    Examples
    --------
    >>> hasher = DenseHasher(n_buckets=4)
    >>> out = hasher.transform_one({"spam": 2, "eggs": 1})
    >>> len(out), sum(out.values())
    (4, 3.0)
    >>> out == hasher.transform_one({"eggs": 1, "spam": 2})
    True
    """

    def __init__(self, n_buckets: int = _TEXT_BUCKETS) -> None:
        if n_buckets < 1:
            raise ValueError(f"n_buckets must be at least 1, got {n_buckets}")
        self.n_buckets = n_buckets
        self._names = tuple(f"bucket_{i}" for i in range(n_buckets))

    def transform_one(
        self, x: dict[base.typing.FeatureName, Any]
    ) -> dict[base.typing.FeatureName, Any]:
        counts = [0.0] * self.n_buckets
        for name, value in x.items():
            counts[zlib.crc32(str(name).encode()) % self.n_buckets] += value
        return dict(zip(self._names, counts, strict=True))


def text_tfidf_front() -> Any:
    """L2-normalised TF-IDF of the text field, for linear models.

    A linear model needs features on one scale whatever a text's length.

    Examples
    --------
    >>> front = text_tfidf_front()
    >>> front.learn_one({"text": "Spam, spam and eggs"})
    >>> sorted(front.transform_one({"text": "spam"}))
    ['spam']
    """
    return OrderedTFIDF(on=TEXT_FIELD)


def text_count_front() -> Any:
    """Word counts of the text field, for multinomial naive Bayes, which models counts.

    River's default tokenizer lowercases, strips accents and keeps words of two or more
    characters.

    Examples
    --------
    >>> text_count_front().transform_one({"text": "Spam, spam and eggs"})
    {'spam': 2, 'and': 1, 'eggs': 1}
    """
    return feature_extraction.BagOfWords(on=TEXT_FIELD)


def text_bucket_front() -> Any:
    """Word counts of the text field folded into dense buckets, for trees (see `DenseHasher`).

    Examples
    --------
    >>> len(text_bucket_front().transform_one({"text": "spam and eggs"}))
    64
    """
    return feature_extraction.BagOfWords(on=TEXT_FIELD) | DenseHasher()


class ReadOnlyScaler(preprocessing.StandardScaler):
    """A standard scaler whose ``transform_one`` never changes its state: the tabular front's
    until 0.8.2, kept for the snapshots of projects made before (new ones use `ArrayScaler`,
    the same arithmetic in arrays).

    River's reads its running statistics from defaultdicts, so scoring an item with a field
    never learned adds an entry: the model would grow with every new field name production
    sends, and a snapshot pickled while the event loop scores could see a dict change size.
    An unseen field scales to 0.0, as River's does.

    Examples
    --------
    >>> scaler = ReadOnlyScaler()
    >>> scaler.learn_one({"a": 1.0})
    >>> scaler.transform_one({"a": 1.0, "unseen": 5.0})
    {'a': 0.0, 'unseen': 0.0}
    >>> sorted(scaler.means)
    ['a']
    """

    def transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        means, variances = self.means, self.vars
        return {
            name: (value - means.get(name, 0.0)) / var**0.5 if (var := variances.get(name)) else 0.0
            for name, value in x.items()
        }


#: What a tabular row's numbers are once `model_input` has read it (booleans count as 0/1).
NUMBER_TYPES = frozenset({float, int, bool})


class SelectValues(base.Transformer):
    """Keep the fields whose values are strings (``strings=True``), or else the numbers.

    `model_input` leaves a tabular row with floats, booleans and strings only, so this plain
    type test does what ``compose.SelectType`` does, without an ABC ``isinstance`` per field
    (the cost of every field of every event scored).

    Examples
    --------
    >>> SelectValues(strings=True).transform_one({"size": 2.0, "colour": "red", "new": True})
    {'colour': 'red'}
    >>> SelectValues(strings=False).transform_one({"size": 2.0, "colour": "red", "new": True})
    {'size': 2.0, 'new': True}
    >>> SelectValues(strings=False).transform_one({"size": None})
    {}
    """

    def __init__(self, strings: bool) -> None:
        self.strings = strings

    def transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        kinds = set(map(type, x.values()))  # in C: most rows are numbers only
        if self.strings:
            if str not in kinds:
                return {}
            return {name: value for name, value in x.items() if type(value) is str}
        if kinds <= NUMBER_TYPES:
            return x  # passed on, never changed: River's steps read it and make new ones
        return {name: value for name, value in x.items() if type(value) in NUMBER_TYPES}


class OneHot(preprocessing.OneHotEncoder):
    """River's one-hot encoder (a class of its own so that snapshots that name it load)."""


#: Most features a tabular model keeps of its own: each number field is one, and so is each value
#: of a string field (one-hot).
MAX_FEATURES = 1_000
#: Most values of one string field that a tabular model keeps as features of their own.
MAX_VALUES = 100
#: How many shared features everything beyond `MAX_FEATURES` and `MAX_VALUES` is folded into,
#: once for string values (counted) and once for numbers (summed).
HASHED_BUCKETS = 64
#: Names of the folded features start with it, so fields whose names start with it are always
#: folded: a kept field can then never share a name with a folded feature.
HASHED_PREFIX = "~hashed:"
_STRING_BUCKET = HASHED_PREFIX + "string_{}"
_NUMBER_BUCKET = HASHED_PREFIX + "number_{}"


class BoundedVocabulary(base.Transformer):
    """Keep the first features learned as they are; fold the rest into a few hashed buckets.

    Without a bound a tabular model grows with every field name and string value production
    sends: each becomes a feature with its own weights, or statistics in every tree leaf, and
    learning a label that brings thousands of new ones takes seconds. Here a number field, and
    each value of a string field, is kept as a feature of its own when a label first brings
    it, until ``max_features`` are kept; a string field keeps at most ``max_values`` values, so
    that one identifier-like field cannot take the whole budget. Once a field or value can no
    longer be kept, it goes into one of ``buckets`` shared features, by a CRC-32 of its field
    name (numbers: their sum) or of its field name and value (strings: a count), the same in
    every process. A model therefore learns at most ``max_features + 2 * buckets`` distinct
    features, whatever it is sent.

    While there is room, a field or value not learned yet passes as it is, as it would once
    learned (the classifier ignores features it has never learned). What is kept depends only
    on the labels learned, in order, so replays and snapshots stay bit for bit; scoring never
    changes it.

    Parameters
    ----------
    max_features
        Most features kept as they are: number fields and string values.
    max_values
        Most values of one string field kept as they are.
    buckets
        How many folded features there are of each kind (strings, numbers).

    Examples
    --------
    >>> vocabulary = BoundedVocabulary(max_features=3, max_values=1, buckets=4)
    >>> vocabulary.learn_one({"size": 2.0, "colour": "red", "shape": "round"})
    >>> vocabulary.learn_one({"colour": "blue", "weight": 5.0})
    >>> vocabulary.numbers, vocabulary.strings
    ({'size': None}, {'colour': {'red': None}, 'shape': {'round': None}})
    >>> vocabulary.transform_one({"size": 1.0, "colour": "red"})
    {'size': 1.0, 'colour': 'red'}
    >>> vocabulary.transform_one({"colour": "blue", "shape": "square", "weight": 5.0})
    {'~hashed:string_1': 1.0, '~hashed:string_0': 1.0, '~hashed:number_1': 5.0}
    """

    def __init__(
        self,
        max_features: int = MAX_FEATURES,
        max_values: int = MAX_VALUES,
        buckets: int = HASHED_BUCKETS,
    ) -> None:
        if max_features < 0 or max_values < 0:
            raise ValueError(
                f"max_features and max_values must not be negative, got {max_features}, "
                f"{max_values}"
            )
        if buckets < 1:
            raise ValueError(f"buckets must be at least 1, got {buckets}")
        self.max_features = max_features
        self.max_values = max_values
        self.buckets = buckets
        # Dicts rather than sets: they pickle in the order learned, whatever the string hashes.
        #: The number fields kept.
        self.numbers: dict[str, None] = {}
        #: The string fields with a value kept, and their values kept.
        self.strings: dict[str, dict[str, None]] = {}
        #: How many features are kept: number fields and string values.
        self.kept = 0

    def keeps_numbers(self, x: dict[base.typing.FeatureName, Any]) -> bool:
        """Whether the item is numbers only, each a field kept already (set operations in C:
        the usual tabular row): then there is nothing to learn, and it passes as it is."""
        return x.keys() <= self.numbers.keys() and str not in set(map(type, x.values()))

    def learn_one(self, x: dict[base.typing.FeatureName, Any]) -> None:
        if self.keeps_numbers(x):
            return
        for name, value in _named(x):
            if type(value) is str:
                values = self.strings.get(name)
                if values is not None and value in values:
                    continue
                if self._room_for_value(name, values):
                    self.strings.setdefault(name, {})[value] = None
                    self.kept += 1
            elif name not in self.numbers and self._room(name):
                self.numbers[name] = None
                self.kept += 1

    def transform_one(
        self, x: dict[base.typing.FeatureName, Any]
    ) -> dict[base.typing.FeatureName, Any]:
        # Every field and value learned already is the common case, and scoring is hot: it
        # passes the item itself, uncopied.
        if self.keeps_numbers(x):
            return x
        numbers, strings = self.numbers, self.strings
        for name, value in _named(x):
            if type(value) is str:
                values = strings.get(name)
                if values is None or value not in values:
                    break
            elif name not in numbers:
                break
        else:
            return x
        out: dict[base.typing.FeatureName, Any] = {}
        for name, value in _named(x):
            if type(value) is str:
                values = self.strings.get(name)
                if (values is not None and value in values) or self._room_for_value(name, values):
                    out[name] = value
                else:
                    bucket = _STRING_BUCKET.format(self._string_bucket(name, value))
                    out[bucket] = out.get(bucket, 0.0) + 1.0
            elif name in self.numbers or self._room(name):
                out[name] = value
            else:
                bucket = _NUMBER_BUCKET.format(self._number_bucket(name))
                out[bucket] = out.get(bucket, 0.0) + float(value)
        return out

    def _room(self, name: str) -> bool:
        # Whether a new feature of this field would be kept if learned now.
        return self.kept < self.max_features and not name.startswith(HASHED_PREFIX)

    def _room_for_value(self, name: str, values: dict[str, None] | None) -> bool:
        # The same for a new value of a string field, given the values it has kept.
        limit = self.max_values if values is None else self.max_values - len(values)
        return limit > 0 and self._room(name)

    def _string_bucket(self, name: str, value: str) -> int:
        # "surrogatepass": a lone surrogate in a JSON string is a valid str, not valid UTF-8.
        key = f"{name}\0{value}".encode("utf-8", "surrogatepass")
        return zlib.crc32(key) % self.buckets

    def _number_bucket(self, name: str) -> int:
        return zlib.crc32(name.encode("utf-8", "surrogatepass")) % self.buckets


def _named(x: dict[base.typing.FeatureName, Any]) -> Iterable[tuple[str, Any]]:
    # `model_input` leaves a tabular row with str field names only.
    return cast("dict[str, Any]", x).items()


class TabularFront(base.Transformer):
    """Bound the vocabulary, standardise numbers and booleans, one-hot encode strings; other
    values are dropped.

    The bound (see `BoundedVocabulary`) comes first, so the scaler's statistics, the one-hot
    features and the classifier behind them are all bounded by it. The features are those of
    River's composition of the same steps (`composed_tabular_front`), in the same order, in one
    step instead of seven; projects made before 0.8.2 hold that composition, with
    `ReadOnlyScaler` (equal to the last bit or so).

    Examples
    --------
    >>> front = TabularFront()
    >>> front.learn_one({"size": 2.0, "colour": "red"})
    >>> front.transform_one({"size": 2.0, "colour": "red"})
    {'colour_red': 1, 'size': 0.0}
    """

    def __init__(
        self,
        max_features: int = MAX_FEATURES,
        max_values: int = MAX_VALUES,
        buckets: int = HASHED_BUCKETS,
    ) -> None:
        self.vocabulary = BoundedVocabulary(max_features, max_values, buckets)
        self.scaler = ArrayScaler()

    # River reads a step's parameters back from its attributes (repr, clone).
    max_features = property(lambda self: self.vocabulary.max_features)
    max_values = property(lambda self: self.vocabulary.max_values)
    buckets = property(lambda self: self.vocabulary.buckets)

    def learn_one(self, x: dict[base.typing.FeatureName, Any]) -> None:
        self.vocabulary.learn_one(x)
        kept = self.vocabulary.transform_one(x)
        self.scaler.learn_one(_NUMBERS.transform_one(kept))

    def transform_one(
        self, x: dict[base.typing.FeatureName, Any]
    ) -> dict[base.typing.FeatureName, Any]:
        kept = self.vocabulary.transform_one(x)
        return _joined(kept, self.scaler.transform_one(_NUMBERS.transform_one(kept)))

    def learn_transform_one(
        self, x: dict[base.typing.FeatureName, Any]
    ) -> dict[base.typing.FeatureName, Any]:
        """`learn_one` then `transform_one` of the same item, in one pass: the same features
        (as a River pipeline learning an item gives its head), the item folded through the
        vocabulary once and scaled as it is learned."""
        self.vocabulary.learn_one(x)
        kept = self.vocabulary.transform_one(x)
        return _joined(kept, self.scaler.learn_transform_one(_NUMBERS.transform_one(kept)))

    def transform_row(self, x: dict[base.typing.FeatureName, Any]) -> Row:
        """`transform_one`, as `learn_transform_row` gives it: names, and their values."""
        if x and self.vocabulary.keeps_numbers(x):
            return self.scaler.transform_row(x)
        return as_row(self.transform_one(x))

    def learn_transform_row(self, x: dict[base.typing.FeatureName, Any]) -> Row:
        """`learn_transform_one`, its features as their names and an array of their values
        (what a head that learns arrays reads). An item of numbers only, each a field kept
        already (the usual row), goes to the scaler as it is: nothing to fold, nothing
        one-hot, no dict built."""
        if x and self.vocabulary.keeps_numbers(x):
            return self.scaler.learn_row(x)
        return as_row(self.learn_transform_one(x))


def _joined(
    kept: dict[base.typing.FeatureName, Any], numbers: dict[base.typing.FeatureName, Any]
) -> dict[base.typing.FeatureName, Any]:
    """The front's features: the kept item's strings one-hot, then its scaled ``numbers``."""
    strings = _STRINGS.transform_one(kept)
    if not strings:
        return numbers
    # As River's union of the two branches: the strings' features first, a number field
    # keeping the place but not the value of a one-hot feature of the same name.
    out: dict[base.typing.FeatureName, Any] = {f"{i}_{v}": 1 for i, v in strings.items()}
    out.update(numbers)
    return out


_NUMBERS = SelectValues(strings=False)
_STRINGS = SelectValues(strings=True)


def tabular_front(
    max_features: int = MAX_FEATURES,
    max_values: int = MAX_VALUES,
    buckets: int = HASHED_BUCKETS,
) -> TabularFront:
    """The tabular front of new projects (see `TabularFront`)."""
    return TabularFront(max_features, max_values, buckets)


def composed_tabular_front(
    max_features: int = MAX_FEATURES,
    max_values: int = MAX_VALUES,
    buckets: int = HASHED_BUCKETS,
    scaler: Any = None,
) -> Any:
    """`TabularFront` as River's composition of its steps, as projects made before 0.8.2 hold
    it (their ``scaler``: `ReadOnlyScaler`; by default today's `ArrayScaler`).

    Examples
    --------
    >>> front = composed_tabular_front()
    >>> front.learn_one({"size": 2.0, "colour": "red"})
    >>> front.transform_one({"size": 2.0, "colour": "red"})
    {'colour_red': 1, 'size': 0.0}
    """
    numeric = SelectValues(strings=False) | (scaler if scaler is not None else ArrayScaler())
    # drop_zeros keeps the encoder stateless: otherwise it remembers categories in sets, and
    # its zero-filled output would grow with every category ever seen.
    categorical = SelectValues(strings=True) | OneHot(drop_zeros=True)
    return BoundedVocabulary(max_features, max_values, buckets) | (numeric + categorical)
