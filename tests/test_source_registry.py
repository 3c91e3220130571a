"""The table of skeleton sources: one row per kind, read by the file reader, training and help texts."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

import training.config as C
from pose.errors import SkeletonError
from pose.readers import read_skeleton_file
from pose.readers.registry import FILE_SUFFIXES, SKELETON_SOURCES, SOURCE_KINDS, source_kind
from pose.skeleton import Skeleton, save_npz
from tests.conftest import shared_path
from training.data import iter_source, load_source


def test_every_row_names_functions_that_exist() -> None:
    assert len(set(SOURCE_KINDS)) == len(SKELETON_SOURCES)
    for source in SKELETON_SOURCES:
        assert source.description and "\n" not in source.description
        assert source.read or source.iterate, source.kind
        assert bool(source.read) == bool(source.suffixes), source.kind
        for name in filter(None, (source.read, source.iterate)):
            assert callable(source._function(name)), f"{source.kind}: {source.module}.{name}"
    assert FILE_SUFFIXES == (".skeleton", ".npz", ".json", ".bvh", ".csv")


def test_training_config_and_help_read_the_table() -> None:
    assert C.SOURCE_KINDS == SOURCE_KINDS
    for kind in SOURCE_KINDS:
        assert C.SourceConfig(kind, "somewhere").kind == kind
    with pytest.raises(
        C.ConfigError, match="unknown data source kind 'kinect'; expected one of ntu_skeletons"
    ):
        C.SourceConfig("kinect", "somewhere")
    parser = argparse.ArgumentParser()
    C.add_config_flags(parser)
    text = parser.format_help()
    for kind in SOURCE_KINDS:
        assert kind in text


def test_the_file_reader_picks_the_row_by_suffix(tmp_path: Path) -> None:
    clip = Skeleton.from_single(np.ones((5, 25, 3), np.float32), 30.0, label="wave")
    save_npz(clip, tmp_path / "a.NPZ")
    assert read_skeleton_file(tmp_path / "a.NPZ").label == "wave"
    with pytest.raises(SkeletonError, match=r"unknown skeleton file type '\.txt' \(known: \.skeleton, \.npz"):
        read_skeleton_file(tmp_path / "a.txt")
    with pytest.raises(TypeError, match="utkinect has no single-file reader"):
        source_kind("utkinect").read_file(tmp_path / "a.txt")


def test_a_folder_without_its_own_walker_reads_each_file_and_skips_broken_ones(
    tmp_path: Path, caplog
) -> None:
    for name, label in (("b.npz", "jump"), ("sub/a.npz", "wave")):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        save_npz(Skeleton.from_single(np.ones((4, 25, 3), np.float32), 30.0, label=label), tmp_path / name)
    (tmp_path / "c.npz").write_bytes(b"not a zip")
    labels = [s.label for s in iter_source(C.SourceConfig("npz_folder", str(tmp_path)))]
    assert labels == ["jump", "wave"]  # name order of the paths; the broken file skipped
    assert "skipping" in caplog.text and "c.npz" in caplog.text


def test_mediapipe_landmark_csvs_are_a_training_source(tmp_path: Path, caplog) -> None:
    """A row without a folder reader: every .csv under the folder, read by the live replay's reader.
    A table without a label column (the shared set's surya namaskar) is left out, with a warning."""
    folder = shared_path("mediapipe_yoga")
    store = load_source(C.SourceConfig("mediapipe_csv", str(folder)), tmp_path)
    files = [f for f in sorted(folder.glob("*.csv")) if not f.name.startswith("surya")]
    assert sorted(store.labels.tolist()) == ["chair", "cobra", "downdog", "goddess", "tree", "warrior"]
    assert store.files.tolist() == [str(f) for f in files]
    joints, valid = store.sample(0)
    np.testing.assert_allclose(joints, read_skeleton_file(files[0]).joints)
    assert valid[:, 0].any() and not valid[:, 1].any()
    assert "1 skeletons without a label were left out" in caplog.text


def test_the_yoga_set_is_one_new_reader_and_one_row(tmp_path: Path) -> None:
    """The seam shown: pose/readers/mediapipe_yoga.py and its row in the table, nothing else, make
    the whole yoga set (also the clip without a label column) a training source."""
    folder = shared_path("mediapipe_yoga")
    assert "mediapipe_yoga" in C.SOURCE_KINDS
    store = load_source(C.SourceConfig("mediapipe_yoga", str(folder)), tmp_path)
    assert sorted(store.labels.tolist()) == [
        "chair", "cobra", "downdog", "goddess", "surya namaskar", "tree", "warrior"
    ]  # fmt: skip
    assert set(store.datasets.tolist()) == {"mediapipe_yoga"}
    assert store.groups.tolist()[0] == "mediapipe_yoga/subject:1"  # chair__P1__2_.csv
    files = sorted(folder.glob("*.csv"))
    np.testing.assert_allclose(store.sample(4)[0], read_skeleton_file(files[4]).joints)  # surya namaskar
