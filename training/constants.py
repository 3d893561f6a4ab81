"""Facts about the MagnaTagATune dataset that training reads (torch-free); the facts serving
shares live in :mod:`tagging.constants`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

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


def data_file(name: str) -> Path:
    """Path of a data file shipped inside the ``training`` package (``training/data``)."""
    return Path(str(resources.files("training") / "data" / name))


def mtat_tag_columns() -> list[str]:
    """The 188 tag columns of MTAT's ``annotations_final.csv``, in file order."""
    return data_file("mtat_tag_columns.txt").read_text().split("\n")[:-1]
