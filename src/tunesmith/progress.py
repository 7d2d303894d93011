"""Progress for every long job: a rich bar on a terminal, plain lines anywhere else.

    with TrainProgress(total=100, completed=0, enabled=True) as bar:
        bar.update(step, {"loss": 2.3, "tokens_per_s": 3054})
    with EvalProgress(enabled=True) as bars:
        advance = bars.task("generate", total=120); advance(8)
    with make_progress(*columns, stream="stderr") as p:      # rich's add_task/update API
        task = p.add_task("dedupe", total=None)

When the stream is not a terminal (redirected to a file, a pipe, CI) a bar would print
nothing until the job ends, so a `PlainProgress` prints one line instead, at most every
`TUNESMITH_PROGRESS_INTERVAL` seconds (default 30) and when a task completes:

    train 12/100 (12%) | loss 2.3412 | tokens/s 3,054 | elapsed 0:00:12 | ETA 0:01:28
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tunesmith.runtime import announce_threads

ENV_INTERVAL = "TUNESMITH_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0
Stream = Literal["stdout", "stderr"]


def progress_interval(env: dict[str, str] | None = None) -> float:
    """Seconds between plain progress lines (TUNESMITH_PROGRESS_INTERVAL; 0: every update)."""
    text = (os.environ if env is None else env).get(ENV_INTERVAL, "").strip()
    try:
        value = float(text) if text else DEFAULT_INTERVAL
    except ValueError:
        value = DEFAULT_INTERVAL
    return max(0.0, value)


def _clock(seconds: float) -> str:
    return str(dt.timedelta(seconds=round(seconds)))


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass
class _PlainTask:
    description: str
    total: float | None
    completed: float
    fields: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    start_completed: float = 0.0
    last_line: float = float("-inf")
    finished: bool = False


class PlainProgress:
    """rich.progress.Progress's task API, printing a line per task at a steady interval."""

    def __init__(self, stream: TextIO, interval: float | None = None) -> None:
        self._stream = stream
        self._interval = progress_interval() if interval is None else interval
        self._tasks: dict[int, _PlainTask] = {}
        self._next = 0

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            for task_id in list(self._tasks):
                self._finish(task_id)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.__exit__(None)

    def add_task(
        self, description: str, total: float | None = 100.0, completed: float = 0, **fields: Any
    ) -> int:
        task_id, self._next = self._next, self._next + 1
        task = _PlainTask(description, total, completed, fields, start_completed=completed)
        self._tasks[task_id] = task  # its first update prints at once, then one per interval
        return task_id

    def update(
        self,
        task_id: int,
        *,
        completed: float | None = None,
        advance: float | None = None,
        description: str | None = None,
        total: float | None = None,
        **fields: Any,
    ) -> None:
        task = self._tasks[task_id]
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        if description is not None:
            task.description = description
        if total is not None:
            task.total = total
        task.fields.update(fields)
        now = time.monotonic()
        done = task.total is not None and task.completed >= task.total
        if done:
            self._finish(task_id)
        elif now - task.last_line >= self._interval:
            task.last_line = now
            self._print(task, now)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def remove_task(self, task_id: int) -> None:
        self._finish(task_id)
        del self._tasks[task_id]

    def _finish(self, task_id: int) -> None:
        task = self._tasks[task_id]
        if not task.finished:
            task.finished = True
            self._print(task, time.monotonic())

    def _print(self, task: _PlainTask, now: float) -> None:
        self._stream.write(self.line(task, now) + "\n")
        self._stream.flush()

    @staticmethod
    def line(task: _PlainTask, now: float) -> str:
        elapsed = now - task.started
        if task.total is None:  # a count the caller keeps in the description, if any
            parts = [task.description]
        else:
            total = int(task.total)
            pct = 100 * task.completed / total if total else 100.0
            parts = [f"{task.description} {int(task.completed):,}/{total:,} ({pct:.0f}%)"]
        parts += [f"{k} {_number(v)}" for k, v in task.fields.items() if v not in ("", "-", None)]
        parts.append(f"elapsed {_clock(elapsed)}")
        done = task.completed - task.start_completed
        if task.total is not None and done > 0 and task.completed < task.total:
            parts.append(f"ETA {_clock(elapsed / done * (task.total - task.completed))}")
        return " | ".join(parts)


def make_progress(
    *columns: str | ProgressColumn,
    stream: Stream = "stderr",
    enabled: bool = True,
    transient: bool = False,
    console: Console | None = None,
    threads_line: bool = True,
) -> Progress | PlainProgress:
    """A rich Progress when `stream` (or `console`) is a terminal, else a PlainProgress on
    it; disabled, a rich Progress that shows nothing. `threads_line`: the work runs on torch
    threads, so say how many (once per process) as it starts."""
    if threads_line:
        announce_threads()
    console = console or Console(stderr=stream == "stderr")
    if enabled and not console.is_terminal:
        return PlainProgress(console.file)
    return Progress(*columns, console=console, transient=transient, disable=not enabled)


class TrainProgress:
    """The training bar: step, loss, tokens/s, elapsed, ETA (on stdout, with the run's lines)."""

    def __init__(self, total: int, completed: int, *, enabled: bool) -> None:
        self._progress = make_progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[tokens/s]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            stream="stdout",
            enabled=enabled,
        )
        fields = {"loss": "-", "tokens/s": "-"}
        self._task = self._progress.add_task("train", total=total, completed=completed, **fields)

    def __enter__(self) -> TrainProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None or isinstance(self._progress, Progress):
            self._progress.stop()

    def update(self, step: int, record: dict) -> None:
        self._progress.update(
            self._task,
            completed=step,
            loss=f"{record['loss']:.4f}",
            **{"tokens/s": f"{record['tokens_per_s']:.0f}"},
        )


class EvalProgress:
    """A bar per evaluation phase (generate, loss, classify), on stderr."""

    def __init__(self, *, enabled: bool) -> None:
        self._progress = make_progress(
            TextColumn("[bold]{task.description:<13}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            enabled=enabled,
        )

    def __enter__(self) -> EvalProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None or isinstance(self._progress, Progress):
            self._progress.stop()

    def task(self, name: str, total: int) -> Callable[[int], None]:
        """A new bar; returns the function that advances it by n samples."""
        task = self._progress.add_task(f"eval {name}", total=total)
        return lambda n: self._progress.advance(task, n)


@contextlib.contextmanager
def status(text: str, console: Console | None = None) -> Iterator[None]:
    """A phase with no step count (a benchmark arm, an export's measurement): rich's spinner
    on a terminal; otherwise `text` when it starts, `text | elapsed H:MM:SS` every interval
    while it runs, and `text | done in H:MM:SS` when it ends."""
    announce_threads()
    console = console or Console(stderr=True)
    if console.is_terminal:
        with console.status(text):
            yield
        return
    started, stop = time.monotonic(), threading.Event()

    def say(suffix: str) -> None:
        console.file.write(f"{text}{suffix}\n")
        console.file.flush()

    def tick() -> None:
        interval = progress_interval()
        while interval > 0 and not stop.wait(interval):
            say(f" | elapsed {_clock(time.monotonic() - started)}")

    say("")
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
    say(f" | done in {_clock(time.monotonic() - started)}")
