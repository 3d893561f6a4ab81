"""MTAT annotations: real header/quoting, top-K with ties, synonym merging, splits, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagging.constants import TOP10_TAGS
from tests.paths import DATA
from training.constants import SPLIT_FOLDERS, mtat_tag_columns
from training.data.mtat import (
    ANNOTATIONS_FILE,
    SYNONYM_GROUPS,
    AnnotationsError,
    Clip,
    read_annotations,
    write_annotations,
)

FIXTURE = DATA / "annotations_header_fixture.csv"


def _root(tmp_path: Path, cols: list[str], rows: list[tuple[int, str, list[int]]]) -> Path:
    ids = [r[0] for r in rows]
    paths = [r[1] for r in rows]
    labels = np.array([r[2] for r in rows]).reshape(len(rows), len(cols))
    write_annotations(tmp_path / ANNOTATIONS_FILE, ids, paths, cols, labels)
    return tmp_path


def test_fixture_with_the_real_header_and_quoting(tmp_path: Path) -> None:
    # The fixture is in the official file's exact format: 190 double-quoted, tab-separated fields.
    first = FIXTURE.read_text().split("\n", 1)[0]
    assert first.startswith('"clip_id"\t"no voice"\t"singer"') and first.endswith('"mp3_path"')
    ann = read_annotations(FIXTURE, top_k=3)
    assert ann.columns == tuple(mtat_tag_columns()) and len(ann.columns) == 188
    assert [c.clip_id for c in ann.clips] == [2, 6, 14, 29, 101]
    assert ann.clips[0].path.startswith("f/american_bach_soloists")
    assert ann.clips[0].folder == "f"
    # classical 3, strings 2, then rock and techno tie at 1: rock comes first in the file.
    assert ann.tags == ("classical", "strings", "rock")
    assert ann.tag_counts["techno"] == 1 and ann.tag_counts["rock"] == 1
    assert ann.clips[0].labels == (1, 1, 0)
    assert ann.clips[2].labels == (0, 0, 0)  # clip 14 is techno only
    # the same file through a root folder
    (tmp_path / ANNOTATIONS_FILE).write_bytes(FIXTURE.read_bytes())
    assert read_annotations(tmp_path, top_k=3).tags == ann.tags


def test_synthetic_root_roundtrip_and_label_matrix(tmp_path: Path) -> None:
    cols = mtat_tag_columns()
    rng = np.random.default_rng(1)
    labels = (rng.random((40, len(cols))) < 0.2).astype(int)
    paths = [f"{'0123456789abcdef'[i % 16]}/x{i}.mp3" for i in range(40)]
    write_annotations(tmp_path / ANNOTATIONS_FILE, list(range(40)), paths, cols, labels)
    ann = read_annotations(tmp_path)
    counts = labels.sum(0)
    expected = sorted(range(len(cols)), key=lambda j: (-counts[j], j))[:10]
    assert ann.tags == tuple(cols[j] for j in expected)
    m = ann.label_matrix(ann.clips)
    assert m.dtype == np.float32 and m.shape == (40, 10)
    np.testing.assert_array_equal(m, labels[:, expected])
    assert ann.label_matrix([]).shape == (0, 10)
    assert len(read_annotations(tmp_path, top_k=None).tags) == 188


def test_top_k_ties_broken_by_column_order(tmp_path: Path) -> None:
    cols = ["a", "b", "c", "d"]
    rows = [
        (1, "0/1.mp3", [0, 1, 1, 1]),
        (2, "0/2.mp3", [1, 1, 0, 1]),
        (3, "0/3.mp3", [0, 0, 0, 1]),
    ]
    ann = read_annotations(_root(tmp_path, cols, rows), top_k=3)
    # counts a=1 b=2 c=1 d=3 -> d, b, then a before c (tie, column order)
    assert ann.tags == ("d", "b", "a")
    assert ann.clips[0].labels == (1, 1, 0)
    with pytest.raises(ValueError, match="only 4 tag columns"):
        read_annotations(tmp_path, top_k=5)


def test_synonym_merging_is_an_or_and_off_by_default(tmp_path: Path) -> None:
    cols = ["guitar", "classical", "clasical", "classic", "guitars", "rock"]
    rows = [
        (1, "0/1.mp3", [0, 0, 1, 0, 0, 0]),
        (2, "0/2.mp3", [0, 1, 0, 1, 0, 0]),
        (3, "0/3.mp3", [0, 0, 0, 1, 1, 0]),
        (4, "0/4.mp3", [1, 0, 0, 0, 0, 1]),
        (5, "0/5.mp3", [0, 0, 0, 0, 0, 1]),
    ]
    root = _root(tmp_path, cols, rows)
    raw = read_annotations(root, top_k=6)
    assert raw.tag_counts == {
        "guitar": 1, "classical": 1, "clasical": 1, "classic": 2, "guitars": 1, "rock": 2
    }  # fmt: skip
    merged = read_annotations(root, top_k=3, merge_synonyms=True)
    assert merged.columns == ("guitar", "classical", "rock")
    assert merged.tag_counts == {"guitar": 2, "classical": 3, "rock": 2}
    assert merged.tags == ("classical", "guitar", "rock")  # guitar/rock tie: guitar first
    assert [c.labels for c in merged.clips] == [
        (1, 0, 0),
        (1, 0, 0),
        (1, 1, 0),
        (0, 1, 1),
        (0, 0, 1),
    ]
    assert merged.merged["classical"] == ("classical", "clasical", "classic")


def test_synonym_table_uses_real_mtat_columns() -> None:
    cols = set(mtat_tag_columns())
    seen: set[str] = set()
    for group in SYNONYM_GROUPS:
        assert len(group) >= 2
        assert set(group) <= cols, set(group) - cols
        assert not seen & set(group), "a tag belongs to two groups"
        seen |= set(group)
    # The literature's top-10 tags survive as merged column names.
    assert {"guitar", "classical", "strings", "drums", "electronic"} <= {
        g[0] for g in SYNONYM_GROUPS
    }
    assert set(TOP10_TAGS) <= cols


def test_folder_splits_and_clean(tmp_path: Path) -> None:
    cols = ["x", "y"]
    rows = [(i, f"{f}/{i}.mp3", [i % 2, 0]) for i, f in enumerate("0123456789abcdef")]
    ann = read_annotations(_root(tmp_path, cols, rows), top_k=2)
    for name, folders in SPLIT_FOLDERS.items():
        assert sorted(c.folder for c in ann.split(name)) == sorted(folders)
    assert [c.folder for c in ann.split("valid")] == ["c"]
    assert [c.folder for c in ann.split("test")] == ["d", "e", "f"]
    assert len(ann.split("train")) == 12
    clean = ann.split("train", clean=True)
    assert clean and all(any(c.labels) for c in clean) and len(clean) == 6
    assert ann.split("test", clean=True) == [
        Clip(13, "d/13.mp3", (1, 0)),
        Clip(15, "f/15.mp3", (1, 0)),
    ]
    with pytest.raises(ValueError, match="unknown split"):
        ann.split("validation")


def test_missing_file_and_bad_header(tmp_path: Path) -> None:
    with pytest.raises(AnnotationsError, match="not found"):
        read_annotations(tmp_path)
    (tmp_path / ANNOTATIONS_FILE).write_text('"id"\t"a"\t"mp3_path"\n')
    with pytest.raises(AnnotationsError, match="clip_id"):
        read_annotations(tmp_path)
    (tmp_path / ANNOTATIONS_FILE).write_text('"clip_id"\t"a"\t"path"\n')
    with pytest.raises(AnnotationsError, match="mp3_path"):
        read_annotations(tmp_path)
    (tmp_path / ANNOTATIONS_FILE).write_text('"clip_id"\t"mp3_path"\n')
    with pytest.raises(AnnotationsError, match="no tag columns"):
        read_annotations(tmp_path)
    (tmp_path / ANNOTATIONS_FILE).write_text("")
    with pytest.raises(AnnotationsError, match="empty"):
        read_annotations(tmp_path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('"3"\t"1"\t"0/3.mp3"', "3 fields, expected 4"),
        ('"x"\t"1"\t"0"\t"0/3.mp3"', "clip_id 'x' is not an integer"),
        ('"3"\t"1"\t"2"\t"0/3.mp3"', "label '2' is not 0 or 1"),
        ('"3"\t"1"\t"0"\t""', "empty mp3_path"),
        ('"1"\t"1"\t"0"\t"0/3.mp3"', "clip_id 1 appears twice"),
    ],
)
def test_malformed_rows_name_the_line(tmp_path: Path, row: str, message: str) -> None:
    text = '"clip_id"\t"a"\t"b"\t"mp3_path"\n"1"\t"0"\t"1"\t"0/1.mp3"\n' + row + "\n"
    (tmp_path / ANNOTATIONS_FILE).write_text(text)
    with pytest.raises(AnnotationsError, match=f"{ANNOTATIONS_FILE}:3: .*{message}"):
        read_annotations(tmp_path)
