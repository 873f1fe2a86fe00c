"""Agreement figures, kept label by label, against the reference implementations: scikit-learn's
Cohen's kappa and the `krippendorff` package's alpha, on many random teams."""

from __future__ import annotations

import math
import random

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from streamloop.online.agreement import Agreement

LABELS = ["bug", "billing", "other"]


def random_team(seed: int) -> tuple[Agreement, dict[int, dict[str, str]]]:
    """Four annotators, each labelling a random subset of 40 items, some items twice (the
    later label replaces the first), skewed so they agree more than chance."""
    rng = random.Random(seed)
    names = ["ana", "bo", "cy", "di"]
    truth = {item: rng.choice(LABELS) for item in range(40)}
    agreement = Agreement()
    given: dict[int, dict[str, str]] = {}
    for _ in range(120):
        item, name = rng.randrange(40), rng.choice(names)
        label = truth[item] if rng.random() < 0.7 else rng.choice(LABELS)
        agreement.record(item, name, label)
        given.setdefault(item, {})[name] = label
    return agreement, given


def _same(found: float | None, expected: float) -> bool:
    if math.isnan(expected):
        return found is None
    return found is not None and found == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_kappa_is_scikit_learns_on_the_items_each_pair_shares(seed: int):
    agreement, given = random_team(seed)
    kappa = agreement.kappa()
    pairs = 0
    for one in ["ana", "bo", "cy", "di"]:
        for other in ["ana", "bo", "cy", "di"]:
            shared = [labels for labels in given.values() if one in labels and other in labels]
            if one == other or not shared:
                assert other not in kappa.get(one, {})
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                expected = cohen_kappa_score(
                    [labels[one] for labels in shared], [labels[other] for labels in shared]
                )
            assert _same(kappa[one][other], float(expected)), (one, other)
            pairs += 1
    assert pairs > 0


@pytest.mark.parametrize("seed", range(20))
def test_alpha_is_krippendorffs_over_every_item_two_or_more_labelled(seed: int):
    agreement, given = random_team(seed)
    codes = {label: n for n, label in enumerate(LABELS)}
    names = ["ana", "bo", "cy", "di"]
    data = [
        [codes[given[item][name]] if name in given.get(item, {}) else np.nan for item in range(40)]
        for name in names
    ]
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    report = agreement.alpha()
    assert report["alpha"] == pytest.approx(expected, abs=1e-9)
    assert report["items"] == sum(1 for labels in given.values() if len(labels) >= 2)


def test_forgetting_an_annotator_is_never_having_had_their_labels():
    agreement, given = random_team(7)
    agreement.forget("cy")
    without = Agreement()
    for item, labels in given.items():
        for name, label in labels.items():
            if name != "cy":
                without.record(item, name, label)
    assert agreement.alpha() == pytest.approx(without.alpha())
    assert "cy" not in agreement.kappa() and all(
        "cy" not in row for row in agreement.kappa().values()
    )
    kappa, expected = agreement.kappa(), without.kappa()
    assert kappa.keys() == expected.keys()
    for name, row in expected.items():
        assert kappa[name] == pytest.approx(row)


def test_figures_wait_for_something_to_say():
    agreement = Agreement()
    assert agreement.alpha() == {"alpha": None, "items": 0}
    agreement.record("x", "ana", "bug")
    assert agreement.kappa() == {} and agreement.alpha() == {"alpha": None, "items": 0}
    agreement.record("x", "bo", "bug")  # one label in use: chance agrees as well as they do
    assert agreement.alpha() == {"alpha": None, "items": 1}
    assert agreement.kappa() == {"ana": {"bo": None}, "bo": {"ana": None}}
