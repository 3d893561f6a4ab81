"""Concurrent large uploads on a real server, at a small scale.

Admission is decided from the headers: a refused body is never read into the service and an
admitted one is spooled, so 40 uploads of 4 MB grow RSS by the decoding work of a few requests
only, not by the bodies (which would be at least 160 MB). The full scale (200 x 19 MB) is ``python -m benchmarks.flood`` and its
figures are in reports/hardening/.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.flood import flood
from tests.app.support import make_models_dir

UPLOADS = 40
MEGABYTES = 4.0


def test_an_upload_flood_keeps_memory_bounded_and_answers_200_or_503(tmp_path: Path) -> None:
    env = {
        "TAGGER_MODELS_DIR": str(make_models_dir(tmp_path)),
        "TAGGER_PROVIDERS": "cpu",
        "TAGGER_MAX_QUEUE": "64",  # 4 requests admitted at once: most of the flood is refused
    }
    result = flood(env, UPLOADS, MEGABYTES, settle_s=3.0, timeout_s=240.0)
    print(result.summary())
    assert set(result.statuses) <= {"200", "503"}, (result.statuses, result.other_answers)
    assert result.statuses.get("200", 0) >= 4 and result.statuses.get("503", 0) >= 1
    assert result.retry_after_on_all_503
    growth = result.peak_rss_sampled_mb - result.rss_before_mb
    assert growth < 0.5 * UPLOADS * MEGABYTES, result.summary()  # far below the bodies' 160 MB
