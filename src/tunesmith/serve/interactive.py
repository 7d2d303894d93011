"""`tunesmith chat`: a terminal chat that streams answers, reasoning shown dimmed.

Commands: `/reset` forgets the conversation, `/exit` (or Ctrl-D) quits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from rich.console import Console
from transformers import PreTrainedTokenizerBase

from tunesmith.inference.engine import Engine
from tunesmith.inference.params import InvalidRequestError, SamplingParams
from tunesmith.serve.generation import ChoiceJob
from tunesmith.serve.offline import stream_job
from tunesmith.serve.prompts import opens_reasoning, render_chat
from tunesmith.serve.text import ReasoningSplit


def chat_loop(
    engine: Engine,
    tok: PreTrainedTokenizerBase,
    params: SamplingParams,
    adapter: str | None = None,
    system: str | None = None,
    read: Callable[[str], str] = input,
    console: Console | None = None,
) -> list[dict]:
    """Run the chat until /exit or end of input; returns the conversation."""
    console = console or Console(highlight=False)
    history: list[dict] = [{"role": "system", "content": system}] if system else []
    for turn in itertools.count():
        try:
            line = read("> ").strip()
        except EOFError:
            break
        if line == "/exit":
            break
        if line == "/reset":
            history = history[:1] if system else []
            continue
        if not line:
            continue
        history.append({"role": "user", "content": line})
        prompt = render_chat(tok, history)
        ids = tok.encode(prompt, add_special_tokens=False)
        job = ChoiceJob(turn, f"chat-{turn}", ids, params, adapter=adapter)
        try:
            answer = _stream_answer(engine, tok, job, opens_reasoning(prompt), console)
        except InvalidRequestError as e:
            console.print(f"[red]{e}[/red] (try /reset)")
            history.pop()
            continue
        history.append({"role": "assistant", "content": answer})
    return history


def _stream_answer(
    engine: Engine,
    tok: PreTrainedTokenizerBase,
    job: ChoiceJob,
    reasoning_open: bool,
    console: Console,
) -> str:
    split, text = ReasoningSplit(reasoning_open), ""
    for delta, finish, _ in stream_job(engine, tok, job):
        text += delta
        reasoning, content = split.update(text, final=finish is not None)
        if reasoning:
            console.print(reasoning, style="dim", end="", markup=False)
        if content:
            if split.reasoning and split.content == content:  # the answer starts
                console.print()
            console.print(content, end="", markup=False)
        if finish == "length":
            console.print(" (max tokens)", style="yellow", end="")
    console.print()
    return split.content if split.reasoning else text
