"""Agreement figures, kept label by label, against the reference implementations: scikit-learn's
Cohen's kappa, the `krippendorff` package's alpha and, on label sets, NLTK's alpha with the MASI
distance, on many random teams."""

from __future__ import annotations

import math
import random
import warnings

import krippendorff
import numpy as np
import pytest
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance as nltk_masi_distance
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

from streamloop.online.agreement import Agreement, MultiLabelAgreement, masi_distance

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


# Multi-label agreement: each annotator gives an item a set of labels.

SET_LABELS = ["bug", "billing", "ui", "other"]
NAMES = ["ana", "bo", "cy", "di"]


def random_sets_team(
    seed: int,
) -> tuple[MultiLabelAgreement, dict[int, dict[str, frozenset[str]]]]:
    """Four annotators, each giving label sets to a random subset of 30 items, some items twice
    (the later set replaces the first), empty sets included, skewed so they agree more than
    chance."""
    rng = random.Random(seed)
    truth = {
        item: frozenset(label for label in SET_LABELS if rng.random() < 0.35) for item in range(30)
    }
    agreement = MultiLabelAgreement(SET_LABELS)
    given: dict[int, dict[str, frozenset[str]]] = {}
    for _ in range(90):
        item, name = rng.randrange(30), rng.choice(NAMES)
        if rng.random() < 0.6:
            labels = truth[item]
        else:
            labels = frozenset(label for label in SET_LABELS if rng.random() < 0.3)
        agreement.record(item, name, sorted(labels))
        given.setdefault(item, {})[name] = labels
    return agreement, given


def rebuilt(given: dict[int, dict[str, frozenset[str]]], leaving: str = "") -> MultiLabelAgreement:
    """A team that recorded only the final sets in ``given``, and none of ``leaving``'s."""
    agreement = MultiLabelAgreement(SET_LABELS)
    for item, sets in given.items():
        for name, labels in sets.items():
            if name != leaving:
                agreement.record(item, name, labels)
    return agreement


def assert_same_figures(found: MultiLabelAgreement, expected: MultiLabelAgreement) -> None:
    assert found.alpha() == pytest.approx(expected.alpha())
    assert found.per_label() == pytest.approx(expected.per_label())
    kappa, expected_kappa = found.kappa(), expected.kappa()
    assert kappa.keys() == expected_kappa.keys()
    for name, row in expected_kappa.items():
        assert kappa[name] == pytest.approx(row)


def small_team() -> MultiLabelAgreement:
    """Two annotators on four items; the figures below are worked out by hand."""
    agreement = MultiLabelAgreement(["bug", "billing", "ui"])
    for item, ana, bo in [
        (1, {"bug"}, {"bug"}),
        (2, {"bug", "ui"}, {"bug"}),
        (3, set(), {"billing"}),
        (4, {"billing"}, {"billing"}),
    ]:
        agreement.record(item, "ana", ana)
        agreement.record(item, "bo", bo)
    return agreement


def test_masi_distance_follows_passonneau():
    assert masi_distance({"bug"}, {"bug"}) == 0.0
    assert masi_distance(set(), set()) == 0.0
    assert masi_distance({"bug", "ui"}, {"bug"}) == pytest.approx(1 - 1 / 2 * 2 / 3)
    assert masi_distance({"bug"}, {"bug", "ui", "billing"}) == pytest.approx(1 - 1 / 3 * 2 / 3)
    assert masi_distance({"bug", "ui"}, {"bug", "billing"}) == pytest.approx(1 - 1 / 3 * 1 / 3)
    assert masi_distance({"bug"}, {"ui"}) == 1.0
    assert masi_distance(set(), {"ui"}) == 1.0


def test_masi_distance_is_nltks_on_every_pair_of_non_empty_sets():
    # NLTK divides by the union, so it has no answer for two empty sets.
    subsets = [
        frozenset(label for n, label in enumerate(SET_LABELS) if mask >> n & 1)
        for mask in range(1, 2 ** len(SET_LABELS))
    ]
    for one in subsets:
        for other in subsets:
            assert masi_distance(one, other) == pytest.approx(nltk_masi_distance(one, other))


def test_multilabel_kappa_is_the_mean_of_each_labels_kappa_worked_by_hand():
    # bug: both give it on items 1 and 2 only, kappa 1. billing: ana on 4, bo on 3 and 4:
    # agreement 3/4, chance 1/4 * 1/2 + 3/4 * 1/2 = 1/2, kappa 1/2. ui: ana on 2, bo never:
    # agreement 3/4, chance 3/4, kappa 0.
    half = pytest.approx(0.5)
    assert small_team().kappa() == {"ana": {"bo": half}, "bo": {"ana": half}}


def test_per_label_alpha_worked_by_hand():
    # 8 pairable values. billing: applies to 3, not to 5; item 3's two ordered pairs disagree:
    # 1 - 7 * 2 / (2 * 3 * 5) = 8/15. ui: applies to 1, not to 7: 1 - 7 * 2 / (2 * 1 * 7) = 0.
    assert small_team().per_label() == pytest.approx({"bug": 1.0, "billing": 8 / 15, "ui": 0.0})


def test_masi_alpha_worked_by_hand():
    # Values in use: {bug} 3 times, {bug, ui} once, {} once, {billing} 3 times (8 in all).
    # Observed, over ordered pairs: item 2 twice at 2/3, item 3 twice at 1: 10/3. By chance,
    # over ordered pairs of values in use: 2 * (3 * 1 * 2/3 + 3 * 1 + 3 * 3 + 1 + 3 + 3) = 42.
    # Alpha = 1 - 7 * (10/3) / 42 = 4/9.
    report = small_team().alpha()
    assert report == {"alpha": pytest.approx(4 / 9), "items": 4, "distance": "masi"}


@pytest.mark.parametrize("seed", range(20))
def test_multilabel_kappa_is_the_mean_of_scikit_learns_on_each_labels_indicator(seed: int):
    agreement, given = random_sets_team(seed)
    kappa = agreement.kappa()
    pairs = 0
    for one in NAMES:
        for other in NAMES:
            shared = [sets for sets in given.values() if one in sets and other in sets]
            if one == other or not shared:
                assert other not in kappa.get(one, {})
                continue
            per_label = []
            for label in SET_LABELS:
                with warnings.catch_warnings():
                    # Undefined when both always (or never) give the label: NaN, as expected.
                    warnings.simplefilter("ignore", UndefinedMetricWarning)
                    found = cohen_kappa_score(
                        [label in sets[one] for sets in shared],
                        [label in sets[other] for sets in shared],
                        labels=[False, True],
                    )
                if not math.isnan(found):
                    per_label.append(float(found))
            if per_label:
                assert kappa[one][other] == pytest.approx(sum(per_label) / len(per_label))
            else:
                assert kappa[one][other] is None
            pairs += 1
    assert pairs > 0


@pytest.mark.parametrize("seed", range(20))
def test_per_label_alpha_is_krippendorffs_on_each_labels_indicator(seed: int):
    agreement, given = random_sets_team(seed)
    per_label = agreement.per_label()
    assert list(per_label) == SET_LABELS
    pairable = [sets for sets in given.values() if len(sets) >= 2]
    for label in SET_LABELS:
        answers = {label in labels for sets in pairable for labels in sets.values()}
        if len(answers) < 2:  # the package refuses a single value; so does alpha
            assert per_label[label] is None
            continue
        data = [
            [
                float(label in given[item][name]) if name in given.get(item, {}) else np.nan
                for item in range(30)
            ]
            for name in NAMES
        ]
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        assert per_label[label] == pytest.approx(expected, abs=1e-9), label


def masi_or_both_empty(one: frozenset[str], other: frozenset[str]) -> float:
    """NLTK's MASI distance, and 0 for two empty sets, where it would divide by zero: two empty
    sets are equal."""
    if not one and not other:
        return 0.0
    return float(nltk_masi_distance(one, other))


@pytest.mark.parametrize("seed", range(20))
def test_masi_alpha_is_nltks_over_every_item_two_or_more_labelled(seed: int):
    agreement, given = random_sets_team(seed)
    data = [(name, item, labels) for item, sets in given.items() for name, labels in sets.items()]
    assert any(not labels for _name, _item, labels in data)  # empty sets are in play
    expected = AnnotationTask(data, distance=masi_or_both_empty).alpha()
    report = agreement.alpha()
    assert report["alpha"] == pytest.approx(expected, abs=1e-9)
    assert report["items"] == sum(1 for sets in given.values() if len(sets) >= 2)
    assert report["distance"] == "masi"


def test_recording_a_set_again_replaces_the_first():
    agreement, given = random_sets_team(3)
    for item, sets in given.items():
        for name, labels in sets.items():
            agreement.record(item, name, set(SET_LABELS) - labels)
            agreement.record(item, name, labels)
    assert_same_figures(agreement, rebuilt(given))
    changed = MultiLabelAgreement(["bug", "ui"])
    changed.record("x", "ana", {"bug"})
    changed.record("x", "bo", {"bug"})
    changed.record("x", "bo", {"ui"})
    assert changed.alpha()["items"] == 1 and changed.per_label() == {"bug": 0.0, "ui": 0.0}


def test_forgetting_an_annotator_is_never_having_had_their_sets():
    agreement, given = random_sets_team(7)
    agreement.forget("cy")
    expected = rebuilt(given, leaving="cy")
    assert_same_figures(agreement, expected)
    assert "cy" not in agreement.kappa() and all(
        "cy" not in row for row in agreement.kappa().values()
    )


def test_sets_no_longer_in_use_leave_the_coincidence_matrix():
    # Reading alpha costs the number of sets in use squared, not every set ever recorded.
    agreement, _given = random_sets_team(11)
    for name in NAMES:
        agreement.forget(name)
    assert agreement._coincidences == {}
    assert agreement.alpha() == {"alpha": None, "items": 0, "distance": "masi"}


def test_multilabel_figures_wait_for_something_to_say():
    agreement = MultiLabelAgreement(["bug", "ui"])
    assert agreement.alpha() == {"alpha": None, "items": 0, "distance": "masi"}
    assert agreement.kappa() == {} and agreement.per_label() == {"bug": None, "ui": None}
    agreement.record("x", "ana", {"bug"})
    assert agreement.kappa() == {} and agreement.alpha()["alpha"] is None
    agreement.record("x", "bo", ["bug"])  # one set in use: chance agrees as well as they do
    assert agreement.alpha() == {"alpha": None, "items": 1, "distance": "masi"}
    assert agreement.per_label() == {"bug": None, "ui": None}
    assert agreement.kappa() == {"ana": {"bo": None}, "bo": {"ana": None}}


def test_multilabel_agreement_refuses_what_is_not_a_set_of_the_projects_labels():
    with pytest.raises(ValueError, match="repeat"):
        MultiLabelAgreement(["bug", "bug"])
    agreement = MultiLabelAgreement(["bug", "ui"])
    with pytest.raises(ValueError, match="unknown label 'crash'"):
        agreement.record("x", "ana", {"bug", "crash"})
    with pytest.raises(ValueError, match="string"):
        agreement.record("x", "ana", "bug")
    agreement.record("x", "bo", {"bug"})
    assert agreement.alpha()["items"] == 0  # the refused sets left nothing behind
