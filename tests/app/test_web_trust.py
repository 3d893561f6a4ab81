"""The page in real Chromium against the real server (uvicorn, the three small synthetic test
models, a 1 MiB upload limit) at a desktop and a phone size: no stale result, one file card,
checks before upload, models grouped by training data, accessibility basics (axe-core), gzip."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Route

from tests.app.browser import Watched, tag_clip, watch
from tests.app.support import audio_bytes
from tests.paths import MTAT_CLIP

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(scope="module")
def server(live_server: tuple[str, Path]) -> str:
    return live_server[0]


@pytest.fixture(params=list(VIEWPORTS))
def web(request: pytest.FixtureRequest, browser: Browser, server: str) -> Iterator[Watched]:
    """A fresh page at each size; after the test, no console error and no foreign request."""
    width, height = VIEWPORTS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    watched = watch(context.new_page(), server)
    yield watched
    context.close()
    assert watched.foreign == []
    assert watched.errors == []


def predict_requests(page: Page) -> list[str]:
    """Every POST /predict the page sends from now on."""
    sent: list[str] = []
    page.on("request", lambda r: "/predict" in r.url and sent.append(r.url))
    return sent


def drop(page: Page, name: str, data: bytes, mime: str) -> None:
    """Drop one file on the drop box, as a drag from the desktop does."""
    transfer = page.evaluate_handle(
        """([b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const t = new DataTransfer();
            t.items.add(new File([bytes], name, { type: mime }));
            return t;
        }""",
        [base64.b64encode(data).decode(), name, mime],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def test_long_run_dims_the_previous_result_shows_time_and_cancels(
    web: Watched, server: str
) -> None:
    page = web.page
    tag_clip(page, server)
    held: list[Route] = []
    page.route("**/predict?*", lambda route: held.append(route))  # no answer until cancelled
    page.get_by_role("button", name="Tag").click()
    page.wait_for_function("document.getElementById('elapsed').textContent === '2 s'")
    results = page.locator("#results")
    assert "stale" in results.get_attribute("class") and results.get_attribute("aria-busy")
    assert float(page.eval_on_selector("#results", "e => getComputedStyle(e).opacity")) < 0.5
    assert "2 s" in page.locator("#progress").inner_text()  # the elapsed time, shown
    page.get_by_role("button", name="Cancel").click()
    page.locator("#progress").wait_for(state="hidden")
    assert "Cancelled" in page.get_by_role("status").inner_text()
    assert results.is_hidden() and page.locator("#error").is_hidden()
    assert held  # the request was sent, and then aborted by the page
    page.unroute_all(behavior="ignoreErrors")
    page.get_by_role("button", name="Tag").click()  # the next run works
    page.wait_for_selector("#results:not(.stale) #bars li")
    assert page.locator("#result-title").inner_text() == f"Tags for {MTAT_CLIP.name}"


def test_one_file_card_for_click_and_drop(web: Watched, server: str) -> None:
    page = web.page
    page.goto(server + "/")
    page.get_by_label("Audio file").set_input_files(MTAT_CLIP)
    card = page.locator("#file-card")
    assert page.locator("#file-name").inner_text() == MTAT_CLIP.name
    page.wait_for_function("document.getElementById('file-meta').textContent.startsWith('29 s')")
    assert f"{MTAT_CLIP.stat().st_size / 1048576:.1f} MiB" in card.inner_text()
    drop(page, "dropped.mp3", MTAT_CLIP.read_bytes(), "audio/mpeg")
    assert page.locator("#file-name").inner_text() == "dropped.mp3"
    assert page.eval_on_selector("#file", "i => [...i.files].map(f => f.name)") == ["dropped.mp3"]
    page.get_by_role("button", name="Remove dropped.mp3").click()
    assert card.is_hidden()
    assert page.eval_on_selector("#file", "i => i.files.length") == 0


def test_type_and_size_are_checked_before_upload(web: Watched, server: str) -> None:
    page = web.page
    page.goto(server + "/")
    sent = predict_requests(page)
    drop(page, "notes.md", b"# notes\nnot audio\n", "text/markdown")
    alert = page.get_by_role("alert")
    assert "Not an audio file" in alert.inner_text() and "notes.md" in alert.inner_text()
    assert page.locator("#file-card").is_hidden()
    page.wait_for_function("document.getElementById('limits-hint').textContent !== ''")
    drop(page, "big.wav", b"RIFF" + bytes(1_200_000), "audio/wav")  # over the 1 MiB limit
    assert "Too large" in alert.inner_text() and "up to 1.0 MiB" in alert.inner_text()
    page.get_by_role("button", name="Tag").click()
    assert "No file chosen" in alert.inner_text()
    assert sent == []


def test_limits_are_stated_from_the_endpoint(web: Watched, server: str) -> None:
    limits = httpx.get(server + "/limits").json()
    assert limits == {
        "max_upload_mb": 1.0,
        "max_upload_bytes": 1048576,
        "max_duration_s": 600.0,
        "min_duration_s": 1.0,
    }
    page = web.page
    page.goto(server + "/")
    hint = page.locator("#limits-hint")
    page.wait_for_function("document.getElementById('limits-hint').textContent !== ''")
    assert hint.inner_text() == "Up to 1 MiB and 10:00 min of audio; at least 1.0 s."


def test_too_long_file_says_too_long(web: Watched, server: str, tmp_path: Path) -> None:
    """610 s of silence as FLAC (a few KB) against the 600-s limit: 413 with max_duration_s."""
    long = tmp_path / "long.flac"
    long.write_bytes(audio_bytes(np.zeros(610 * 8000, np.float32), 8000, "FLAC", "PCM_16"))
    page = web.page
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('limits-hint').textContent !== ''")
    page.get_by_label("Audio file").set_input_files(long)
    page.wait_for_function("document.getElementById('file-meta').textContent.includes('limit')")
    assert "10:10 min" in page.locator("#file-meta").inner_text()
    page.get_by_role("button", name="Tag").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Too long (HTTP 413)" in alert.inner_text()
    web.errors[:] = [e for e in web.errors if "413" not in e]


def test_models_grouped_and_synthetic_results_flagged(web: Watched, server: str) -> None:
    models = httpx.get(server + "/models").json()
    page = web.page
    page.goto(server + "/")
    page.wait_for_selector("#model option[value='']", state="attached")
    groups = page.eval_on_selector_all(
        "#model optgroup", "gs => gs.map(g => [g.label, [...g.children].map(o => o.textContent)])"
    )
    synthetic = [m["name"] for m in models["models"] if m["trained_on"] == "synthetic"]
    assert synthetic and groups[-1][0] == "Synthetic: pipeline demos"
    names = [text.split(" ")[0] for _, options in groups for text in options]
    assert sorted(names) == sorted(m["name"] for m in models["models"])  # each once
    assert page.locator("#model option").count() == len(models["models"])
    assert page.locator("#model-hint").is_visible()
    tag_clip(page, server)
    banner = page.locator("#synthetic-banner")
    assert banner.is_visible() and "trained on synthetic audio" in banner.inner_text()


def serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']}" for v in found if v["impact"] in ("serious", "critical")]


def test_accessibility_basics(web: Watched, server: str) -> None:
    page = web.page
    page.goto(server + "/")
    page.wait_for_selector("#model option[value='']", state="attached")
    assert page.title().startswith("Tag a file")
    assert serious(page) == []
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    # The focus ring: a 2-px outline whose colour has >= 3:1 contrast against white.
    page.focus("#tag-button")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    style = page.eval_on_selector(
        "#tag-button", "b => [getComputedStyle(b).outlineColor, getComputedStyle(b).outlineWidth]"
    )
    assert style[1] == "2px" and contrast_with_white(style[0]) >= 3
    assert page.get_by_role("status").get_attribute("aria-live") == "polite"
    tag_clip(page, server)
    assert page.evaluate("document.activeElement.id") == "result-title"
    assert page.title() == f"Tags for {MTAT_CLIP.name} – MTAT music tagger"
    assert page.locator("#summary").get_attribute("aria-live") == "polite"
    assert serious(page) == []
    page.goto(server + "/#models")
    page.wait_for_selector(".leaderboard tbody tr")
    assert page.title().startswith("Models")
    regions = page.eval_on_selector_all(
        ".scroll-box",
        "bs => bs.map(b => [b.getAttribute('role'), b.getAttribute('aria-label'),"
        " b.hasAttribute('tabindex'), b.scrollWidth > b.clientWidth + 1])",
    )
    assert all(role == "region" and label for role, label, _, _ in regions)
    assert all(focusable == scrolls for _, _, focusable, scrolls in regions)


def contrast_with_white(css: str) -> float:
    """WCAG contrast ratio of an ``rgb(r, g, b)`` colour against white."""
    r, g, b = (int(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 1.05 / (0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] + 0.05)


@pytest.mark.parametrize("path", ["/models", "/static/js/main.js", "/static/style.css"])
def test_responses_are_gzipped(server: str, path: str) -> None:
    r = httpx.get(server + path, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    plain = httpx.get(server + path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and r.content == plain.content
    assert int(r.headers["content-length"]) < len(gzip.compress(plain.content)) + 64


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_link_back_to_the_page(web: Watched, server: str, path: str) -> None:
    page = web.page
    page.goto(server + path)
    page.get_by_role("link", name="Back to the tagging page").click()
    page.wait_for_url(server + "/")
    assert page.title().startswith("Tag a file")
