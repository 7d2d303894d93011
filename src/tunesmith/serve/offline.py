"""Text generation without HTTP, on the synchronous engine: `tunesmith generate` and `chat`.

The same text rules as the server: stop strings end a choice (the engine request is
aborted), partial characters are held back, DeepSeek-R1 reasoning is split from content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from transformers import PreTrainedTokenizerBase

from tunesmith.inference.engine import Engine
from tunesmith.inference.request import RequestOutput
from tunesmith.serve.generation import ChoiceJob
from tunesmith.serve.text import TextStream


def run_jobs(
    engine: Engine,
    tok: PreTrainedTokenizerBase,
    jobs: list[ChoiceJob],
    on_finish: Callable[[int], None] | None = None,
) -> dict[int, tuple[str, str, RequestOutput]]:
    """Run every job to the end: index -> (text, finish reason, last output)."""
    for job in jobs:  # all or nothing: a bad job fails before any is queued
        engine.check_request(job.prompt_ids, job.params, job.adapter)
    by_id = {job.request_id: job for job in jobs}
    texts = {job.request_id: TextStream(tok, job.stop) for job in jobs}
    for job in jobs:
        engine.add_request(job.request_id, job.prompt_ids, job.params, job.adapter)
    done: dict[int, tuple[str, str, RequestOutput]] = {}
    try:
        while len(done) < len(jobs):
            for out in engine.step():
                job = by_id.get(out.request_id)
                if job is None or job.index in done:
                    continue
                text = texts[out.request_id]
                text.update(out.token_ids, out.finished)
                finish = "stop" if text.stopped else out.finish_reason
                if finish is not None:
                    engine.abort(out.request_id)  # still running when a stop string ended it
                    done[job.index] = (text.text, finish, out)
                    if on_finish is not None:
                        on_finish(job.index)
    finally:
        if any([engine.abort(job.request_id) for job in jobs]):
            engine.step()  # report (and drop) the aborted ones
    return done


def stream_job(
    engine: Engine, tok: PreTrainedTokenizerBase, job: ChoiceJob
) -> Iterator[tuple[str, str | None, RequestOutput]]:
    """(text delta, finish reason or None, output) after each step of one job."""
    engine.add_request(job.request_id, job.prompt_ids, job.params, job.adapter)
    text = TextStream(tok, job.stop)
    try:
        while True:
            for out in engine.step():
                if out.request_id != job.request_id:
                    continue
                delta = text.update(out.token_ids, out.finished)
                finish = "stop" if text.stopped else out.finish_reason
                yield delta, finish, out
                if finish is not None:
                    return
    finally:
        if engine.abort(job.request_id):
            engine.step()  # report (and drop) the aborted one
