"""``python -m app library similar|search|index`` (app.library.commands.*) on a real LanceDB
library, through their argparse registration as app.library.cli wires them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from app.library.commands import index, search, similar
from app.library.schema import track_id
from app.library.search import INDEX_FILE
from tests.app.library.test_search import brute_force, make


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (similar, search, index):
        module.register(sub)
    args = parser.parse_args(argv)
    return args.run(args)


def test_similar_by_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = make(tmp_path)
    me = track_id("/music/a/0003.mp3")
    assert cli(["similar", "--id", me, "-k", "3", "--library", str(tmp_path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = [i for i in brute_force(vectors, vectors[3], 4) if i != 3][:3]
    assert [m["path"] for m in got] == [f"a/{i:04d}.mp3" for i in want]
    assert cli(["similar", "--id", me, "--library", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        len(lines) == 10
        and lines[0].split()[0] == "1"
        and lines[0].endswith(track_id(f"/music/a/{want[0]:04d}.mp3"))
    )


def test_similar_usage_and_query_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make(tmp_path)
    assert cli(["similar", "--library", str(tmp_path)]) == 2
    assert "either FILE or --id" in capsys.readouterr().err
    assert cli(["similar", "--id", "0" * 16, "--library", str(tmp_path)]) == 1
    assert "no track with id" in capsys.readouterr().err
    assert cli(["similar", "--id", "0" * 16, "--library", str(tmp_path / "nope")]) == 1
    assert "is not a library" in capsys.readouterr().err


def test_search_by_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make(tmp_path)
    argv = [
        "search",
        "--labels",
        "classical,strings",
        "--exclude",
        "drums",
        "--library",
        str(tmp_path),
    ]
    assert cli([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    got = json.loads(captured.out)
    assert got and all(
        {"classical", "strings"} <= set(m["labels"]) and "drums" not in m["labels"] for m in got
    )
    assert f"{len(got)} tracks match" in captured.err
    assert cli(["search", "--labels", "cello", "--library", str(tmp_path)]) == 1
    assert "unknown labels 'cello'" in capsys.readouterr().err


def test_index_only_when_big_enough_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(tmp_path, n=400)
    assert cli(["index", "--library", str(tmp_path)]) == 0
    assert "no index built: 400 tracks" in capsys.readouterr().err
    assert not (tmp_path / INDEX_FILE).exists()
    assert cli(["index", "--library", str(tmp_path), "--force"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "IVF_PQ" and info["rows"] == 400 and info["metric"] == "cosine"
    assert json.loads((tmp_path / INDEX_FILE).read_text())["params"] == info["params"]
