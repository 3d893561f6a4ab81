"""The ``mtattag`` beets plugin under real beets: a temporary library, ``beet import``, then
``beet mtattag`` in process and through a real uvicorn server; real models, real files.

beets runs in a subprocess per command (its configuration and plugins are process-global), with
``BEETSDIR`` in ``tmp_path`` and the worktree on ``PYTHONPATH`` so that its ``beetsplug/`` joins
beets' own plugin namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf

from tagging.filetags import read_tags
from tests.paths import BRAHMS_STRINGS, DATA, MTAT_CLIP, REPO

pytest.importorskip("beets")

TRUMPET = DATA / "real" / "sorohanro_-_solo-trumpet-06.ogg"
MODEL = "won_musicnn"  # the default model, the one with calibrated thresholds
BEET_TIMEOUT_S = 300

Beet = Callable[..., subprocess.CompletedProcess]


def techno_loop(path: Path, seconds: float = 12.0, sr: int = 22050, bpm: float = 128.0) -> None:
    """A synthetic four-on-the-floor loop: kick on every beat, open hat off the beat, a sawtooth
    bass line; written as FLAC."""
    t = np.arange(int(seconds * sr)) / sr
    beat = 60.0 / bpm
    phase = t % beat  # seconds since the last beat
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-phase * 30)) * phase) * np.exp(-phase * 12)
    off = (t + beat / 2) % beat
    noise = np.random.default_rng(0).standard_normal(len(t))
    hat = np.diff(noise, prepend=0.0) * np.exp(-off * 60) * 0.2
    notes = np.array([55.0, 55.0, 65.4, 49.0])[(t // (beat * 2)).astype(int) % 4]
    bass = 2 * ((t * notes) % 1.0) - 1
    wave = 0.5 * kick + hat + 0.15 * bass * np.exp(-(t % (beat / 2)) * 8)
    sf.write(path, (0.8 * wave / np.abs(wave).max()).astype(np.float32), sr, format="FLAC")


def titled_copy(src: Path, dest: Path, title: str) -> Path:
    """``src`` copied to ``dest`` with a title tag, so each item is found by ``title:``."""
    shutil.copyfile(src, dest)
    audio = mutagen.File(dest, easy=True)
    if audio.tags is None:
        audio.add_tags()
    audio["title"] = title
    audio.save()
    return dest


def make_beet(root: Path, extra: str = "") -> Beet:
    """A ``beet`` command for a library under ``root`` (config ``extra`` appended)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(
        f"directory: {root / 'music'}\nlibrary: {root / 'library.db'}\nplugins: mtattag\n"
        f"import:\n  copy: yes\n  write: no\n{extra}",
        encoding="utf-8",
    )
    env = {**os.environ, "BEETSDIR": str(root), "PYTHONPATH": str(REPO), "HOME": str(root)}
    env.pop("TAGGER_MODELS_DIR", None)

    def beet(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "beets", *args],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=BEET_TIMEOUT_S,
        )
        if check:
            assert proc.returncode == 0, f"beet {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    return beet


def lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Beet, subprocess.CompletedProcess]:
    """A library of four items, one of them damaged after import, tagged by ``beet mtattag``
    in process: the beet command and the tagging run's output."""
    root = tmp_path_factory.mktemp("beets")
    source = root / "source"
    source.mkdir()
    techno_loop(root / "loop.flac")
    titled_copy(root / "loop.flac", source / "loop.flac", "synthetic techno loop")
    titled_copy(BRAHMS_STRINGS, source / "brahms.ogg", "string orchestra")
    titled_copy(MTAT_CLIP, source / "techno.mp3", "mtat techno")
    titled_copy(TRUMPET, source / "trumpet.ogg", "damaged trumpet")
    beet = make_beet(root)
    beet("import", "-A", "-q", str(source))
    assert len(lines(beet("ls"))) == 4
    damaged = Path(lines(beet("ls", "-p", "title:damaged trumpet"))[0])
    damaged.write_bytes(b"OggS" + bytes(range(256)) * 40)  # an Ogg page header, then garbage
    return beet, beet("-v", "mtattag")


def test_plugin_loads_and_lists_its_command(tmp_path: Path) -> None:
    beet = make_beet(tmp_path)
    assert "mtattag" in beet("help").stdout
    assert "--force" in beet("help", "mtattag").stdout


def test_string_orchestra_is_classical_and_techno_is_not(library) -> None:
    beet, _ = library
    found = lines(beet("ls", "-f", "$title", "mtat_labels:classical"))
    assert "string orchestra" in found
    assert "mtat techno" not in found
    assert "synthetic techno loop" not in found
    assert "mtat techno" in lines(beet("ls", "-f", "$title", "mtat_labels:techno"))


def test_fields_stored(library) -> None:
    beet, _ = library
    fmt = "$title|$mtat_model|$mtat_classical|$mtat_techno|$mtat_labels"
    rows = {r.split("|")[0]: r.split("|")[1:] for r in lines(beet("ls", "-f", fmt))}
    for title in ("string orchestra", "mtat techno", "synthetic techno loop"):
        model, classical, techno, labels = rows[title]
        assert model == MODEL
        assert 0.0 <= float(classical) <= 1.0 and 0.0 <= float(techno) <= 1.0
    assert float(rows["string orchestra"][1]) > float(rows["mtat techno"][1])
    assert float(rows["mtat techno"][2]) > float(rows["string orchestra"][2])
    assert rows["string orchestra"][3].split(", ")[0] == "classical"  # most probable first
    # Probabilities are numbers to beets: a range query works.
    assert "string orchestra" in lines(beet("ls", "-f", "$title", "mtat_classical:0.5..1"))


def test_damaged_file_is_logged_and_skipped(library) -> None:
    beet, run = library
    [damaged] = lines(beet("ls", "-p", "title:damaged trumpet"))
    errors = [line for line in (run.stdout + run.stderr).splitlines() if "cannot tag" in line]
    assert len(errors) == 1 and damaged in errors[0]
    assert "tagged 3 of 4 item(s)" in run.stdout + run.stderr
    tagged = lines(beet("ls", "-f", "$title", "mtat_model::."))
    assert sorted(tagged) == ["mtat techno", "string orchestra", "synthetic techno loop"]
    # A second run retries only the untagged item; -f retags tagged ones.
    again = beet("-v", "mtattag")
    assert "tagged 0 of 1 item(s)" in again.stdout + again.stderr
    forced = beet("-v", "mtattag", "-f", "title:string orchestra")
    assert "tagged 1 of 1 item(s)" in forced.stdout + forced.stderr


def test_auto_tags_on_import_and_writes_the_file(tmp_path: Path) -> None:
    beet = make_beet(tmp_path / "lib", "  write: yes\nmtattag:\n  auto: yes\n")
    source = titled_copy(BRAHMS_STRINGS, tmp_path / "brahms.ogg", "string orchestra")
    beet("import", "-A", "-q", str(source))
    assert lines(beet("ls", "-f", "$title", "mtat_labels:classical")) == ["string orchestra"]
    [path] = lines(beet("ls", "-p"))
    written = read_tags(path)
    assert written["labels"][0] == "classical"
    assert written["model"] == (MODEL,)
    assert written["model_version"] and written["model_version"][0]
    assert read_tags(source)["labels"] == ()  # the source outside the library is not written


def test_auto_off_leaves_imports_untagged(tmp_path: Path) -> None:
    beet = make_beet(tmp_path / "lib")
    source = titled_copy(BRAHMS_STRINGS, tmp_path / "brahms.ogg", "string orchestra")
    beet("import", "-A", "-q", str(source))
    assert lines(beet("ls", "-f", "$title")) == ["string orchestra"]
    assert lines(beet("ls", "mtat_model::.")) == []


def test_through_a_running_service(tmp_path: Path) -> None:
    from benchmarks.flood import served

    key = "beets-test-key"
    env = {"TAGGER_MODELS_DIR": str(REPO / "models"), "TAGGER_API_KEYS": key}
    env |= {"TAGGER_PROVIDERS": "cpu"}
    with served(env) as (url, _pid, _log):
        beet = make_beet(tmp_path / "lib", f"mtattag:\n  url: {url}\n  api_key: {key}\n")
        source = tmp_path / "source"
        source.mkdir()
        titled_copy(BRAHMS_STRINGS, source / "brahms.ogg", "string orchestra")
        titled_copy(MTAT_CLIP, source / "techno.mp3", "mtat techno")
        beet("import", "-A", "-q", str(source))
        beet("mtattag", "-w")
        found = lines(beet("ls", "-f", "$title", "mtat_labels:classical"))
        assert found == ["string orchestra"]
        assert lines(beet("ls", "-f", "$mtat_model", "title:mtat techno")) == [MODEL]
        [path] = lines(beet("ls", "-p", "title:string orchestra"))
        assert read_tags(path)["labels"][0] == "classical"
        # A wrong key is refused by the service: the command fails with its message.
        wrong = tmp_path / "wrong-key.yaml"
        wrong.write_text("mtattag:\n  api_key: wrong\n", encoding="utf-8")
        refused = beet("-c", str(wrong), "mtattag", "-f", check=False)
        assert refused.returncode != 0
        assert "service answered 401" in refused.stderr + refused.stdout
