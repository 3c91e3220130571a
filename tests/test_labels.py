"""Label validation: what users type is trimmed, checked and compared case-insensitively."""

from __future__ import annotations

import pytest

from neuron_core.errors import LabelError, NeuronCoreError
from neuron_core.labels import MAX_LABEL_CHARS, LabelSet, normalize_label


def test_normalize_trims_and_collapses_spaces_but_keeps_case() -> None:
    assert normalize_label("  Wave   right  hand \n") == "Wave right hand"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("wave\thand", "control character"),
        ("wave\nhand", "control character"),
        ("wave\x1b[31m", "control character"),
        ("zero\u200bwidth", "control character"),
        ("x" * (MAX_LABEL_CHARS + 1), "characters"),
        (42, "must be text"),
    ],
)
def test_bad_labels_are_refused_with_the_reason(text: object, reason: str) -> None:
    with pytest.raises(LabelError, match=reason) as info:
        normalize_label(text)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, NeuronCoreError)


def test_longest_allowed_label_passes() -> None:
    assert len(normalize_label("y" * MAX_LABEL_CHARS)) == MAX_LABEL_CHARS


def test_label_set_refuses_case_insensitive_duplicates() -> None:
    labels = LabelSet(["wave", "sit down"])
    with pytest.raises(LabelError, match="already"):
        labels.add("  WAVE ")
    assert labels.list() == ["wave", "sit down"]
    assert "Sit Down" in labels
    assert "\x00" not in labels


def test_label_set_limit_and_atomic_replace() -> None:
    labels = LabelSet(["a", "b"], max_labels=3)
    labels.add("c")
    with pytest.raises(LabelError, match="too many"):
        labels.add("d")
    with pytest.raises(LabelError):
        labels.set(["x", "y", ""])  # one bad label: nothing changes
    assert labels.list() == ["a", "b", "c"]
    with pytest.raises(LabelError, match="single string"):
        labels.set("abc")


def test_default_limit_is_200() -> None:
    labels = LabelSet([f"action {i}" for i in range(200)])
    with pytest.raises(LabelError, match="at most 200"):
        labels.add("one more")


def test_remove_matches_case_insensitively_and_reports_unknown() -> None:
    labels = LabelSet(["Drink Water", "clap"])
    assert labels.remove("drink water") == "Drink Water"
    assert labels.list() == ["clap"]
    with pytest.raises(LabelError, match="not in the set"):
        labels.remove("drink water")
    assert len(labels) == 1
