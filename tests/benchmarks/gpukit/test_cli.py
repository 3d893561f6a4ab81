"""``python -m benchmarks.gpukit``'s device side on CPU: unpack, the nvidia link, the doctor,
the plan, and scripts/device_gpu_check.sh itself."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from benchmarks.gpukit import cli, device, parts
from tests.paths import REPO

SCRIPT = REPO / "scripts" / "device_gpu_check.sh"


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    site = tmp_path / "src" / "site"
    site.mkdir(parents=True)
    (site / "marker.py").write_text("HERE = True\n")
    (site / "blob.bin").write_bytes(os.urandom(30_000))
    archive = tmp_path / "kit.tar.xz"
    parts.compress({"site": site}, archive)
    parts.split(archive, tmp_path / "kit", 12_000, {"arch": 90})
    return tmp_path / "kit"


def test_unpack_names_missing_parts_then_extracts_and_links_nvidia(
    kit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "out"
    moved = tmp_path / "held-back"
    shutil.move(kit / "3", moved)
    assert cli.main(["unpack", "--kit", str(kit), "--to", str(dest)]) == 3
    assert "still to send: 3" in capsys.readouterr().err
    shutil.move(moved, kit / "3")

    assert cli.main(["unpack", "--kit", str(kit), "--to", str(dest)]) == 0
    assert (dest / "site" / "marker.py").read_text() == "HERE = True\n"
    link = dest / "site" / "nvidia"  # this venv's nvidia-* wheels stand for the image's
    assert link.is_symlink() and (link / "cudnn").is_dir()
    assert not link.resolve().is_relative_to(dest.resolve())
    assert device.link_nvidia(dest / "site") == link.resolve()  # again: the same folder

    (kit / "2" / parts.PART).write_bytes(b"not the part")
    assert cli.main(["unpack", "--kit", str(kit), "--to", str(tmp_path / "other")]) == 2
    assert "part 2 is not the one" in capsys.readouterr().err


def doctor(kit: Path, site: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    status = cli.main(["doctor", "--kit", str(kit), "--site", str(site)])
    return status, json.loads(capsys.readouterr().out)


def test_doctor_wants_the_kits_onnxruntime_on_the_kits_gpu(
    kit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, report = doctor(kit, tmp_path, capsys)  # no GPU here, onnxruntime from the venv
    assert status == 1
    assert any("onnxruntime is not the kit's" in p for p in report["problems"])
    assert "no GPU found (nvidia-smi --query-gpu=compute_cap)" in report["problems"]

    ort_site = Path(ort.__file__).parents[1]  # as if the venv's site-packages were the kit
    monkeypatch.setattr(device, "compute_capability", lambda: 80)
    status, report = doctor(kit, ort_site, capsys)
    assert status == 1 and report["problems"] == [
        "the GPU's compute capability is 8.0; the kit keeps sm_90's code only: "
        "rebuild it with --arch 80"
    ]
    monkeypatch.setattr(device, "compute_capability", lambda: 90)
    status, report = doctor(kit, ort_site, capsys)
    assert (status, report["problems"], report["compute_capability"]) == (0, [], 90)


def test_a_kit_with_every_architecture_takes_any_gpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "src" / "site"
    site.mkdir(parents=True)
    (site / "x.py").write_text("")
    parts.compress({"site": site}, tmp_path / "kit.tar.xz")
    kit = tmp_path / "kit"
    parts.split(tmp_path / "kit.tar.xz", kit, 1 << 20, {"arch": 0})  # build --arch 0
    ort_site = Path(ort.__file__).parents[1]
    monkeypatch.setattr(device, "compute_capability", lambda: 80)
    status, report = doctor(kit, ort_site, capsys)
    assert (status, report["problems"]) == (0, [])
    monkeypatch.setattr(device, "compute_capability", lambda: None)
    status, report = doctor(kit, ort_site, capsys)
    assert report["problems"] == ["no GPU found (nvidia-smi --query-gpu=compute_cap)"]


def test_plan_is_one_call_per_part_the_last_one_long(
    kit: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["plan", "--kit", str(kit)]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert len(lines) == len(parts.manifest_of(kit).parts) >= 3
    assert lines[0] == (
        f'run(command="GPUKIT_PARTS={kit} bash scripts/device_gpu_check.sh", '
        f'carry=["{kit}/1"], timeout_s=120)'
    )
    assert "outside the repository" in printed.err  # a tmp folder: carry cannot take it
    assert lines[-1].endswith(f'carry=["{kit}/{len(lines)}"], timeout_s=600)')


def test_plan_refuses_parts_that_no_longer_fit_beside_the_tree(
    kit: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts are 12,000 bytes: with a 1-MiB call they fit beside a tree of up to
    1 MiB - 12,000 - the manifest's room, not one byte more."""
    largest = cli.budget.MANIFEST_ROOM + 12_000
    monkeypatch.setattr(cli.budget, "tree_bytes", lambda root: (1 << 20) - largest)
    assert cli.main(["plan", "--kit", str(kit), "--call-mib", "1"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(cli.budget, "tree_bytes", lambda root: (1 << 20) - largest + 1)
    assert cli.main(["plan", "--kit", str(kit), "--call-mib", "1"]) == 2
    assert "the working tree grew" in capsys.readouterr().err


def run_script(kit: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PY": sys.executable, "GPUKIT_PARTS": str(kit), "GPUKIT_DIR": str(dest)}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)


def test_the_device_script_waits_for_its_parts_then_stops_at_the_doctor(
    kit: Path, tmp_path: Path
) -> None:
    """Here (no GPU, no kit onnxruntime) it goes as far as the doctor, which stops it."""
    held = tmp_path / "held-back"
    shutil.move(kit / "2", held)
    result = run_script(kit, tmp_path / "out")
    assert result.returncode == 3 and "still to send: 2" in result.stderr
    waiting = json.loads(result.stdout.splitlines()[-1])  # meanwhile: what this machine is
    assert waiting["python"] == platform.python_version() and waiting["gpu"] is None
    shutil.move(held, kit / "2")
    result = run_script(kit, tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert "parts extracted" in result.stdout
    report = json.loads(result.stdout.splitlines()[-1])
    assert "no GPU found (nvidia-smi --query-gpu=compute_cap)" in report["problems"]
    assert not (REPO / "gpu_forms").exists() or any((REPO / "gpu_forms").iterdir())


@pytest.mark.parametrize("command", [["plan"], ["doctor", "--site", "."]])
def test_no_kit_is_a_clear_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*command, "--kit", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert f"gpukit {command[0]}: no kit at {tmp_path / 'none'}" in err
