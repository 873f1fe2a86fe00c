"""A streamloop model plugin: character n-grams of a text and a logistic regression per label.

Word features treat "refund", "refunds" and "refnd" as three unrelated words; their character
3- and 4-grams mostly coincide, so a label learned from one spelling carries over to the others.
Copy this package to offer a model of your own: the entry point in ``pyproject.toml`` names a
`ModelPlugin`, whose ``build`` returns an untrained River pipeline.
"""

from __future__ import annotations

from typing import Any

from river import feature_extraction, linear_model, multiclass, optim

from streamloop.online.plugins import model_plugin

__all__ = ["NGRAM_SIZES", "char_ngrams", "ngrams"]

#: The n-gram lengths: 3 and 4 characters, word edges marked by spaces.
NGRAM_SIZES = (3, 4)

# TF-IDF vectors have unit length and each text has many n-grams: a larger step than River's
# default (0.01) lets the weights move from the few dozen labels a project starts with.
_LEARNING_RATE = 0.5


def ngrams(text: str) -> list[str]:
    """The character n-grams of a text, in order (a module-level function: it is pickled with
    every snapshot of the model).

    >>> ngrams("Hi you")[:4]
    [' hi', 'hi ', 'i y', ' yo']
    """
    padded = f" {' '.join(text.lower().split())} "
    return [padded[i : i + n] for n in NGRAM_SIZES for i in range(len(padded) - n + 1)]


class _OrderedTFIDF(feature_extraction.TFIDF):
    # River's TF-IDF counts a text's terms as a set, so new terms enter its table in hash
    # order, which changes between processes: two replays would pickle differently, and
    # streamloop's contract check refuses that. Counting in text order keeps it the same.
    def learn_one(self, x: dict[Any, Any]) -> None:
        self.dfs.update(dict.fromkeys(self.process_text(x), 1))
        self.n += 1


@model_plugin(input_kinds=["text"])
def char_ngrams(*, labels: tuple[str, ...], task: str, input_kind: str, seed: int) -> Any:
    """Character 3- and 4-grams (TF-IDF), one logistic regression per label: robust to typos."""
    front = _OrderedTFIDF(on="text", tokenizer=ngrams, lowercase=False, strip_accents=False)
    head = multiclass.OneVsRestClassifier(
        linear_model.LogisticRegression(optimizer=optim.SGD(_LEARNING_RATE))
    )
    return front | head
