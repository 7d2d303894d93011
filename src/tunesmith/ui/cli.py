"""`tunesmith ui`: the web app (docs/ui.md). Imports stay light until the server starts,
so the URL prints within a few seconds; torch loads when a page first needs a model.

    tunesmith ui                                   # http://127.0.0.1:7860, runs under ./runs
    tunesmith ui --runs runs --project . --port 8080
    tunesmith ui --host 0.0.0.0 --auth-token "$(openssl rand -hex 16)"
    tunesmith ui ui.yaml port=8080                 # CONFIG.yaml + dotted overrides
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tunesmith.config.settings import add_settings_args, settings_from_args
from tunesmith.config.tool_settings import UiSettings


def ui(args: argparse.Namespace) -> int:
    from tunesmith.ui.settings import Roots, UISettings, token_from_env

    s = settings_from_args(args)
    settings = UISettings(
        Roots.make(s.project, s.runs),
        host=s.host,
        port=s.port,
        token=token_from_env(s.auth_token),
    )
    settings.check()
    import uvicorn

    from tunesmith.ui.app import build_app

    app = build_app(settings)
    host = f"[{s.host}]" if ":" in s.host else s.host
    url = f"http://{host}:{s.port}/"
    print(f"tunesmith ui on {url}  (runs: {settings.roots.runs})", file=sys.stderr, flush=True)
    if settings.token:
        print(f"open {url}?token=<your token> once; a cookie keeps you signed in", file=sys.stderr)
    uvicorn.run(app, host=s.host, port=s.port, log_level=s.log_level)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"ui": ui}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="web app: runs, new run, data, evaluate, playground, export")
    add_settings_args(p, UiSettings)
    p.set_defaults(command="ui")
