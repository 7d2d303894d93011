"""Where the UI may look and who may talk to it: the project dir, the runs root, the token.

Every path that comes from a request goes through `Roots.resolve`: it must stay inside the
project directory or the runs root once `..` and symlinks are resolved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import ConfigError

TOKEN_ENV = "TUNESMITH_UI_TOKEN"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class PathDenied(Exception):
    """A request named a path outside the project and runs root (HTTP 403)."""


@dataclass(frozen=True)
class Roots:
    project: Path
    runs: Path

    @classmethod
    def make(cls, project: str | Path, runs: str | Path) -> Roots:
        project = Path(project).resolve()
        runs_path = Path(runs)
        runs_path = (runs_path if runs_path.is_absolute() else project / runs_path).resolve()
        return cls(project, runs_path)

    def resolve(self, text: str | Path) -> Path:
        """The real path of `text` (relative to the project dir) or `PathDenied`."""
        raw = str(text).strip()
        if not raw or "\x00" in raw:
            raise PathDenied("empty path")
        path = Path(raw).expanduser()
        path = (path if path.is_absolute() else self.project / path).resolve()
        if not any(path == root or path.is_relative_to(root) for root in (self.project, self.runs)):
            raise PathDenied(f"'{raw}' is outside the project directory and the runs root")
        return path

    def display(self, path: Path) -> str:
        """`path` as the CLI would be given it: relative to the project dir when inside it."""
        return (
            str(path.relative_to(self.project)) if path.is_relative_to(self.project) else str(path)
        )


@dataclass(frozen=True)
class UISettings:
    roots: Roots
    host: str = "127.0.0.1"
    port: int = 7860
    token: str | None = None

    def check(self) -> None:
        """Listening beyond this machine needs a token (--auth-token or TUNESMITH_UI_TOKEN)."""
        if self.host not in LOCAL_HOSTS and not self.token:
            raise ConfigError(
                f"--host {self.host}: listening beyond this machine needs a token; pass "
                f"--auth-token TOKEN or set {TOKEN_ENV}"
            )


def token_from_env(given: str | None) -> str | None:
    return given or os.environ.get(TOKEN_ENV) or None
