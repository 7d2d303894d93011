"""Logging for every tunesmith process (CLI, trainer ranks, server), and library noise control.

    setup_logging(LogSettings(level="debug", json=True, file="tunesmith.log"))
    setup_logging(LogSettings.from_env())      # TUNESMITH_LOG_LEVEL / _JSON / _FILE

The level applies to tunesmith's loggers and uvicorn's; other libraries log at WARNING and
above. Records go to stderr and, optionally, to a file (appended), as text or JSON lines.
Fields passed with `extra=` (e.g. the server's per-request line) become `key=value` pairs in
text and top-level keys in JSON. Under a distributed launch each record carries its rank.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from tunesmith.errors import ConfigError

LEVELS = ("debug", "info", "warning", "error")
ENV_LEVEL, ENV_JSON, ENV_FILE = "TUNESMITH_LOG_LEVEL", "TUNESMITH_LOG_JSON", "TUNESMITH_LOG_FILE"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
_OURS = ("tunesmith", "uvicorn")  # loggers that get the configured level
_STANDARD_ATTRS = frozenset(
    set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)
    | {"message", "asctime", "taskName", "color_message"}  # uvicorn's colored copy of msg
)


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"
    """one of debug, info, warning, error"""
    json: bool = False
    """one JSON object per line instead of text"""
    file: str | None = None
    """also append records to this file"""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"log level '{self.level}' is not one of {', '.join(LEVELS)}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LogSettings:
        """Settings from TUNESMITH_LOG_LEVEL, TUNESMITH_LOG_JSON (1/0) and TUNESMITH_LOG_FILE."""
        env = os.environ if env is None else env
        level = env.get(ENV_LEVEL, "info").strip().lower() or "info"
        if level not in LEVELS:
            raise ConfigError(f"{ENV_LEVEL}='{env[ENV_LEVEL]}' is not one of {', '.join(LEVELS)}")
        flag = env.get(ENV_JSON, "").strip().lower()
        if flag not in _TRUE + _FALSE:
            raise ConfigError(f"{ENV_JSON}='{env[ENV_JSON]}': expected 1 or 0 (true / false)")
        return cls(level=level, json=flag in _TRUE, file=env.get(ENV_FILE) or None)

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings (for child processes)."""
        env = {ENV_LEVEL: self.level, ENV_JSON: "1" if self.json else "0"}
        if self.file:
            env[ENV_FILE] = self.file
        return env


def _rank() -> int | None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return int(os.environ.get("RANK", "0"))
    return None


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        k: v
        for k, v in record.__dict__.items()
        if k not in _STANDARD_ATTRS and not k.startswith("_")
    }


FILE_ONLY = {"_file_only": True}
"""`extra=` for a record that the log file gets but stderr does not (below debug): the lines a
run already prints on stdout, so `--log-file` holds them without the screen showing them twice."""


def to_log_file(logger: logging.Logger, message: str, **fields: object) -> None:
    """Log `message` (INFO) into the log file only; on stderr too at `--log-level debug`."""
    logger.info(message, extra={**fields, **FILE_ONLY})


class _ScreenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_file_only", False):
            return True
        return logging.getLogger("tunesmith").getEffectiveLevel() <= logging.DEBUG


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", [rank], extra fields..., [exc]} per line."""

    def format(self, record: logging.LogRecord) -> str:
        time = dt.datetime.fromtimestamp(record.created, dt.UTC)
        out: dict[str, object] = {
            "time": time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rank = _rank()
        if rank is not None:
            out["rank"] = rank
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-01-01 12:00:00,123 INFO tunesmith.access: message key=value ...`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = " ".join(f"{k}={_text(v)}" for k, v in _extras(record).items())
        head, sep, tail = text.partition("\n")  # fields before any traceback
        head = f"{head} {extras}" if extras else head
        rank = _rank()
        if rank is not None:
            head = f"[rank {rank}] {head}"
        return head + sep + tail


def _text(value: object) -> str:
    """A field value as one token: strings with spaces (or empty) are JSON-quoted."""
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class _Stderr(logging.StreamHandler):
    """A handler on whatever sys.stderr is at emit time (rich progress bars and test
    capture replace it), not on the stream that existed at setup."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup_logging(settings: LogSettings | None = None) -> None:
    """Configure logging for this process; calling it again replaces the previous setup."""
    settings = settings or LogSettings()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_tunesmith", False)]:
        root.removeHandler(handler)
        handler.close()
    screen = _Stderr()
    screen.addFilter(_ScreenFilter())
    handlers: list[logging.Handler] = [screen]
    if settings.file:
        try:
            handlers.append(logging.FileHandler(settings.file, encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"log file '{settings.file}': {e.strerror or e}") from None
    formatter = JsonFormatter() if settings.json else TextFormatter()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._tunesmith = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    level = getattr(logging, settings.level.upper())
    root.setLevel(max(level, logging.WARNING))
    for name in _OURS:
        logging.getLogger(name).setLevel(level)


def is_configured() -> bool:
    """Whether `setup_logging` handlers are on the root logger."""
    return any(getattr(h, "_tunesmith", False) for h in logging.getLogger().handlers)


@contextlib.contextmanager
def logging_session(settings: LogSettings) -> Iterator[None]:
    """`setup_logging(settings)` for the duration of a block, then the previous setup back
    (the CLI's `main()` runs in a block, so calling it from Python leaves logging as it was)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in _OURS})
    setup_logging(settings)
    try:
        yield
    finally:
        for handler in root.handlers:
            if getattr(handler, "_tunesmith", False) and handler not in saved[0]:
                handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def cli_settings(level: str | None, json_lines: bool, file: str | None) -> LogSettings:
    """The CLI's settings: its flags over the environment. Flags given are exported to the
    environment, so processes this one starts (torchrun ranks) log the same way."""
    env = LogSettings.from_env()
    settings = LogSettings(
        level=level or env.level,
        json=json_lines or env.json,
        file=os.path.abspath(file) if file else env.file,
    )
    if level or json_lines or file:
        os.environ.update(settings.to_env())
    return settings


# Warnings raised inside dependencies about their own internals, not about user input.
_IGNORED = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
    (RuntimeWarning, r"The following (alpha|rank)_pattern keys did not match"),
    (UserWarning, r"To copy construct from a tensor"),
    (FutureWarning, r"`torch.distributed.all_gather_into_tensor` is deprecated"),
    (FutureWarning, r"`torch.distributed.reduce_scatter_tensor` is deprecated"),  # ZeRO-3
)


def ignore_dependency_warnings() -> None:
    """Hide `_IGNORED` (deprecations inside DeepSpeed / transformers / PEFT that users cannot
    act on); each filter matches one message, so every other warning still shows."""
    for category, message in _IGNORED:
        warnings.filterwarnings("ignore", message=message, category=category)


NOISY_ON_IMPORT = ("torchao", "torch.utils._pytree")
"""Loggers that warn when torchao is imported: it tries to load its CUDA kernel libraries
(and warns when they do not load on a CPU build of torch, or when Triton is missing) and
registers enums with torch's pytree (a deprecation warning)."""


def quiet_import_warnings() -> None:
    """Only errors from `NOISY_ON_IMPORT`. transformers imports torchao as soon as it is
    installed, so this runs at `import tunesmith`, before transformers is first imported.
    Also installs the `_IGNORED` filters, so plain transformers / PEFT loading after
    `import tunesmith` is as quiet as tunesmith's own."""
    for name in NOISY_ON_IMPORT:
        logging.getLogger(name).setLevel(logging.ERROR)
    ignore_dependency_warnings()
    if _cpu_only_torch():  # DeepSpeed would warn (on stdout) that it fell back to its CPU path
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def _cpu_only_torch() -> bool:
    """Whether the installed torch is a CPU-only build (read from its version, without
    importing it: `import tunesmith` stays light)."""
    from importlib import metadata

    try:
        return metadata.version("torch").endswith("+cpu")
    except metadata.PackageNotFoundError:
        return False


NATIVE_NOISE = ("USDT:", "STAGE:")
"""Lines libkineto (torch.profiler's C++ core) writes straight to file descriptor 2 when a
profile starts and stops (`USDT: ... profiler_start`); its warnings and errors stay."""


@contextlib.contextmanager
def native_stderr_without(prefixes: tuple[str, ...] = NATIVE_NOISE) -> Iterator[None]:
    """Hold what native code (and Python) writes to stderr during the block, then pass it on
    without the lines that start with `prefixes`. Native libraries write to the file
    descriptor, not to sys.stderr, so Python's warning filters and loggers cannot reach them."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = [x for x in text.splitlines(keepends=True) if not x.startswith(prefixes)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def quiet_libraries() -> None:
    """Hide transformers' load/save progress bars and known-harmless dependency warnings."""
    import torch
    from transformers.utils import logging as hf_logging

    if not torch.cuda.is_available():  # DeepSpeed would warn that it fell back to its CPU path
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    ignore_dependency_warnings()
