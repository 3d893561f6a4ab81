"""The web page at ``/`` (static files in app/web) and offline ``/docs`` and ``/redoc``.

Swagger UI and ReDoc are served from the files shipped in the pinned ``fastapi-offline`` package,
not from a CDN, so both pages work on a machine without internet.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from app.state import StateDep
from tagging.synonyms import groups_within

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
DOCS_ASSETS = Path(str(resources.files("fastapi_offline") / "static"))
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
"""The one URL ReDoc loads at run time (its logo in the side menu), whatever the options."""

router = APIRouter(include_in_schema=False)


def _docs_page(request: Request, name: str) -> dict[str, str]:
    """The arguments every docs page takes: the schema's URL and the title (prefix-aware)."""
    return {
        "openapi_url": _asset(request, request.app.openapi_url),
        "title": f"{request.app.title} - {name}",
    }


def _asset(request: Request, path: str) -> str:
    return request.scope.get("root_path", "").rstrip("/") + path


def _with_back_link(request: Request, page: HTMLResponse) -> HTMLResponse:
    """The docs page with a link back to the tagging page at the top (prefix-aware)."""
    link = (
        f'<nav style="font: 14px system-ui, sans-serif; padding: 8px 16px; background: #2c3e6b">'
        f'<a href="{_asset(request, "/")}" style="color: #fff">Back to the tagging page</a></nav>'
    )
    body = bytes(page.body).replace(b"<body>", b"<body>" + link.encode(), 1)
    return HTMLResponse(body, status_code=page.status_code)


@router.get("/")
async def page() -> FileResponse:
    """The tagging page (app/web/index.html)."""
    return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/tag-groups")
async def tag_groups(state: StateDep) -> dict[str, object]:
    """Synonym groups (``tagging.synonyms``, the table training merges with) over the tags of
    the models in the models directory: the page shows each group in an answer as one row."""
    cards, _ = state.registry.cards()
    vocabulary = {tag for card in cards.values() for tag in card.tags}
    return {
        "about": "Synonyms among the models' tags (MTAT's synonym table, tagging/synonyms.py): "
        "the page shows each group present in an answer as one row, its highest probability; "
        "the first member names the group.",
        "groups": groups_within(vocabulary),
    }


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    html = get_swagger_ui_html(
        **_docs_page(request, "Swagger UI"),
        swagger_js_url=_asset(request, "/docs/assets/swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, "/docs/assets/swagger-ui.css"),
        swagger_favicon_url=_asset(request, "/docs/assets/favicon.png"),
        oauth2_redirect_url=_asset(request, OAUTH2_REDIRECT),
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from an external host
    )
    return _with_back_link(request, html)


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    html = get_redoc_html(
        **_docs_page(request, "ReDoc"),
        redoc_js_url=_asset(request, "/docs/assets/redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "/docs/assets/favicon.png"),
        with_google_fonts=False,
    )
    return _with_back_link(request, html)


@cache
def _redoc_js() -> bytes:
    # An empty data: URL instead of the CDN logo: the image fails locally and ReDoc hides it.
    return (DOCS_ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, b"data:,")


@router.get("/docs/assets/redoc.standalone.js")
async def redoc_js() -> Response:
    """ReDoc's bundle with its one external URL (the logo) taken out."""
    return Response(_redoc_js(), media_type="text/javascript")


def install(app: FastAPI) -> None:
    """The page and docs routes, plus the static files they load (``/static``, ``/docs/assets``:
    prefixes that app.auth serves without an API key)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.mount("/docs/assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
