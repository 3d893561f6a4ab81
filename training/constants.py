"""Facts about MagnaTagATune shared by training and serving (torch-free)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_RATE = 16_000
"""Every model takes 16 kHz mono audio (as Won et al. 2020 and musicnn)."""

TOP10_TAGS: tuple[str, ...] = (
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
)
"""The ten most frequent MTAT tags, most frequent first (real MTAT counts in SOURCES)."""

MTAT_FOLDERS = "0123456789abcdef"
"""MTAT stores its clips in 16 hex folders."""

SPLIT_FOLDERS: dict[str, str] = {"train": "0123456789ab", "valid": "c", "test": "def"}
"""The literature's folder split (Lee et al. 2017, Pons et al. 2018, Won et al. 2020)."""

KNOWN_BROKEN_CLIPS: dict[int, str] = {
    35644: "6/norine_braun-now_and_zen-08-gently-117-146.mp3",
    55753: "8/jacob_heringman-josquin_des_prez_lute_settings-19-gintzler__pater_noster-204-233.mp3",
    57881: "9/american_baroque-dances_and_suites_of_rameau_and_couperin-25-le_petit_rien_xiveme_ordre_couperin-88-117.mp3",
}
"""MTAT clips whose mp3 files are empty in the official download (skipped with a warning)."""

EVAL_CHUNKS = 16
"""Chunks averaged per clip at evaluation (Won et al. 2020)."""


def data_file(name: str) -> Path:
    """Path of a data file shipped inside the ``training`` package (``training/data``)."""
    return Path(str(resources.files("training") / "data" / name))


def mtat_tag_columns() -> list[str]:
    """The 188 tag columns of MTAT's ``annotations_final.csv``, in file order."""
    return data_file("mtat_tag_columns.txt").read_text().split("\n")[:-1]
