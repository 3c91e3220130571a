"""No lost work: a crash (SIGKILL) at any moment leaves the label list whole and the recording readable.

The label list is written by a child process saving two versions in turn, as fast as it can; the
parent kills it at a random moment, many times, and reads the file each time: it must always be one
complete version. A control run with a writer that writes in place shows the check does catch torn
files. The recording test kills a real ``neuron-live --headless --demo --record`` run mid-stream.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.label_store import LABELS_FILE, load_labels, save_labels
from neuron_base.atomic import atomic_path, atomic_write_bytes, atomic_write_text, temp_path
from tests.conftest import ROOT
from tests.doubles import hash_checkpoint as tiny_checkpoint

KILLS = 80
# Two versions big enough (about 20 KB) that writing one takes several system calls.
VERSIONS = [[f"{word} {i} " + "x" * 80 for i in range(200)] for word in ("old", "new")]

ATOMIC_WRITER = """
import json, sys
from pathlib import Path
from app.label_store import save_labels
directory, versions = Path(sys.argv[1]), json.loads(sys.argv[2])
print("ready", flush=True)
i = 0
while True:
    save_labels(versions[i % 2], directory)
    i += 1
"""

# The control: what the label store must not do, rewrite the file in place, a piece at a time.
IN_PLACE_WRITER = """
import json, sys
from pathlib import Path
path, versions = Path(sys.argv[1]) / "labels.json", json.loads(sys.argv[2])
print("ready", flush=True)
i = 0
while True:
    text = json.dumps({"version": 1, "labels": versions[i % 2]})
    with open(path, "w", encoding="utf-8") as fh:
        for start in range(0, len(text), 4096):
            fh.write(text[start : start + 4096])
            fh.flush()
    i += 1
"""


def kill_mid_write(script: str, directory: Path, rng: random.Random) -> None:
    """Start a writer, let it run for a random moment (0 to 30 ms of writing), SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(directory), json.dumps(VERSIONS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.03))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def whole_version(path: Path) -> bool:
    """The file holds one complete version (not empty, not half, not a mix)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("labels") in VERSIONS


@pytest.mark.slow
def test_label_list_survives_sigkill_mid_save(tmp_path: Path) -> None:
    rng = random.Random(1234)
    save_labels(VERSIONS[0], tmp_path)
    path = tmp_path / LABELS_FILE
    seen = set()
    for i in range(KILLS):
        kill_mid_write(ATOMIC_WRITER, tmp_path, rng)
        assert whole_version(path), f"kill {i}: the label file is torn: {path.read_bytes()[:80]!r}"
        seen.add(load_labels(tmp_path)[0])
    # The kills did land at different points: both versions were found on disk.
    assert len(seen) == 2, seen


@pytest.mark.slow
def test_control_in_place_writer_is_caught(tmp_path: Path) -> None:
    """Without temp file + os.replace, the same kills leave empty or half files: the check is not vacuous."""
    rng = random.Random(99)
    save_labels(VERSIONS[0], tmp_path)
    torn = 0
    for _ in range(30):
        kill_mid_write(IN_PLACE_WRITER, tmp_path, rng)
        torn += not whole_version(tmp_path / LABELS_FILE)
        if torn:
            break
    assert torn, "30 kills of an in-place writer never left a torn file; the kill test cannot see tearing"


def test_save_is_atomic_by_construction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mechanism itself: the data is fsynced before os.replace puts it in place, from the same folder."""
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src, dst) -> None:
        calls.append("replace")
        assert Path(src).parent == Path(dst).parent  # a rename within one file system
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_labels(["wave"], tmp_path)
    assert calls[-2:] == ["fsync", "replace"]
    assert load_labels(tmp_path) == ["wave"]


def test_the_shared_writer_leaves_old_or_new_and_never_its_temp(tmp_path: Path) -> None:
    """neuron_base.atomic: the temp file sits beside the target, named with the process id, and is
    removed when the write fails, leaving the old content in place."""
    path = atomic_write_text(tmp_path / "sub" / "a.json", "old")  # the folder is made
    assert path.read_text() == "old"
    tmp = temp_path(path)
    assert tmp.parent == path.parent and str(os.getpid()) in tmp.name and tmp.name.startswith(".")
    with pytest.raises(RuntimeError), atomic_path(path) as partial:
        partial.write_text("half")
        raise RuntimeError("writer died")
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_a_torn_or_foreign_file_falls_back_to_defaults(tmp_path: Path) -> None:
    """Reading never fails the app: a damaged list is ignored (the defaults then apply)."""
    path = tmp_path / LABELS_FILE
    for content in (b"", b'{"labels": ["wa', b"\xff\xfe", b'{"labels": [1, 2]}', b"[]"):
        path.write_bytes(content)
        assert load_labels(tmp_path) is None


# ---------------------------------------------------------------- recordings


def run_and_kill(tmp_path: Path, record: Path, lines_before_kill: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEURON_LIVE_CONFIG_DIR": str(tmp_path / "config"), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "app.cli", "--headless", "--demo", "--loop", "--fast", "--device", "cpu",
        "--labels", "wave,clap hands,squat", "--checkpoint", str(tmp_path / "tiny.pt"),
        "--record", str(record),
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if record.exists() and record.read_bytes().count(b"\n") >= lines_before_kill:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the app ended by itself: {proc.stderr.read().decode()[-500:]}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    return proc


@pytest.mark.slow
def test_recording_survives_kill_9_up_to_the_last_full_line(tmp_path: Path) -> None:
    tiny_checkpoint(tmp_path / "tiny.pt")
    record = tmp_path / "run.jsonl"
    for attempt, want in enumerate((5, 40)):  # appended to by two runs, each killed mid-stream
        proc = run_and_kill(tmp_path, record, want)
        assert proc.returncode == -signal.SIGKILL, attempt
        raw = record.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # tail: b"" if the kill fell between lines
        assert len(complete) >= want
        for number, line in enumerate(complete, 1):
            record_ = json.loads(line)
            assert {"frame_index", "top_k", "state"} <= set(record_), number
        if tail:  # a line cut by the kill is the only damage allowed, and only at the end
            with pytest.raises(ValueError):
                json.loads(tail)
            record.write_bytes(raw[: -len(tail)])  # as a reader would: keep the complete lines
