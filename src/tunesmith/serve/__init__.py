"""OpenAI-compatible HTTP server over the inference engine (tokenizer and templates live here).

    tunesmith serve --model tiny-deepseek-v3-base --port 8000

Layout (vLLM style): `protocol` (pydantic schemas) / `chat`, `completions`, `serving`,
`generation`, `text` (serving logic) / `routes` (thin HTTP) / `app` (FastAPI + uvicorn,
middleware, SIGTERM drain); `admission`, `metrics`, `errors`, `state`, `loading` beside them.
"""
