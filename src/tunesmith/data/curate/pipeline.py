"""`prepare(config) -> Report`: read, run the listed steps in order, write outputs and report.

    report = prepare({"input": {"paths": ["raw.jsonl"]}, "output": {"dir": "prepared"}})

Records stream through the steps one at a time. A global step (see `base`) splits the run into
passes: the pass before it writes the records that reach it to a spill file in the output
directory (deleted afterwards) while the step observes them; the next pass replays that file.
Memory stays bounded by what the steps keep per record (hashes, labels), not by the records.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tunesmith.data.curate.base import Drop, Step, StepStats
from tunesmith.data.curate.config import prepare_config_from
from tunesmith.data.curate.items import Item
from tunesmith.data.curate.options import PrepareConfig
from tunesmith.data.curate.reader import read_items
from tunesmith.data.curate.report import Report, TreeRss, build_report, print_report
from tunesmith.data.curate.store import Outputs, Rejects, Spill
from tunesmith.errors import ConfigError, DataError

log = logging.getLogger("tunesmith.data")


def build_step(name: str, options: Any, work: Path) -> Step:
    """The step object for a configured step (explicit map, no string imports)."""
    from tunesmith.data.curate import (
        augment,
        balance,
        decontam,
        dedupe,
        paraphrase,
        pii,
        quality,
        split,
    )

    builders: dict[str, Callable[[Any, Path], Step]] = {
        "exact_dedupe": dedupe.ExactDedupe,
        "near_dedupe": dedupe.NearDedupe,
        "quality": quality.Quality,
        "pii": pii.Pii,
        "decontam": decontam.Decontam,
        "balance": balance.Balance,
        "augment_templates": augment.Templates,
        "augment_synonyms": augment.Synonyms,
        "augment_paraphrase": paraphrase.Paraphrase,
        "split": split.Split,
    }
    return builders[name](options, work)


def _output_dir(cfg: PrepareConfig) -> Path:
    out = Path(cfg.output.dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output.dir: '{out}' is a file (expected a directory)")
    if out.exists() and any(out.iterdir()) and not cfg.output.overwrite:
        raise ConfigError(
            f"output.dir: '{out}' is not empty (set output.overwrite=true to write into it)"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


class _Run:
    """One pipeline run: the steps, their counts, rejects and outputs."""

    def __init__(self, steps: list[Step], rejects: Rejects, outputs: Outputs, work: Path) -> None:
        self.steps, self.rejects, self.outputs, self.work = steps, rejects, outputs, work
        self.stats = {s.name: StepStats(s.name) for s in steps}

    def flow(self, item: Item, seg: list[Step], k: int, index: int | None, sink: Any) -> None:
        """Pass `item` through seg[k:], then to `sink`; `index` goes to seg[k] only."""
        while k < len(seg):
            step, stats = seg[k], self.stats[seg[k].name]
            stats.records_in += 1
            result = step.apply(item, index)
            index = None
            if isinstance(result, Drop):
                stats.dropped[result.reason] += 1
                self.rejects.item(item, step.name, result.reason, result.message)
                return
            if isinstance(result, list):
                stats.added += len(result) - 1
                stats.records_out += len(result)
                for new in result:
                    self.flow(new, seg, k + 1, None, sink)
                return
            stats.records_out += 1
            item, k = result, k + 1
        sink.write(item)

    def run_pass(
        self,
        source: Iterable[Item],
        seg: list[Step],
        indexed: bool,
        sink: Any,
        progress: Any,
        label: str,
    ) -> None:
        task = progress.add_task(label, total=None)
        for index, item in enumerate(source):
            self.flow(item, seg, 0, index if indexed else None, sink)
            if index % 5000 == 4999:
                progress.update(task, description=f"{label}: {index + 1:,} records")
        for k, step in enumerate(seg):
            for new in step.extra():
                self.stats[step.name].added += 1
                self.stats[step.name].records_out += 1
                self.flow(new, seg, k + 1, None, sink)
        progress.remove_task(task)

    def execute(self, source: Iterable[Item], progress: Any) -> None:
        segments = _segments(self.steps)
        for si, seg in enumerate(segments):
            label = f"pass {si + 1}/{len(segments)}: " + (", ".join(s.name for s in seg) or "read")
            if si + 1 == len(segments):
                self.run_pass(source, seg, si > 0, self.outputs, progress, label)
                break
            nxt = segments[si + 1][0]
            spill = Spill(self.work / f"pass{si + 1}.jsonl")
            self.run_pass(source, seg, si > 0, _Observed(nxt, spill), progress, label)
            spill.close()
            if isinstance(source, Spill):
                source.path.unlink()
            task = progress.add_task(f"{nxt.name}: deciding", total=None)
            nxt.finish(spill)
            progress.remove_task(task)
            source = spill


class _Observed:
    """Sink of a pass before a global step: the step observes each record, the spill keeps it."""

    def __init__(self, step: Step, spill: Spill) -> None:
        self.step, self.spill = step, spill

    def write(self, item: Item) -> None:
        self.step.observe(item, self.spill.count)
        self.spill.write(item)


def _segments(steps: list[Step]) -> list[list[Step]]:
    """Cut the steps into passes: every pass after the first starts with a global step."""
    segments: list[list[Step]] = [[]]
    for step in steps:
        if step.global_pass:
            segments.append([step])
        else:
            segments[-1].append(step)
    return segments


class _InputGuard:
    """What `data prepare` refuses about its input as a whole: an input file without records,
    more than input.max_reject_fraction of bad records, no record left at the end (the first
    and last unless output.allow_empty). Bad records one by one are the reader's business."""

    def __init__(self, cfg: PrepareConfig, validate: StepStats, reject: Any) -> None:
        self.cfg, self.validate, self._reject = cfg, validate, reject
        self.first: str | None = None

    def reject(self, record: Any, reason: str, message: str) -> None:
        self.first = self.first or message
        self._reject(record, reason, message)

    def empty(self, path: Path) -> None:
        if not self.cfg.output.allow_empty:
            raise DataError(
                "the file holds no records",
                file=str(path),
                expected="at least one record; output.allow_empty=true accepts an empty input",
            )
        log.warning("%s holds no records (accepted: output.allow_empty=true)", path)

    def items(self) -> Iterator[Item]:
        yield from read_items(self.cfg.input, self.validate, self.reject, self.empty)
        bad, total = sum(self.validate.dropped.values()), self.validate.records_in
        bound = self.cfg.input.max_reject_fraction
        if bad and bad > bound * total:
            reasons = ", ".join(f"{n} {r}" for r, n in self.validate.dropped.most_common())
            raise DataError(
                f"input: {bad:,} of {total:,} records ({bad / total:.0%}) are bad ({reasons}), "
                f"more than input.max_reject_fraction={bound:g}: is this the right file? "
                f"First: {self.first}. Raise the bound to accept them (1 accepts any share)"
            )

    def check_output(self, written: int) -> None:
        if written or self.validate.records_in == 0:
            return  # an empty input was refused (or accepted) file by file
        dropped = self.validate.records_in
        if not self.cfg.output.allow_empty:
            raise DataError(
                f"input: no record left to write: all {dropped:,} records read were rejected "
                "or dropped by the steps (see the counts with output.allow_empty=true, which "
                "writes the empty outputs and rejects.jsonl)"
            )
        log.warning("no record left to write (accepted: output.allow_empty=true)")


def prepare(
    config: PrepareConfig | Mapping | str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    console: Any = None,
    **kw: Any,
) -> Report:
    """Run the pipeline of `config` (a PrepareConfig, dict or YAML path); return the report.

    Writes train (and validation / test with a split step) .jsonl or .parquet, rejects.jsonl
    and report.json into `output.dir`. Keyword arguments `inputs` / `output` set input.paths /
    output.dir as `--input` / `--output` do.
    """
    from rich.console import Console
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from tunesmith.progress import make_progress

    cfg = prepare_config_from(config, overrides, **kw)
    console = console or Console()
    existed = Path(cfg.output.dir).exists()
    out = _output_dir(cfg)
    started, rss = time.perf_counter(), TreeRss()
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=out))
    steps: list[Step] = []
    rejects = Rejects(out / "rejects.jsonl")
    outputs: Outputs | None = None
    try:
        steps = [build_step(s.name, s.options, work) for s in cfg.steps]
        splits = ["train", "validation", "test"] if cfg.step("split") else ["train"]
        outputs = Outputs(out, cfg.output.format, splits)
        validate = StepStats("validate")
        run = _Run(steps, rejects, outputs, work)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with make_progress(  # plain lines when the console is not a terminal
            *columns,
            console=console,
            transient=True,
            enabled=cfg.output.progress,
            threads_line=False,  # curation is not torch work; a bad record's error comes first
        ) as progress:
            guard = _InputGuard(cfg, validate, rejects.raw)
            run.execute(guard.items(), progress)
        guard.check_output(sum(outputs.counts.values()))
        outputs.close()
    except BaseException:  # no half-written outputs: the directory is as the run found it
        if outputs is not None:
            outputs.remove()
        rejects.close()
        (out / "rejects.jsonl").unlink(missing_ok=True)
        if not existed:  # a failed run leaves no directory it made
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        resources = rss.stop()
        for step in steps:
            step.close()
        rejects.close()
        shutil.rmtree(work, ignore_errors=True)
    files = {s: {"path": str(p), "records": outputs.counts[s]} for s, p in outputs.paths.items()}
    summaries = {s.name: s.summary() for s in steps}
    report = build_report([validate, *run.stats.values()], summaries, files, out / "rejects.jsonl")
    report.seconds = round(time.perf_counter() - started, 3)
    report.resources = resources
    report.save(out / "report.json")
    print_report(report, console)
    return report
