"""Label input: whatever a user types or passes, a label is either normalised (trimmed, inner spaces
collapsed, no control characters, 1 to 100 characters) or refused with a one-line reason; a set never
holds case-insensitive duplicates or more than 200 labels. Checked on neuron_core.labels (property
based) and at the command line, where a refused label is one ``error:`` line and exit code 2.
(The window's refusal with the reason on screen is tested in test_app_gui.py.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import main
from neuron_core.errors import LabelError
from neuron_core.labels import MAX_LABEL_CHARS, MAX_LABELS, LabelSet, label_key, normalize_label
from tests.conftest import ROOT

CONTROL = {"Cc", "Cf", "Cs", "Co"}

# Text as people paste it: words, odd spacing, tabs and newlines, zero-width and bidi marks, emoji.
TYPED = st.text(
    alphabet=st.sampled_from(list("wave jump UP Ümlaut ß é 跳") + [" ", "\t", "\n", "\r", "\x00", "\x1b",
                                                               "\u200b", "\u202e", "\u00a0", "\u3000", "👋"]),
    max_size=120,
) | st.text(max_size=140)  # fmt: skip


@settings(max_examples=400, deadline=None, database=None)
@given(text=TYPED)
def test_a_label_is_normalised_or_refused_in_one_line(text: str) -> None:
    try:
        label = normalize_label(text)
    except LabelError as exc:
        message = str(exc)
        # One line; long only when the quoted 40 characters are escapes (\U000f0000 is 10 characters).
        assert message and "\n" not in message and "\r" not in message and len(message) <= 500
        return
    assert label == label.strip() and "  " not in label and 1 <= len(label) <= MAX_LABEL_CHARS
    assert not any(unicodedata.category(ch) in CONTROL for ch in label), repr(label)
    assert not any(ch.isspace() and ch != " " for ch in label), repr(label)
    assert normalize_label(label) == label  # normalising twice changes nothing
    assert label == " ".join(text.split())  # only spacing changed, never the words or their case


@settings(max_examples=200, deadline=None, database=None)
@given(texts=st.lists(TYPED, max_size=30), limit=st.integers(1, 12))
def test_a_label_set_never_holds_duplicates_or_too_many(texts: list[str], limit: int) -> None:
    labels = LabelSet(max_labels=limit)
    for text in texts:
        before = labels.list()
        try:
            labels.add(text)
        except LabelError as exc:
            assert "\n" not in str(exc)
            assert labels.list() == before  # a refused add changes nothing
    keys = [label_key(label) for label in labels]
    assert len(keys) == len(set(keys)) and len(labels) <= limit


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \u3000 ", "empty"),
        ("wave\thand", "control character"),
        ("wave\nhand", "control character"),
        ("wave\x1b[31m", "control character"),
        ("wave\u200b", "control character (U+200B)"),
        ("x" * (MAX_LABEL_CHARS + 1), "at most 100"),
        (None, "must be text"),
        (42, "must be text"),
    ],
)
def test_each_refusal_says_why(text: object, reason: str) -> None:
    with pytest.raises(LabelError, match=re.escape(reason)):
        normalize_label(text)


def test_duplicates_and_limit_in_a_set() -> None:
    with pytest.raises(LabelError, match="already in the set"):
        LabelSet(["Sit down", "sit  DOWN"])
    with pytest.raises(LabelError, match="already in the set"):
        LabelSet(["STRASSE", "straße"])  # case-insensitive the Unicode way (casefold)
    full = LabelSet([f"action {i}" for i in range(MAX_LABELS)])
    with pytest.raises(LabelError, match=f"at most {MAX_LABELS}"):
        full.add("one more")
    assert len(full) == MAX_LABELS
    assert normalize_label("  wave   right  hand ") == "wave right hand"


# ---------------------------------------------------------------- the command line

CLI_CASES = {
    "empty": ("", "no label"),
    "only commas": (" , ,", "no label"),
    "duplicate": ("wave,jump,WAVE", "already in the set"),
    "too long": ("wave," + "y" * 101, "at most 100"),
    "control": ("wave,jump\x07", "control character"),
    "zero width": ("wa\u200bve", "control character"),
    "too many": (",".join(f"a{i}" for i in range(MAX_LABELS + 1)), f"at most {MAX_LABELS}"),
}


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEURON_LIVE_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_refuses_bad_labels_in_one_line(case: str, isolated: Path, capsys: pytest.CaptureFixture) -> None:
    value, reason = CLI_CASES[case]
    code = main(["--headless", "--demo", "--max-frames", "1", "--labels", value])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], err


def test_cli_labels_file_with_a_bad_label_names_the_file(
    isolated: Path, capsys: pytest.CaptureFixture
) -> None:
    path = isolated / "actions.txt"
    path.write_text("# my actions\nwave\nclap hands\nWave\n", encoding="utf-8")
    assert main(["--headless", "--demo", "--labels-file", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "actions.txt" in err and "already in the set" in err


@pytest.mark.slow
def test_neuron_live_exits_2_with_one_line(isolated: Path) -> None:
    """The installed entry point, as a user runs it: exit status 2 and a single line on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "--headless", "--demo", "--labels", "wave,Wave"],
        cwd=ROOT,
        env={**os.environ, "NEURON_LIVE_CONFIG_DIR": str(isolated / "config")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["error: label 'Wave' is already in the set (as 'wave')"]
