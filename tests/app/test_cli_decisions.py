"""``python -m app tag`` decisions end to end with the shipped models: labels per file,
``--write-tags`` into generated MP3 and FLAC files (real decode, real onnxruntime, mutagen), and
results files with and without the decision columns."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import results_file
from app.cli import main
from app.config import DEFAULT_MODEL, DEFAULT_MODELS_DIR
from app.results_file import TagRecord
from tagging.audio import decode, encode_mp3
from tagging.card import ModelCard
from tagging.constants import SAMPLE_RATE
from tagging.filetags import read_tags, write_tags
from tests.paths import BRAHMS_STRINGS

needs_default_model = pytest.mark.skipif(
    not (DEFAULT_MODELS_DIR / DEFAULT_MODEL / "model.onnx").is_file(),
    reason="the default model is not in models/ (python -m training import-pretrained)",
)


@pytest.fixture(scope="module")
def excerpt() -> np.ndarray:
    """Ten seconds of the string-orchestra recording (20-30 s): classical and strings."""
    return decode(BRAHMS_STRINGS)[20 * SAMPLE_RATE : 30 * SAMPLE_RATE]


@pytest.fixture
def music(tmp_path: Path, excerpt: np.ndarray) -> Path:
    """The excerpt as an MP3 and a FLAC file."""
    root = tmp_path / "music"
    root.mkdir()
    encode_mp3(excerpt, root / "strings.mp3")
    sf.write(root / "strings.flac", excerpt, SAMPLE_RATE)
    return root


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGGER_MODELS_DIR", str(DEFAULT_MODELS_DIR))
    monkeypatch.setenv("TAGGER_PROVIDERS", "cpu")


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


@needs_default_model
def test_write_tags_writes_the_labels_and_a_rerun_duplicates_nothing(
    music: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["tag", str(music), "--format", "json", "--write-tags", "--genre"]) == 0
    out, err = capsys.readouterr()
    rows = {Path(r["file"]).name: r for r in json.loads(out)}
    version = ModelCard.read(DEFAULT_MODELS_DIR / DEFAULT_MODEL / "card.json").version
    for name in ("strings.mp3", "strings.flac"):
        labels = rows[name]["labels"]
        assert {"classical", "strings"} <= set(labels) and rows[name]["policy"] == "f1"
        tags = read_tags(music / name)
        assert tags["labels"] == tuple(labels)
        assert tags["model"] == (DEFAULT_MODEL,) and tags["model_version"] == (version,)
        assert tags["genre"] == tuple(labels)
        assert f"tagged: {music / name}" in err
    before = snapshot(music)
    assert main(["tag", str(music), "--labels-only", "--write-tags", "--genre"]) == 0
    out, err = capsys.readouterr()
    assert snapshot(music) == before  # same labels: nothing rewritten, nothing duplicated
    assert err.count("unchanged: ") == 2
    printed = dict(line.split("\t") for line in out.splitlines())
    assert printed[str(music / "strings.flac")] == "; ".join(rows["strings.flac"]["labels"])


@needs_default_model
def test_an_existing_genre_is_kept_unless_overwritten(
    music: Path, capsys: pytest.CaptureFixture
) -> None:
    flac = music / "strings.flac"
    write_tags(flac, [], "someone", "1", genre=["Baroque"])
    assert main(["tag", str(flac), "--write-tags", "--genre"]) == 0
    assert "genre 'Baroque' kept" in capsys.readouterr().err
    assert read_tags(flac)["genre"] == ("Baroque",)
    assert main(["tag", str(flac), "--write-tags", "--genre", "--overwrite-genre"]) == 0
    assert "classical" in read_tags(flac)["genre"]


@needs_default_model
def test_a_read_only_file_is_reported_and_the_others_written(
    music: Path, capsys: pytest.CaptureFixture
) -> None:
    mp3 = music / "strings.mp3"
    mp3.chmod(stat.S_IRUSR | stat.S_IRGRP)
    data = mp3.read_bytes()
    try:
        assert main(["tag", str(music), "--write-tags"]) == 1
    finally:
        mp3.chmod(stat.S_IRUSR | stat.S_IWUSR)
    err = capsys.readouterr().err
    assert f"error: {mp3}: tags not written: the file is read-only" in err
    assert mp3.read_bytes() == data
    assert "classical" in read_tags(music / "strings.flac")["labels"]


@needs_default_model
def test_dry_run_changes_no_byte(music: Path, capsys: pytest.CaptureFixture) -> None:
    before = snapshot(music)
    assert main(["tag", str(music), "--write-tags", "--genre", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert snapshot(music) == before
    assert sorted(p.name for p in music.iterdir()) == ["strings.flac", "strings.mp3"]
    line = next(x for x in err.splitlines() if x.startswith(f"would change: {music}/strings.flac"))
    assert "MTAT_LABELS: (empty) -> classical" in line and "MTAT_MODEL_VERSION" in line


@needs_default_model
def test_a_model_that_decides_nothing_writes_nothing(
    music: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(music)
    assert main(["tag", str(music), "--model", "cnn1d", "--write-tags", "--labels-only"]) == 0
    out, err = capsys.readouterr()
    assert snapshot(music) == before
    assert "note: no labels: model 'cnn1d' has no calibrated thresholds" in err
    assert err.count("not written: ") == 2
    assert all(line.endswith("\t") for line in out.splitlines())
    # A threshold decides for any model.
    assert main(["tag", str(music), "--model", "cnn1d", "--threshold", "0", "--write-tags"]) == 0
    assert read_tags(music / "strings.mp3")["model"] == ("cnn1d",)
    assert len(read_tags(music / "strings.mp3")["labels"]) == 10


def test_decision_usage_errors(music: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tag", str(music), "--threshold", "1.5"]) == 2
    assert "--threshold: threshold 1.5 is not within 0..1" in capsys.readouterr().err
    for argv, message in (
        (["--dry-run"], "--dry-run needs --write-tags"),
        (["--genre"], "--genre needs --write-tags"),
        (["--write-tags", "--overwrite-genre"], "--overwrite-genre needs --genre"),
        (["--threshold-policy", "recall"], "invalid choice: 'recall'"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["tag", str(music), *argv])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


RECORDS = [
    TagRecord(
        "a b.mp3",
        "won_musicnn",
        29.1,
        [("classical", 0.72), ("no vocals", 0.41), ("rock", 0.1)],
        labels=["classical", "no vocals"],
        policy="f1",
        thresholds=[0.4236, 0.081, 0.434],
        present=[True, True, False],
    ),
    TagRecord("c.mp3", "won_musicnn", 3.0, [("rock", 0.1)], [], "precision", [None], [False]),
    TagRecord("d.mp3", "cnn1d", 3.0, [("rock", 0.1)], None, "f1", [None], [None]),
    TagRecord("e.mp3", "won_musicnn", 300.0, [("rock", 0.1)], [], "f1", [0.2], [False], 192.0),
]


@pytest.mark.parametrize("fmt", results_file.FORMATS)
def test_results_files_keep_the_decisions(fmt: str) -> None:
    back = results_file.parse(results_file.render(RECORDS, fmt), fmt)
    if fmt == "table":  # the table shows labels, not thresholds
        assert [(r.file, r.tags, r.labels) for r in back] == [
            (r.file, r.tags, r.labels) for r in RECORDS
        ]
    else:
        assert back == RECORDS


OLD_FILES = {
    "csv": "file,model,duration_s,rank,tag,probability\na.mp3,beta,3.000,1,rock,0.1000\n",
    "json": '[{"file": "a.mp3", "model": "beta", "duration_s": 3.0, '
    '"tags": [{"tag": "rock", "probability": 0.1}]}]',
    "table": "file   model  seconds  tags\na.mp3  beta   3.0      rock 0.100\n",
}


@pytest.mark.parametrize("fmt", results_file.FORMATS)
def test_results_files_from_before_decisions_are_read(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"old.{fmt}"
    path.write_text(OLD_FILES[fmt], encoding="utf-8")
    (record,) = results_file.read(path, fmt)
    assert record == TagRecord("a.mp3", "beta", 3.0, [("rock", 0.1)])
    assert record.labels is None and record.policy is None and record.decision(0) == (None, None)
