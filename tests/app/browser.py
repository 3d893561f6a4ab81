"""Headless Chromium for the page tests and the README screenshots (scripts/screenshots.py):
Debian's ``chromium`` driven by Playwright through ``executable_path`` (Playwright's own browser
downloads are not used)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, sync_playwright

from tests.paths import MTAT_CLIP

LOCAL_SCHEMES = ("blob", "data", "about")


def chromium_path() -> str:
    """``TAGGER_TEST_CHROMIUM``, else ``chromium`` on PATH (``make test`` installs it)."""
    path = os.environ.get("TAGGER_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError(
            "no Chromium for the browser tests: `apt-get install chromium` (make test does it "
            "as root) or set TAGGER_TEST_CHROMIUM to a Chromium binary"
        )
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """A page and what it did: console errors, uncaught exceptions, requests to other hosts."""

    page: Page
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


def watch(page: Page, base_url: str) -> Watched:
    """Record the page's console errors, uncaught errors and requests to any other host."""
    watched = Watched(page)
    host = urlsplit(base_url).netloc

    def on_request(request) -> None:  # noqa: ANN001 (playwright's Request)
        url = urlsplit(request.url)
        if url.scheme not in LOCAL_SCHEMES and url.netloc != host:
            watched.foreign.append(request.url)

    page.on("console", lambda m: m.type == "error" and watched.errors.append(m.text))
    page.on("pageerror", lambda e: watched.errors.append(f"uncaught: {e}"))
    page.on("request", on_request)
    return watched


def tag_clip(page: Page, base_url: str, model: str = "", all_tags: bool = False) -> None:
    """Open the page, upload the MTAT clip and wait for its results."""
    page.goto(base_url + "/")
    page.wait_for_selector(f"#model option[value='{model}']", state="attached")
    page.get_by_label("Audio file").set_input_files(MTAT_CLIP)
    page.get_by_label("Model", exact=True).select_option(model)
    if all_tags:
        page.get_by_label("all tags of the model").check()
    page.get_by_role("button", name="Tag").click()
    page.wait_for_selector("#bars li")
    page.wait_for_selector("#progress", state="hidden")
