"""Span F1 between annotators: hand-computed values, and counts kept right as answers change."""

from __future__ import annotations

import random

import pytest

from streamloop.online.span_agreement import SpanAgreement

PER, LOC = "PER", "LOC"


def f1(one: set[tuple[int, int, str]], other: set[tuple[int, int, str]]) -> float | None:
    given = len(one) + len(other)
    return 2 * len(one & other) / given if given else None


def test_pairs_and_the_team_match_hand_computed_span_f1() -> None:
    team = SpanAgreement([PER, LOC])
    # Text 1: ana and bo share the person; bo calls the place a person.
    team.record(1, "ana", [(0, 3, PER), (10, 15, LOC)])
    team.record(1, "bo", [(0, 3, PER), (10, 15, PER)])
    # Text 2: three annotators, each text weighing once over its three pairs.
    team.record(2, "ana", [(4, 8, LOC)])
    team.record(2, "bo", [(4, 8, LOC)])
    team.record(2, "cy", [])
    # Text 3: one annotator alone: no pair, no figure.
    team.record(3, "ana", [(0, 2, PER)])
    kappa = team.kappa()
    # ana-bo: 1 + 1 matched of 2 + 2 + 1 + 1 given.
    assert kappa["ana"]["bo"] == kappa["bo"]["ana"] == 2 * 2 / 6
    assert kappa["ana"]["cy"] == 0.0 and kappa["cy"] == {"ana": 0.0, "bo": 0.0}
    report = team.alpha()
    # Text 1: 2 x 1 of 4; text 2: pairs (ana, bo) 2 of 2, (ana, cy) 0 of 1, (bo, cy) 0 of 1,
    # each at 1/3.
    assert report["f1"] == pytest.approx((2 + 2 / 3) / (4 + 4 / 3))
    assert report["exact"] == pytest.approx((0 + 1 / 3) / 2)
    assert (report["items"], report["alpha"], report["measure"]) == (2, None, "span_f1")
    per_label = team.per_label()
    # PER: text 1 has 2 matched of 3 given; LOC: text 1 0 of 1, text 2 (2 of 2 + 0 of 1 +
    # 0 of 1) / 3.
    assert per_label[PER] == pytest.approx(2 / 3)
    assert per_label[LOC] == pytest.approx((2 / 3) / (1 + 4 / 3))


def test_an_answer_given_again_replaces_the_first() -> None:
    team = SpanAgreement([PER])
    team.record("t", "ana", [(0, 3, PER)])
    team.record("t", "bo", [(0, 4, PER)])
    assert team.kappa()["ana"]["bo"] == 0.0
    team.record("t", "bo", [(0, 3, PER)])
    assert team.kappa()["ana"]["bo"] == 1.0 and team.alpha()["exact"] == 1.0


def test_texts_without_spans_agree_exactly_and_have_no_f1() -> None:
    team = SpanAgreement([PER])
    team.record(1, "ana", [])
    team.record(1, "bo", [])
    assert team.kappa() == {"ana": {"bo": None}, "bo": {"ana": None}}
    assert team.alpha()["f1"] is None and team.alpha()["exact"] == 1.0


def test_an_unknown_label_is_refused_and_changes_nothing() -> None:
    team = SpanAgreement([PER])
    team.record(1, "ana", [(0, 3, PER)])
    with pytest.raises(ValueError, match="unknown label 'ORG'"):
        team.record(1, "bo", [(0, 3, "ORG")])
    assert team.alpha()["items"] == 0


def test_forgetting_an_annotator_leaves_the_figures_of_the_others_alone() -> None:
    rng = random.Random(7)
    spans = [(s, s + 2, rng.choice([PER, LOC])) for s in range(0, 20, 3)]
    team, without = SpanAgreement([PER, LOC]), SpanAgreement([PER, LOC])
    for item in range(40):
        for name in ("ana", "bo", "cy"):
            given = rng.sample(spans, rng.randrange(3))
            team.record(item, name, given)
            if name != "cy":
                without.record(item, name, given)
    team.forget("cy")
    assert team.kappa() == without.kappa()  # counts: exact
    for figure in ("f1", "exact"):
        assert team.alpha()[figure] == pytest.approx(without.alpha()[figure])
    assert team.alpha()["items"] == without.alpha()["items"] == 40
    assert team.per_label() == pytest.approx(without.per_label())


def test_a_pair_of_texts_by_hand_matches_the_reference_formula() -> None:
    one = {(0, 3, PER), (5, 9, LOC), (12, 14, PER)}
    other = {(0, 3, PER), (5, 9, PER)}
    team = SpanAgreement([PER, LOC])
    team.record("x", "ana", sorted(one))
    team.record("x", "bo", sorted(other))
    assert team.kappa()["ana"]["bo"] == f1(one, other) == 2 / 5
