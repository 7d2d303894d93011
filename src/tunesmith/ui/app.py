"""The UI's FastAPI app: auth, errors, static files, and the page and API routers.

app = build_app(UISettings(Roots.make(".", "runs")))
"""

from __future__ import annotations

import hmac
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from tunesmith.errors import TunesmithError
from tunesmith.ui.settings import LOCAL_HOSTS, PathDenied, UISettings

COOKIE = "tunesmith_ui_token"
STATIC = Path(__file__).parent / "static"


def error(status: int, message: str, kind: str) -> JSONResponse:
    """An OpenAI-shaped error body, as the server answers."""
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


def _authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else None
    given = given or request.cookies.get(COOKIE) or request.query_params.get("token")
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _hostname(request: Request) -> str:
    host = request.headers.get("host", "")
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def build_app(settings: UISettings) -> FastAPI:
    from tunesmith.ui import api, pages
    from tunesmith.ui.playground import Playground

    app = FastAPI(title="tunesmith ui", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.roots = settings.roots
    app.state.playground = Playground(settings.roots)

    @app.middleware("http")
    async def guard(request: Request, call_next):  # noqa: ANN202
        if not settings.token and _hostname(request) not in LOCAL_HOSTS:
            # a page elsewhere that rebinds its DNS name to 127.0.0.1 must not drive the UI
            return error(403, "Host header is not this machine; use --auth-token", "host_denied")
        if settings.token and not _authorized(request, settings.token):
            return error(
                401,
                "missing or wrong token: pass ?token=, a cookie or a Bearer header",
                "unauthorized",
            )
        if request.method == "POST" and "application/json" not in request.headers.get(
            "content-type", ""
        ):
            # browsers cannot send JSON across sites without a preflight we never answer
            return error(415, "POST bodies must be application/json", "invalid_request_error")
        response: Response = await call_next(request)
        if settings.token and request.query_params.get("token"):
            response.set_cookie(COOKIE, settings.token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(PathDenied)
    async def denied(request: Request, exc: PathDenied) -> JSONResponse:
        return error(403, str(exc), "path_denied")

    @app.exception_handler(TunesmithError)
    async def invalid(request: Request, exc: TunesmithError) -> JSONResponse:
        return error(400, str(exc), "invalid_request_error")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
