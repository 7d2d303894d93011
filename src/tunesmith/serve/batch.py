"""`tunesmith generate`: a jsonl file of prompts through the engine, answers in input order.

Each input line is `{"prompt": "..."}` (raw text) or `{"messages": [...]}` (a chat, rendered
with the chat template); other fields are kept. Each output line is the input record plus
`output` (the generated text), `finish_reason`, `usage`, and for chats `content` and
`reasoning_content` (the `<think>` part, or null).
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from tunesmith.errors import DataError
from tunesmith.inference.engine import Engine
from tunesmith.inference.params import InvalidRequestError, SamplingParams
from tunesmith.progress import make_progress
from tunesmith.serve.generation import ChoiceJob
from tunesmith.serve.offline import run_jobs
from tunesmith.serve.prompts import ChatRenderError, opens_reasoning, render_chat
from tunesmith.serve.text import ReasoningSplit


def read_prompts(path: str | Path, tok: PreTrainedTokenizerBase) -> list[tuple[dict, str, bool]]:
    """(record, prompt text, is chat) per line; DataError names the line and field."""
    out = []
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", file=str(path))
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"not JSON: {e.msg}", file=str(path), line=n) from e
        where = {"file": str(path), "line": n}
        if not isinstance(rec, dict):
            raise DataError(
                "not an object", expected="{'prompt': ...} or {'messages': [...]}", **where
            )
        if isinstance(rec.get("prompt"), str) and rec["prompt"]:
            out.append((rec, rec["prompt"], False))
        elif isinstance(rec.get("messages"), list) and rec["messages"]:
            try:
                out.append((rec, render_chat(tok, rec["messages"]), True))
            except (ChatRenderError, KeyError, TypeError) as e:
                raise DataError(str(e), field="messages", **where) from e
        else:
            raise DataError(
                "no prompt", expected="a non-empty 'prompt' string or 'messages' list", **where
            )
    return out


def generate_file(
    engine: Engine,
    tok: PreTrainedTokenizerBase,
    input_path: str | Path,
    output_path: str | Path,
    params: SamplingParams,
    adapter: str | None = None,
    stop: list[str] | None = None,
) -> str:
    """Generate an answer for every line; returns a one-line summary."""
    prompts = read_prompts(input_path, tok)
    jobs = [
        ChoiceJob(
            i,
            f"generate-{i}",
            tok.encode(text, add_special_tokens=False),
            params,
            stop or [],
            adapter,
        )
        for i, (_, text, _) in enumerate(prompts)
    ]
    for job in jobs:
        try:
            engine.check_request(job.prompt_ids, job.params, adapter)
        except InvalidRequestError as e:
            raise DataError(str(e), file=str(input_path), line=job.index + 1) from e
    with make_progress(transient=True) as progress:  # stderr: plain lines when redirected
        task = progress.add_task("generating", total=len(jobs))
        done = run_jobs(engine, tok, jobs, on_finish=lambda _: progress.advance(task))
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    tokens = 0
    with open(output_path, "w", encoding="utf-8") as f:
        for i, (rec, text, is_chat) in enumerate(prompts):
            output, finish, out = done[i]
            completion = len(out.token_ids) + (out.stop_token_id is not None)
            tokens += completion
            row = {**rec, "output": output, "finish_reason": finish}
            if is_chat:
                reasoning, content = ReasoningSplit(opens_reasoning(text)).split(output)
                row.update(content=content, reasoning_content=reasoning)
            n = len(out.prompt_token_ids)
            row["usage"] = {
                "prompt_tokens": n,
                "completion_tokens": completion,
                "total_tokens": n + completion,
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return f"generated {len(prompts)} answers ({tokens} tokens) -> {output_path}"
