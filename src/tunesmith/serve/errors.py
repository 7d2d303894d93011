"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` for every status.

Any other exception becomes a 500 in `app.Gate` (inside the middleware that counts
responses, so `tunesmith:http_responses_total` sees it), never a traceback from uvicorn.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunesmith.inference.params import InvalidRequestError

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
    500: "internal_server_error",
    503: "service_unavailable_error",
    504: "timeout_error",
}


class ClientDisconnected(Exception):
    """The client went away before the answer was ready: its generation is cancelled and the
    access log records 499 (nginx's, vLLM's and TGI's code for it), not a server error."""


class APIError(Exception):
    """An error the server answers with `status` and an OpenAI-shaped body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers

    @classmethod
    def from_invalid(cls, e: InvalidRequestError) -> APIError:
        status = 404 if e.code == "model_not_found" else 400
        return cls(status, str(e), param=e.param, code=e.code)

    def body(self) -> dict:
        return error_body(self.status, self.message, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def internal_error(e: Exception) -> APIError:
    return APIError(500, f"internal error: {type(e).__name__}: {e}")


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict:
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def field_path(loc: tuple | list) -> str | None:
    """`messages.0.role` from pydantic's error location, without "body" and the tags pydantic
    adds for the member of a union it tried (`str`, `list[int]`, `none`, ...)."""
    parts = [
        str(p)
        for p in loc
        if p != "body" and not (isinstance(p, str) and ("[" in p or p in _UNION_TAGS))
    ]
    return ".".join(parts) or None


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict"})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, e: APIError) -> JSONResponse:
        return e.response()

    @app.exception_handler(InvalidRequestError)
    async def _invalid(_: Request, e: InvalidRequestError) -> JSONResponse:
        return APIError.from_invalid(e).response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        param = field_path(first.get("loc", ()))
        if first.get("type") == "json_invalid":
            message = f"the request body is not valid JSON: {first.get('msg')}"
        elif param:
            message = f"'{param}': {first.get('msg')}"
        else:
            message = str(first.get("msg"))
        return APIError(400, message, param=param, code="invalid_value").response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return APIError(e.status_code, str(e.detail), headers=e.headers).response()
