"""The page at ``/`` and the offline API docs in a real headless Chromium against the real server
(uvicorn on 127.0.0.1, the three small test models): tagging the MTAT clip, the heatmap, errors,
the models view, 360 px, and no console error or request to another host on any page."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from benchmarks.flood import served
from tests.app.browser import Watched, tag_clip, watch
from tests.app.support import make_models_dir, server_env
from tests.paths import BRAHMS_STRINGS, MTAT_CLIP


@pytest.fixture(scope="module")
def server(live_server: tuple[str, Path]) -> str:
    return live_server[0]


@pytest.fixture
def web(browser: Browser, server: str) -> Iterator[Watched]:
    """A fresh page; after the test, no console error and no request to another host."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    watched = watch(context.new_page(), server)
    yield watched
    context.close()
    assert watched.foreign == []
    assert watched.errors == []


@pytest.fixture(scope="module")
def api_result(server: str) -> dict:
    """What POST /predict answers for the MTAT clip (the page must show the same)."""
    r = httpx.post(
        server + "/predict?segments=true",
        files={"file": (MTAT_CLIP.name, MTAT_CLIP.read_bytes(), "audio/mpeg")},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_tag_the_mtat_clip(web: Watched, server: str, api_result: dict) -> None:
    page = web.page
    tag_clip(page, server)
    bars = page.locator("#bars li")
    assert bars.count() == 10
    top = api_result["tags"][0]
    assert bars.first.get_attribute("data-tag") == top["tag"]
    assert bars.first.locator(".bar-value").inner_text() == f"{top['probability']:.3f}"
    assert f"Top tag: {top['tag']}" in page.locator("#summary").inner_text()
    timings = page.locator("#timings").inner_text()
    assert "Decode" in timings and "Inference" in timings
    # The provider by its short name ("CPU"), the full one in the title: no long word to break.
    provider = page.locator("#timings abbr")
    assert provider.get_attribute("title") == api_result["provider"]
    assert provider.inner_text() == api_result["provider"].removesuffix("ExecutionProvider")
    assert page.locator("#player").get_attribute("src").startswith("blob:")


def test_heatmap_has_one_column_per_segment(web: Watched, server: str, api_result: dict) -> None:
    page = web.page
    tag_clip(page, server)
    n = len(api_result["segments"])
    assert n == math.ceil(api_result["duration_s"] / api_result["chunk_s"]) == 20  # beta: 1.5 s
    svg = page.locator("#heatmap svg")
    assert svg.get_attribute("data-segments") == str(n)
    columns = page.eval_on_selector_all(
        "#heatmap rect.cell", "cells => new Set(cells.map(c => c.dataset.segment)).size"
    )
    assert columns == n
    assert page.locator("#heatmap rect.cell").count() == n * 10
    # Each cell's colour follows its probability: the colours are not all the same.
    fills = page.eval_on_selector_all(
        "#heatmap rect.cell", "cells => cells.map(c => c.getAttribute('fill'))"
    )
    assert len(set(fills)) > 20
    # The cursor follows the audio position: keyboard seeking moves it right.
    x0 = float(page.locator("#cursor").get_attribute("x1"))
    svg.focus()
    page.keyboard.press("End")
    assert float(page.locator("#cursor").get_attribute("x1")) > x0 + 100


def test_undecodable_file_gives_a_readable_error(web: Watched, server: str, tmp_path: Path) -> None:
    """A file named like audio but holding text passes the page's type check and gets the
    service's 415; the previous file's result is cleared, not left under the error."""
    page = web.page
    fake = tmp_path / "fake.mp3"
    fake.write_text("these are not the sounds you are looking for\n")
    detail = httpx.post(server + "/predict", files={"file": fake.open("rb")}).json()["detail"]
    tag_clip(page, server)
    page.get_by_label("Audio file").set_input_files(fake)
    page.get_by_role("button", name="Tag").click()
    error = page.get_by_role("alert")
    error.wait_for()
    text = error.inner_text()
    assert "Not audio the service can decode (HTTP 415)" in text
    assert detail in text
    assert page.locator("#results").is_hidden()
    assert page.get_by_role("button", name="Tag").is_enabled()  # ready for the next file
    # The browser logs the failed request's status as a console error: expected here.
    web.errors[:] = [e for e in web.errors if "415" not in e]


def test_drop_a_file_and_choose_a_model(web: Watched, server: str) -> None:
    page = web.page
    page.goto(server + "/")
    page.wait_for_selector("#model option[value='alpha']", state="attached")
    data = base64.b64encode(MTAT_CLIP.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """b64 => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const t = new DataTransfer();
            t.items.add(new File([bytes], "dropped.mp3", { type: "audio/mpeg" }));
            return t;
        }""",
        data,
    )
    page.get_by_label("Audio file").set_input_files(BRAHMS_STRINGS)
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    assert page.locator("#file-name").inner_text() == "dropped.mp3"
    assert page.eval_on_selector("#file", "input => input.files[0].name") == "dropped.mp3"
    page.get_by_label("Model", exact=True).select_option("alpha")
    page.get_by_label("all tags of the model").check()
    page.get_by_role("button", name="Tag").click()
    page.wait_for_selector("#bars li")
    assert "tagged by alpha" in page.locator("#summary").inner_text()


def test_models_view_is_a_leaderboard(web: Watched, server: str) -> None:
    """The test models (synthetic, evaluated on their synthetic test split): one board, sorted
    by macro ROC-AUC, re-sorted by PR-AUC; per-tag scores folded under each row."""
    page = web.page
    models = httpx.get(server + "/models").json()["models"]
    evaluated = [m for m in models if m["evaluations"]]
    page.goto(server + "/")
    page.get_by_role("link", name="Models", exact=True).click()
    page.wait_for_selector(".leaderboard tbody tr")
    assert page.eval_on_selector_all(".board", "bs => bs.map(b => b.dataset.source)") == [
        "synthetic"
    ]
    rows = ".leaderboard tbody tr[data-model]"
    by_roc = sorted(evaluated, key=lambda m: -m["evaluations"][0]["macro"]["roc_auc"])
    order = page.eval_on_selector_all(rows, "rs => rs.map(r => r.dataset.model)")
    assert order == [m["name"] for m in by_roc] == ["beta", "alpha"]
    assert "Not evaluated: gamma." in page.locator("#models-summary").inner_text()
    alpha = next(m for m in models if m["name"] == "alpha")["evaluations"][0]
    detail = page.locator(".leaderboard tr.detail").nth(order.index("alpha"))
    assert detail.is_hidden()
    page.get_by_role("button", name="Per-tag scores of alpha").click()
    assert detail.is_visible()
    guitar = detail.locator("li[data-tag=guitar] .score-value").inner_text()
    assert guitar == f"{alpha['per_tag']['guitar']['roc_auc']:.3f}"
    page.get_by_label("Rank by").select_option("pr_auc")
    by_pr = sorted(evaluated, key=lambda m: -m["evaluations"][0]["macro"]["pr_auc"])
    assert page.eval_on_selector_all(rows, "rs => rs.map(r => r.dataset.model)") == [
        m["name"] for m in by_pr
    ]
    assert "Sorted by macro PR-AUC" in page.locator(".leaderboard caption").inner_text()
    page.get_by_role("link", name="Tag a file").click()
    # the view switches on hashchange, after the click returns: wait (fails after 5 s)
    page.locator("#view-models").wait_for(state="hidden", timeout=5000)
    assert page.locator("#view-tag").is_visible()


def test_readable_at_360_px(web: Watched, server: str) -> None:
    page = web.page
    page.set_viewport_size({"width": 360, "height": 800})
    tag_clip(page, server)
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    page.goto(server + "/#models")
    page.wait_for_selector(".leaderboard tbody tr")
    assert page.evaluate(overflow) <= 0


def test_keyboard_reaches_every_control(web: Watched, server: str) -> None:
    page = web.page
    page.goto(server + "/")
    page.wait_for_selector("#model option[value='alpha']", state="attached")
    seen = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
    assert {"nav-tag", "nav-models", "file", "model", "all-tags", "tag-button"} <= seen


@pytest.mark.parametrize(
    ("path", "ready"), [("/docs", ".swagger-ui .info"), ("/redoc", "redoc h1")]
)
def test_api_docs_work_offline(web: Watched, server: str, path: str, ready: str) -> None:
    html = httpx.get(server + path).text
    assert not re.search(r"https?://", html), "the docs page names an external URL"
    refs = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assert refs and all(r.startswith("/") for r in refs), refs
    web.page.goto(server + path)
    web.page.wait_for_selector(ready, timeout=20_000)
    assert "MTAT music tagger" in web.page.locator(ready).inner_text()


def test_models_view_shows_evaluations_and_real_mtat(web: Watched, server: str) -> None:
    """A model with two evaluations, each named by its data, one measured here and one taken from
    a source, and trained on real MTAT (as the ported models are): the real-MTAT board first,
    each data description said once."""
    body = httpx.get(server + "/models").json()
    alpha = next(m for m in body["models"] if m["name"] == "alpha")
    alpha["trained_on"] = "mtat"
    alpha["evaluations"].insert(0, {
        "id": "mtat_test", "data": "MTAT test split", "measured_by": "source",
        "source": "Won et al. 2020", "per_tag": alpha["per_tag"],
        "macro": {"roc_auc": 0.91, "pr_auc": 0.45},
    })  # fmt: skip
    own = alpha["evaluations"][1]
    page = web.page
    page.route("**/models", lambda route: route.fulfill(json=body))
    page.goto(server + "/#models")
    page.wait_for_selector(".leaderboard tbody tr")
    assert "1 trained on real MTAT audio" in page.locator("#models-summary").inner_text()
    boards = page.eval_on_selector_all(".board", "bs => bs.map(b => b.dataset.source)")
    assert boards == ["mtat", "synthetic"]
    mtat = page.locator(".board[data-source=mtat]")
    assert "Data: MTAT test split (published by Won et al. 2020)" in mtat.inner_text()
    row = mtat.locator("tbody tr[data-model=alpha]").inner_text()
    assert "real MTAT" in row and "0.910" in row and "0.450" in row
    view = page.locator("#view-models").inner_text()
    assert view.count(own["data"]) == 1  # alpha and beta share it: said once
    assert f"{own['data']} (measured by this project)" in view
    synthetic = page.locator(".board[data-source=synthetic] tbody tr[data-model]")
    assert synthetic.count() == 2  # alpha and beta; gamma has no evaluation


def test_page_asks_for_the_api_key(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With TAGGER_API_KEYS the page loads without a key, says a key is needed, and works once
    one is typed (sent as a Bearer token on every API call)."""
    models = make_models_dir(tmp_path_factory.mktemp("keyed"))
    env = server_env(models, TAGGER_PROVIDERS="cpu", TAGGER_API_KEYS="s3cret-key")
    with served(env, ready_s=60) as (url, _pid, _log):
        context = browser.new_context()
        web = watch(context.new_page(), url)
        page = web.page
        page.goto(url + "/")
        page.get_by_role("alert").wait_for()
        assert "needs an API key" in page.get_by_role("alert").inner_text()
        page.get_by_label("API key").fill("s3cret-key")
        page.get_by_label("API key").press("Enter")
        page.get_by_label("API key").blur()
        tag_clip(page, url)  # reloads: the key stays for the tab
        assert page.locator("#bars li").count() == 10
        context.close()
    assert web.foreign == []
    assert [e for e in web.errors if "401" not in e] == []


def test_bars_follow_the_answers_decision_fields(
    web: Watched, server: str, api_result: dict
) -> None:
    """The page shows what the answer decides, and nothing it does not: one threshold mark per
    tag with a threshold, chips for ``labels``, the reason when nothing is decided (test models
    have no calibration; answers without these fields get plain bars)."""
    page = web.page
    tag_clip(page, server)
    thresholds = [t.get("threshold") for t in api_result["tags"]]
    assert page.locator("#bars .bar-threshold").count() == sum(
        isinstance(v, float) for v in thresholds
    )
    labels = api_result.get("labels")
    assert page.locator("#labels li").all_inner_texts() == (labels or [])
    assert page.locator("#labels").is_visible() == bool(labels)
    reason = (api_result.get("decision") or {}).get("reason")
    assert page.locator("#decision-reason").is_visible() == (labels is None and bool(reason))
    heard = f"covering {round(api_result['heard_s'], 1):g} s of the 29.1-s track"
    assert heard in page.locator("#coverage").inner_text()  # beta: 16 chunks of 1.5 s


def test_page_shows_decided_tags_of_a_real_recording(
    browser: Browser, real_models_server: str
) -> None:
    """The default model on the string orchestra: chips for classical and strings, their bars
    highlighted, a threshold mark on every bar that has a threshold, and how much was heard."""
    url = real_models_server
    answer = httpx.post(
        url + "/predict",
        files={"file": (BRAHMS_STRINGS.name, BRAHMS_STRINGS.read_bytes(), "audio/ogg")},
        timeout=120,
    ).json()
    assert "labels" in answer and "heard_s" in answer
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    web = watch(context.new_page(), url)
    page = web.page
    page.goto(url + "/")
    page.wait_for_selector("#model option[value='']", state="attached")
    page.get_by_label("Audio file").set_input_files(BRAHMS_STRINGS)
    page.get_by_role("button", name="Tag").click()
    page.wait_for_selector("#bars li")
    page.wait_for_selector("#progress", state="hidden")
    chips = page.locator("#labels li").all_inner_texts()
    assert {"classical", "strings"} <= set(chips) and chips == answer["labels"]
    for tag in ("classical", "strings"):
        bar = page.locator(f"#bars li[data-tag='{tag}']")
        assert bar.get_attribute("data-present") == "true" and "decided" in bar.get_attribute(
            "class"
        )
        assert bar.locator(".bar-threshold").count() == 1
    with_threshold = [t for t in answer["tags"] if isinstance(t.get("threshold"), float)]
    assert with_threshold
    assert page.locator("#bars .bar-threshold").count() == len(with_threshold)
    coverage = page.locator("#coverage").inner_text()
    assert f"mean of {answer['n_chunks']} chunks" in coverage
    assert f"{answer['duration_s']:.1f}-s track" in coverage
    assert page.locator("#synthetic-banner").is_hidden()  # a model trained on real MTAT
    context.close()
    assert web.foreign == [] and web.errors == []
