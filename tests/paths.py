"""Paths every test module may need: the repository root and the committed test data."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
MTAT_CLIP = DATA / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
JAMENDO_44K_STEREO = DATA / "jamendo_948_44k_stereo.mp3"
BRAHMS_STRINGS = (
    DATA / "real" / "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg"
)
"""A real string-orchestra recording (public domain): classical, strings."""
