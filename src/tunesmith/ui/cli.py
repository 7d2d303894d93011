"""`tunesmith ui`: the web app (docs/ui.md). Imports stay light until the server starts,
so the URL prints within a few seconds; torch loads when a page first needs a model.

    tunesmith ui                                   # http://127.0.0.1:7860, runs under ./runs
    tunesmith ui --runs runs --project . --port 8080
    tunesmith ui --host 0.0.0.0 --auth-token "$(openssl rand -hex 16)"
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def ui(args: argparse.Namespace) -> int:
    from tunesmith.ui.settings import Roots, UISettings, token_from_env

    settings = UISettings(
        Roots.make(args.project, args.runs),
        host=args.host,
        port=args.port,
        token=token_from_env(args.auth_token),
    )
    settings.check()
    import uvicorn

    from tunesmith.ui.app import build_app

    app = build_app(settings)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/"
    print(f"tunesmith ui on {url}  (runs: {settings.roots.runs})", file=sys.stderr, flush=True)
    if settings.token:
        print(f"open {url}?token=<your token> once; a cookie keeps you signed in", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"ui": ui}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="web app: runs, new run, data, evaluate, playground, export")
    p.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    p.add_argument("--runs", default="runs", metavar="DIR", help="runs root (default: %(default)s)")
    p.add_argument(
        "--project", default=".", metavar="DIR", help="project dir: configs/, data (default: .)"
    )
    p.add_argument(
        "--auth-token",
        metavar="TOKEN",
        help="require this token (or TUNESMITH_UI_TOKEN); needed for a non-local --host",
    )
    p.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="uvicorn log level (default: %(default)s)",
    )
    p.set_defaults(command="ui")
