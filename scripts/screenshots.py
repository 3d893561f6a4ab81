"""The screenshots of docs/: the page at a desktop (1280x800) and a phone (390x844) size.

Starts the real server on the project's models (models/, CPU) as the browser tests do, drives
Debian's chromium through Playwright (tests/app/browser.py), tags the MTAT clip with the default
model in all-tags mode (synonyms grouped) and opens the Models view. Fails on any console error
or request to another host.

    PYTHONPATH=. python scripts/screenshots.py [OUT_DIR]   # default: docs/
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.flood import served
from tests.app.browser import chromium, tag_clip, watch
from tests.app.support import server_env
from tests.paths import REPO

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def take(base_url: str, out: Path) -> list[Path]:
    """``web-results-<size>.png`` and ``web-models-<size>.png`` for each size, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with chromium() as browser:
        for size, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            watched = watch(page, base_url)
            tag_clip(page, base_url, all_tags=True)
            page.evaluate("window.scrollTo(0, 0)")
            paths.append(out / f"web-results-{size}.png")
            page.screenshot(path=paths[-1], full_page=True)
            page.goto(base_url + "/#models")
            page.wait_for_selector(".leaderboard tbody tr")
            paths.append(out / f"web-models-{size}.png")
            page.screenshot(path=paths[-1], full_page=True)
            context.close()
            if watched.errors or watched.foreign:
                raise RuntimeError(f"page errors {watched.errors}, foreign {watched.foreign}")
    return paths


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs"
    env = server_env(REPO / "models", TAGGER_PROVIDERS="cpu")
    with served(env, ready_s=180) as (url, _pid, _log):
        for path in take(url, out):
            print(path)


if __name__ == "__main__":
    main()
