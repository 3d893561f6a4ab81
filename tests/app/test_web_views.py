"""The page's views in real Chromium against the real server with the project's models (models/:
four real-MTAT, eight synthetic) at a desktop and a phone size: the Models leaderboard, results
people read (synonyms grouped, copy and download), one sentence on chunks and segments, the
heatmap's table, the sticky player, titles, no mid-word break, and axe-core on every view."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tagging.synonyms import groups_within
from tests.app.browser import Watched, tag_clip, watch
from tests.app.support import audio_bytes, tone
from tests.paths import MTAT_CLIP, REPO

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(params=list(VIEWPORTS))
def web(
    request: pytest.FixtureRequest, browser: Browser, real_models_server: str
) -> Iterator[Watched]:
    """A fresh page at each size (clipboard allowed); after the test, no console error and no
    request to another host."""
    width, height = VIEWPORTS[request.param]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        permissions=["clipboard-read", "clipboard-write"],
    )
    watched = watch(context.new_page(), real_models_server)
    yield watched
    context.close()
    assert watched.foreign == []
    assert watched.errors == []


@pytest.fixture(scope="module")
def models(real_models_server: str) -> dict:
    return httpx.get(real_models_server + "/models").json()


@pytest.fixture(scope="module")
def answer(real_models_server: str) -> dict:
    """The default model (won_musicnn) on the MTAT clip, all 50 tags, with segments."""
    r = httpx.post(
        real_models_server + "/predict?segments=true&all_tags=true",
        files={"file": (MTAT_CLIP.name, MTAT_CLIP.read_bytes(), "audio/mpeg")},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    return r.json()


def fits(page: Page) -> list[str]:
    """What is wider than its box: the page itself and every scroll region (as
    ``name: scrollWidth > clientWidth``)."""
    return page.evaluate(
        """() => [document.documentElement, ...document.querySelectorAll('.scroll-box')]
            .filter(e => e.offsetParent !== null || e === document.documentElement)
            .filter(e => e.scrollWidth > e.clientWidth)
            .map(e => `${e.getAttribute('aria-label') || 'page'}: ${e.scrollWidth} > ${e.clientWidth}`)"""
    )


def split_words(page: Page) -> list[str]:
    """Words of the visible text in <main> drawn on more than one line (a mid-word break): each
    run of letters and digits between spaces, hyphens and slashes, measured with Range rects."""
    return page.evaluate(
        r"""() => {
          const split = [];
          const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const host = node.parentElement;
            if (!host || host.closest('[hidden], svg, option, select, .file-name') ||
                !host.getClientRects().length) continue;
            for (const m of node.data.matchAll(/[^\s\-–\/]+/g)) {
              const range = document.createRange();
              range.setStart(node, m.index);
              range.setEnd(node, m.index + m[0].length);
              const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
                .map(r => Math.round(r.top)));
              if (tops.size > 1) split.push(m[0]);
            }
          }
          return split;
        }"""
    )


def serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def open_models(page: Page, base: str) -> None:
    page.goto(base + "/#models")
    page.wait_for_selector(".leaderboard tbody tr")


def test_leaderboard_per_source_fits_and_ranks(
    web: Watched, real_models_server: str, models: dict
) -> None:
    page = web.page
    open_models(page, real_models_server)
    assert page.title() == "Models – MTAT music tagger"
    boards = page.eval_on_selector_all(".board", "bs => bs.map(b => b.dataset.source)")
    assert boards == ["mtat", "real", "synthetic"]  # real MTAT first
    for board in boards:  # each sorted by macro ROC-AUC, highest first
        cells = page.eval_on_selector_all(
            f".board[data-source={board}] tbody tr[data-model] td:nth-of-type(1)",
            "cs => cs.map(c => c.textContent)",
        )
        scores = [float(c) for c in cells]
        assert scores == sorted(scores, reverse=True) and len(scores) >= 4
    mtat = page.eval_on_selector_all(
        ".board[data-source=mtat] tbody tr[data-model]", "rs => rs.map(r => r.dataset.model)"
    )
    real = [m["name"] for m in models["models"] if m["trained_on"] == "mtat"]
    assert sorted(mtat) == sorted(real)
    assert (
        page.eval_on_selector(
            ".leaderboard tbody th[scope=row]", "th => getComputedStyle(th).position"
        )
        == "sticky"
    )
    assert fits(page) == []  # 1280 and 390 px: no horizontal scrolling at the default view
    # Each evaluation's data is described once, not once per model.
    view = page.locator("#view-models").inner_text()
    for data in {e["data"] for m in models["models"] for e in m["evaluations"]}:
        assert view.count(data) == 1, data
    # Per-tag scores folded under a row; opened, they still fit and their text is readable.
    page.get_by_role("button", name="Per-tag scores of won_musicnn").first.click()
    detail = page.locator(".board[data-source=mtat] tr.detail:visible")
    assert detail.locator("li.score").count() == 50
    assert fits(page) == []
    low = page.eval_on_selector_all(
        "tr.detail:not([hidden]) li.score",
        """cells => cells.map(c => [c.dataset.tag, getComputedStyle(c).color,
            getComputedStyle(c).backgroundColor])""",
    )
    assert [t for t, fg, bg in low if contrast(fg, bg) < 4.5] == []
    # The filter shows one data source.
    page.get_by_label("Data source").select_option("synthetic")
    visible = page.eval_on_selector_all(".board", "bs => bs.filter(b => !b.hidden).length")
    assert visible == 1 and page.locator(".board[data-source=synthetic]").is_visible()
    assert split_words(page) == []


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two ``rgb(r, g, b)`` colours."""

    def luminance(css: str) -> float:
        r, g, b = (int(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def top50_groups() -> list[list[str]]:
    vocabulary = json.loads((REPO / "models" / "won_musicnn" / "card.json").read_text())["tags"]
    return groups_within(vocabulary)


def test_the_page_gets_the_synonym_table(real_models_server: str) -> None:
    """GET /tag-groups: the core's table over the models' tags; every member of a top-50 group is
    one of the 50 tags, in one group."""
    served = httpx.get(f"{real_models_server}/tag-groups").json()["groups"]
    assert top50_groups() and all(g in served for g in top50_groups())
    members = [t for g in served for t in g]
    assert len(members) == len(set(members)) and all(len(g) >= 2 for g in served)


def test_synonyms_grouped_with_their_max(
    web: Watched, real_models_server: str, answer: dict
) -> None:
    page = web.page
    tag_clip(page, real_models_server, all_tags=True)
    probability = {t["tag"]: t["probability"] for t in answer["tags"]}
    groups = top50_groups()
    rows = page.locator("#bars li")
    assert rows.count() == 50 - sum(len(g) - 1 for g in groups)
    for group in groups:
        row = page.locator(f"#bars li[data-tag='{group[0]}']")
        assert sorted(row.get_attribute("data-group").split("|")) == sorted(group)
        top = max(probability[t] for t in group)
        assert row.locator(".bar-value").inner_text() == f"{top:.3f}"
        members = row.locator(".bar-members").inner_text()
        assert members.startswith("max of:") and all(t in members for t in group)
    assert page.locator("#group-hint").is_visible()
    # Decided synonyms make one chip: "no vocals (no vocals, no vocal)".
    group_of = {t: g[0] for g in groups for t in g}
    merged: dict[str, list[str]] = {}
    for label in answer["labels"]:
        merged.setdefault(group_of.get(label, label), []).append(label)
    chips = [k if v == [k] else f"{k} ({', '.join(v)})" for k, v in merged.items()]
    assert page.locator("#labels li").all_inner_texts() == chips
    assert split_words(page) == []
    page.get_by_label("group synonyms").uncheck()
    assert rows.count() == 50 and page.locator("#bars li[data-group]").count() == 0
    assert page.locator("#labels li").all_inner_texts() == answer["labels"]


def test_copy_and_download_the_result(web: Watched, real_models_server: str, answer: dict) -> None:
    page = web.page
    tag_clip(page, real_models_server, all_tags=True)
    page.get_by_role("button", name="Copy JSON").click()
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Copied')")
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["file"] == MTAT_CLIP.name and copied["tags"] == answer["tags"]
    with page.expect_download() as info:
        page.get_by_role("button", name="Download JSON").click()
    download = info.value
    assert download.suggested_filename == f"{MTAT_CLIP.stem}.won_musicnn.tags.json"
    saved = json.loads(Path(download.path()).read_text())
    assert saved["tags"] == answer["tags"] and saved["segments"] == answer["segments"]
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text())))
    assert info.value.suggested_filename.endswith(".tags.csv")
    assert rows[0][:4] == ["tag", "probability", "threshold", "decided"]
    assert len(rows[0]) == 4 + len(answer["segments"]) and len(rows) == 1 + 50
    first = answer["tags"][0]
    assert rows[1][0] == first["tag"] and float(rows[1][1]) == first["probability"]
    assert float(rows[1][4]) == answer["segments"][0]["probabilities"][first["tag"]]


def test_one_sentence_for_chunks_and_segments(
    web: Watched, real_models_server: str, answer: dict
) -> None:
    """The MTAT clip: the headline's chunks and the heatmap's segments in one sentence whose
    numbers are the answer's, and no other count of segments on the page."""
    page = web.page
    tag_clip(page, real_models_server, all_tags=True)
    text = page.locator("#coverage").inner_text()
    segments = answer["segments"]
    length = segments[0]["end_s"] - segments[0]["start_s"]
    assert text.startswith(f"The tags are the mean of {answer['n_chunks']} chunks of ")
    assert f"{answer['duration_s']:.1f}-s track" in text
    assert f"the heatmap shows {len(segments)} segments of {round(length, 1):g} s" in text
    assert page.locator("#view-tag").inner_text().count("segments of") == 1
    assert page.locator("#heatmap svg").get_attribute("data-segments") == str(len(segments))


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five minutes of a changing tone as MP3 (longer than cnn1d's chunks can cover)."""
    path = tmp_path_factory.mktemp("long") / "long.mp3"
    path.write_bytes(audio_bytes(tone(300.0, 16000), 16000, "MP3"))
    return path


def test_long_file_says_how_much_was_heard(
    web: Watched, real_models_server: str, long_file: Path
) -> None:
    """A 5-minute recording on cnn1d (16 evenly spaced chunks of 2 s): the headline hears part
    of it, and the page says how much."""
    answer = httpx.post(
        real_models_server + "/predict?model=cnn1d",
        files={"file": (long_file.name, long_file.read_bytes(), "audio/mpeg")},
        timeout=120,
    ).json()
    assert answer["heard_s"] < answer["duration_s"] - 1
    page = web.page
    page.goto(real_models_server + "/")
    page.wait_for_selector("#model option[value='cnn1d']", state="attached")
    page.get_by_label("Audio file").set_input_files(long_file)
    page.get_by_label("Model", exact=True).select_option("cnn1d")
    page.get_by_role("button", name="Tag").click()
    page.wait_for_selector("#bars li")
    text = page.locator("#coverage").inner_text()
    pct = round(100 * answer["heard_s"] / answer["duration_s"])
    track = f"{answer['duration_s']:.1f}-s track"
    assert f"covering {round(answer['heard_s'], 1):g} s of the {track} ({pct} %" in text


def test_heatmap_table_and_sticky_player(
    web: Watched, real_models_server: str, answer: dict
) -> None:
    page = web.page
    tag_clip(page, real_models_server, all_tags=True)
    table = page.locator("#segments-table")
    assert table.is_hidden()
    page.get_by_text("The same numbers as a table").click()
    assert "Probability of each tag (rows)" in table.locator("caption").inner_text()
    heads = table.locator("thead th").all_inner_texts()
    first = answer["segments"][0]
    assert len(heads) == 1 + len(answer["segments"])
    assert heads[1] == f"0:00–0:{int(min(first['end_s'], answer['segments'][1]['start_s'])):02d}"
    top = answer["tags"][0]["tag"]
    row = table.locator(f"tbody tr[data-tag='{top}']")
    assert row.locator("th").inner_text() == top
    second = answer["segments"][1]["probabilities"][top]
    assert row.locator("td").nth(1).inner_text() == f"{second:.2f}"
    region = page.get_by_role("region", name="Probabilities per segment")
    scrolls = region.evaluate("r => r.scrollWidth > r.clientWidth + 1")
    assert (region.get_attribute("tabindex") == "0") == scrolls
    # The player stays at the top of the window while the heatmap scrolls under it.
    page.eval_on_selector(
        "#heatmap", "h => window.scrollTo(0, h.getBoundingClientRect().bottom + scrollY - 200)"
    )
    box = page.locator("#player").bounding_box()
    assert box and 0 <= box["y"] <= 20


def test_titles_follow_the_view(web: Watched, real_models_server: str) -> None:
    page = web.page
    page.goto(real_models_server + "/")
    assert page.title() == "Tag a file – MTAT music tagger"
    page.get_by_role("link", name="Models", exact=True).click()
    page.wait_for_function("document.title.startsWith('Models')")
    tag_clip(page, real_models_server)
    assert page.title() == f"Tags for {MTAT_CLIP.name} – MTAT music tagger"
    page.get_by_role("link", name="Models", exact=True).click()
    page.wait_for_function("document.title.startsWith('Models')")
    page.get_by_role("link", name="Tag a file").click()
    page.wait_for_function(f"document.title.startsWith('Tags for {MTAT_CLIP.name}')")


def test_axe_on_every_view(web: Watched, real_models_server: str) -> None:
    """0 serious or critical violations: the empty tag view, a result (all 50 tags, the table
    open), an error, and the Models view with per-tag scores open."""
    page = web.page
    page.goto(real_models_server + "/")
    page.wait_for_selector("#model option[value='']", state="attached")
    assert serious(page) == []
    tag_clip(page, real_models_server, all_tags=True)
    page.get_by_text("The same numbers as a table").click()
    assert serious(page) == []
    assert split_words(page) == []
    notes = page.evaluate_handle(
        """() => { const t = new DataTransfer();
            t.items.add(new File(['# notes'], 'notes.md', { type: 'text/markdown' })); return t; }"""
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": notes})
    page.get_by_role("alert").wait_for()
    assert serious(page) == []
    open_models(page, real_models_server)
    page.get_by_role("button", name="Per-tag scores of won_musicnn").first.click()
    assert serious(page) == []


def test_modules_are_served_as_javascript(real_models_server: str) -> None:
    """The page loads ES modules from /static/js (each one JavaScript, gzipped like the rest)."""
    html = httpx.get(real_models_server + "/").text
    assert '<script type="module" src="static/js/main.js">' in html
    for name in (
        "main",
        "dom",
        "api",
        "tagging",
        "results",
        "groups",
        "heatmap",
        "export",
        "models",
    ):
        r = httpx.get(f"{real_models_server}/static/js/{name}.js")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"], name
