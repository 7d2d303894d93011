"""/openapi.json describes what the server does: statuses, error model, content types,
the one-of of /tokenize, the served model names (schemathesis checks it live in
tests/integration/test_serve_fuzz.py)."""

from __future__ import annotations

import httpx
import jsonschema
import pytest
from serve_helpers import live_server

from tunesmith.serve.state import ServerSettings

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}


@pytest.fixture(scope="module")
def doc(scripted) -> dict:
    with live_server(scripted[0], settings=ServerSettings(api_key="k")) as (url, _):
        return httpx.get(url + "/openapi.json", headers={"Authorization": "Bearer k"}).json()


def _responses(doc: dict, path: str, method: str = "post") -> dict:
    return doc["paths"][path][method]["responses"]


def test_no_422_anywhere_and_every_error_status_with_the_error_model(doc) -> None:
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            assert "422" not in operation["responses"], path
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path in ("/v1/chat/completions", "/v1/completions"):
        responses = _responses(doc, path)
        assert sorted(responses) == ["200", "400", "401", "404", "429", "500", "503", "504"]
        for status in ("400", "401", "404", "429", "500", "503", "504"):
            assert responses[status]["content"] == ERROR, (path, status)
        assert "Retry-After" in responses["429"]["headers"]
    for path in ("/tokenize", "/detokenize"):
        assert sorted(_responses(doc, path)) == ["200", "400", "401", "404", "503"]
    assert sorted(_responses(doc, "/v1/models", "get")) == ["200", "401", "503"]
    assert sorted(_responses(doc, "/ready", "get")) == ["200", "503"]


def test_content_types_streams_and_metrics(doc) -> None:
    assert list(_responses(doc, "/metrics", "get")["200"]["content"]) == ["text/plain"]
    chat = _responses(doc, "/v1/chat/completions")["200"]["content"]
    assert list(chat) == ["application/json", "text/event-stream"]
    event = chat["text/event-stream"]["schema"]
    data = event["properties"]["data"]
    assert data["if"] == {"const": "[DONE]"}
    assert data["else"]["contentSchema"]["anyOf"] == [
        {"$ref": "#/components/schemas/ChatCompletionChunk"},
        {"$ref": "#/components/schemas/ErrorResponse"},
    ]
    assert "ChatCompletionChunk" in doc["components"]["schemas"]


def test_auth_is_optional_bearer_on_protected_routes_only(doc) -> None:
    assert doc["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert doc["paths"]["/v1/models"]["get"]["security"] == [{"bearer": []}, {}]
    assert "security" not in doc["paths"]["/health"]["get"]


def test_tokenize_one_of_and_served_model_names(doc) -> None:
    schemas = doc["components"]["schemas"]
    root = {"$ref": "#/components/schemas/TokenizeRequest", "components": doc["components"]}
    tokenize = jsonschema.Draft202012Validator(root)
    assert not tokenize.is_valid({})
    assert not tokenize.is_valid({"prompt": "a", "messages": [{"role": "user"}]})
    assert tokenize.is_valid({"prompt": "a"})
    assert tokenize.is_valid({"messages": [{"role": "user", "content": "a"}]})
    assert schemas["ChatCompletionRequest"]["properties"]["model"]["enum"] == ["scripted"]
    assert schemas["TokenizeRequest"]["properties"]["model"]["anyOf"][0]["enum"] == ["scripted"]
