"""The rules for an item's next label: learned or recorded, and where the item goes."""

from __future__ import annotations

from streamloop.store import NewLabel
from streamloop.store.labels import Said, judge


def label(annotator: str | None, value: str, **more: object) -> NewLabel:
    source = "production" if annotator is None else "annotator"
    return NewLabel(
        f"{annotator}-{value}",
        value,
        str(more.pop("source", source)),
        event_id="e",
        annotator=annotator,
        **more,
    )  # type: ignore[arg-type]


def said(annotator: str, value: str, learned: bool, source: str = "annotator") -> Said:
    return Said(f"{annotator}-{value}", annotator, value, learned, source)


def test_a_first_label_is_learned_and_overlaps_the_item_when_more_are_wanted():
    assert judge(label("ana", "bug", overlap=3), "queued", [], 1) == (True, "overlap")
    assert judge(label("ana", "bug"), "queued", [], 1) == (True, "labelled")
    # Production ground truth never waits for annotators.
    assert judge(label(None, "bug", overlap=3), "queued", [], 1) == (True, "labelled")


def test_later_labels_are_recorded_until_every_annotator_wanted_has_labelled():
    first = [said("ana", "bug", True)]
    assert judge(label("bo", "bug"), "overlap", first, 3) == (False, "overlap")
    both = [*first, said("bo", "bug", False)]
    assert judge(label("cy", "bug"), "overlap", both, 3) == (False, "labelled")
    assert judge(label("cy", "billing"), "overlap", both, 3) == (False, "review")


def test_nobody_labels_an_overlapped_item_twice_and_production_may_not_at_all():
    first = [said("ana", "bug", True)]
    again = judge(label("ana", "billing"), "overlap", first, 2)
    assert not isinstance(again, tuple) and again.code == "already_labelled"
    production = judge(label(None, "bug"), "overlap", first, 2)
    assert not isinstance(production, tuple) and production.code == "already_labelled"


def test_a_correction_replaces_the_annotators_label_for_agreement_and_keeps_its_learning():
    first = [said("ana", "bug", True), said("bo", "billing", False)]
    corrected = label("bo", "bug", corrects="bo-billing")
    assert judge(corrected, "overlap", first, 3) == (False, "overlap")
    assert judge(label("ana", "other", corrects="ana-bug"), "overlap", first, 3) == (
        True,
        "overlap",
    )
    # bo's correction now agrees with ana: a third agreeing label closes the item.
    with_fix = [*first, Said("bo-bug", "bo", "bug", False, "annotator")]
    assert judge(label("cy", "bug"), "overlap", with_fix, 3) == (False, "labelled")


def test_a_review_is_learned_only_when_it_differs_from_what_was_learned():
    disputed = [said("ana", "bug", True), said("bo", "billing", False)]
    review = label("rev", "billing", source="review")
    assert judge(review, "review", disputed, 2) == (True, "labelled")
    agreeing = label("rev", "bug", source="review")
    assert judge(agreeing, "review", disputed, 2) == (False, "labelled")
    # A review corrected before: the last learned label is what a new review compares with.
    settled = [*disputed, said("rev", "billing", True, source="review")]
    assert judge(label("rev2", "billing", source="review"), "review", settled, 2) == (
        False,
        "labelled",
    )
    elsewhere = judge(review, "labelled", disputed, 2)
    assert not isinstance(elsewhere, tuple) and elsewhere.code == "not_in_review"


def test_a_review_compares_with_what_the_model_learned_without_a_quarantined_annotator():
    # ana's first label was learned, then ana was quarantined: the model has nothing for it.
    disputed = [said("ana", "bug", True), said("bo", "bug", False)]
    review = label("rev", "bug", source="review")
    assert judge(review, "review", disputed, 2) == (False, "labelled")
    assert judge(review, "review", disputed, 2, {"ana"}) == (True, "labelled")
