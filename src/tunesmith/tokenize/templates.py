"""DeepSeek-R1 chat format: special tokens, the Jinja chat template and its Python twin.

Rendering of a conversation:

    {bos}{system contents joined by "\\n\\n"}<｜User｜>{user}<｜Assistant｜>{answer}<｜end▁of▁sentence｜>...

The last assistant turn renders its reasoning as `<think>\\n{reasoning}\\n</think>\\n\\n{content}`.
Earlier assistant turns (history) drop their reasoning, as R1's official template does; an inline
`<think>…</think>` in their content is cut at the last `</think>` (and the whitespace after it).
With a generation prompt the turn to come is the last one, so every given turn is history.
The prompt adds `<｜Assistant｜>` only (R1's newer template also opens `<think>\\n`; the model
here learns to open it itself). A plain text sample renders as `{bos}{text}{eos}`.

`CHAT_TEMPLATE` (stored in the shipped tokenizer_config.json, for `apply_chat_template`) and
`render_segments` (used for training, with a trainable flag per segment) produce the same string;
tests/unit/tokenize pins that.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from tunesmith.errors import ConfigError
from tunesmith.records import Conversation, Message, message_dict
from tunesmith.tokenize.tool_calls import render_calls, render_outputs, tools_block

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
PAD = "<｜▁pad▁｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

# Order fixes the ids of the shipped tokenizer: bos 0, eos 1, pad 2, User 3, Assistant 4, ...
SPECIAL_TOKENS = (BOS, EOS, PAD, USER, ASSISTANT, THINK_OPEN, THINK_CLOSE)
# Tokens skip_special_tokens removes. As in DeepSeek-R1, the role markers and <think> tags are
# added tokens (single ids) that decoding keeps.
SKIPPED_ON_DECODE = (BOS, EOS, PAD)

CHAT_TEMPLATE = """\
{%- set ns = namespace(system='', has_system=false, last_assistant=-1, prev='', calls='') -%}
{#- With a generation prompt the new turn is the last assistant turn: all others are history -#}
{%- for message in messages -%}
  {%- if message['role'] == 'system' -%}
    {%- if ns.has_system -%}
      {%- set ns.system = ns.system + '\\n\\n' + message['content'] -%}
    {%- else -%}
      {%- set ns.system = message['content'] -%}
      {%- set ns.has_system = true -%}
    {%- endif -%}
  {%- elif message['role'] == 'assistant' -%}
    {%- set ns.last_assistant = loop.index0 -%}
  {%- elif message['role'] not in ('user', 'tool') -%}
    {{- raise_exception("unsupported role '" + message['role'] + "' (expected system, user, assistant or tool)") -}}
  {%- endif -%}
{%- endfor -%}
{%- if tools -%}
  {%- set ns.calls = '## Tools\\nYou have access to the following tools:' -%}
  {%- for tool in tools -%}
    {%- set f = tool['function'] if tool['function'] is defined else tool -%}
    {%- set ns.calls = ns.calls + '\\n\\n### ' + f['name'] -%}
    {%- if f['description'] is defined and f['description'] is not none -%}
      {%- set ns.calls = ns.calls + '\\nDescription: ' + f['description'] -%}
    {%- endif -%}
    {%- if f['parameters'] is defined and f['parameters'] is not none -%}
      {%- set ns.calls = ns.calls + '\\nParameters: ' + (f['parameters'] | tojson) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set ns.system = ns.system + '\\n\\n' + ns.calls if ns.has_system else ns.calls -%}
{%- endif -%}
{%- if add_generation_prompt -%}
  {%- set ns.last_assistant = messages | length -%}
{%- endif -%}
{{- bos_token + ns.system -}}
{%- for message in messages -%}
  {%- if message['role'] == 'user' -%}
    {{- '<｜User｜>' + message['content'] -}}
  {%- elif message['role'] == 'tool' -%}
    {{- '\\n' if ns.prev == 'tool' else '<｜tool▁outputs▁begin｜>' -}}
    {{- '<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>' -}}
    {%- if loop.last or messages[loop.index0 + 1]['role'] != 'tool' -%}
      {{- '<｜tool▁outputs▁end｜>' -}}
    {%- endif -%}
  {%- elif message['role'] == 'assistant' -%}
    {%- set content = message['content'] if message['content'] is not none else '' -%}
    {%- if loop.index0 < ns.last_assistant -%}
      {%- if '</think>' in content -%}
        {%- set content = content.split('</think>')[-1].lstrip() -%}
      {%- endif -%}
    {%- elif message.get('reasoning_content') is not none -%}
      {%- set content = '<think>\\n' + message['reasoning_content'] + '\\n</think>\\n\\n' + content -%}
    {%- endif -%}
    {%- if message.get('tool_calls') -%}
      {%- set ns.calls = '' -%}
      {%- for call in message['tool_calls'] -%}
        {%- set f = call['function'] -%}
        {%- set args = f['arguments'] if f['arguments'] is string else (f['arguments'] | tojson) -%}
        {%- set ns.calls = ns.calls + ('' if loop.first else '\\n') + '<｜tool▁call▁begin｜>function<｜tool▁sep｜>' + f['name'] + '\\n```json\\n' + args + '\\n```<｜tool▁call▁end｜>' -%}
      {%- endfor -%}
      {%- set content = content + '<｜tool▁calls▁begin｜>' + ns.calls + '<｜tool▁calls▁end｜>' -%}
    {%- endif -%}
    {{- '' if ns.prev == 'tool' else '<｜Assistant｜>' -}}
    {{- content + '<｜end▁of▁sentence｜>' -}}
  {%- endif -%}
  {%- if message['role'] != 'system' -%}
    {%- set ns.prev = message['role'] -%}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt and ns.prev != 'tool' -%}
  {{- '<｜Assistant｜>' -}}
{%- endif -%}
"""


@dataclass(frozen=True)
class Segment:
    """A piece of the rendered sample; `trainable` pieces get loss by default."""

    text: str
    trainable: bool


def assistant_text(message: Message, *, history: bool) -> str:
    """What an assistant turn renders between `<｜Assistant｜>` and `<｜end▁of▁sentence｜>`:
    its text (reasoning only when not history), then its tool calls."""
    content = message.content
    if history:
        if THINK_CLOSE in content:
            content = content.split(THINK_CLOSE)[-1].lstrip()
    elif message.reasoning is not None:
        content = f"{THINK_OPEN}\n{message.reasoning}\n{THINK_CLOSE}\n\n{content}"
    if message.tool_calls:
        content += render_calls(message.tool_calls)
    return content


def render_segments(conv: Conversation, add_generation_prompt: bool = False) -> list[Segment]:
    """The sample as segments; the first is always the bos token alone (never trained).

    Each assistant turn gives a `<｜Assistant｜>` prompt segment (none right after tool
    results) and a trainable segment of its rendered text, tool calls and closing eos; each
    run of tool results is one untrained segment. Where the markers are single tokens every
    segment boundary touches one, so tokenizing segment by segment gives the same ids as
    tokenizing the whole string (with the shipped tokenizer the tool markers are text: the
    segments are tokenized apart, as the server tokenizes a prompt apart from what follows).
    With `add_generation_prompt` the turn to generate is the last one, so every assistant turn
    in `conv` renders as history.
    """
    if conv.is_text:
        return [Segment(BOS, False), Segment(conv.text + EOS, True)]
    roles = [m.role for m in conv.messages]
    if add_generation_prompt or "assistant" not in roles:
        history_end = len(roles)
    else:
        history_end = len(roles) - 1 - roles[::-1].index("assistant")
    return _chat_segments(conv.messages, history_end, add_generation_prompt, conv.tools)


def _chat_segments(
    messages: list[Message],
    history_end: int,
    add_generation_prompt: bool,
    tools: list[dict] | None = None,
) -> list[Segment]:
    """Segments of a chat; assistant turns before index `history_end` render as history."""
    for m in messages:
        if m.role not in ("system", "user", "assistant", "tool"):
            raise ValueError(
                f"unsupported role '{m.role}' (expected system, user, assistant or tool)"
            )
    parts = [m.content for m in messages if m.role == "system"]
    if tools:
        parts.append(tools_block(tools))
    system = "\n\n".join(parts)
    segments = [Segment(BOS, False)]
    if system:
        segments.append(Segment(system, False))
    previous = ""
    for i, m in enumerate(messages):
        if m.role == "user":
            segments.append(Segment(USER + m.content, False))
        elif m.role == "tool" and previous != "tool":
            results = [r.content for r in _run_of_tools(messages, i)]
            segments.append(Segment(render_outputs(results), False))
        elif m.role == "assistant":
            if previous != "tool":
                segments.append(Segment(ASSISTANT, False))
            segments.append(Segment(assistant_text(m, history=i < history_end) + EOS, True))
        if m.role != "system":
            previous = m.role
    if add_generation_prompt and previous != "tool":
        segments.append(Segment(ASSISTANT, False))
    return segments


def _run_of_tools(messages: list[Message], start: int) -> list[Message]:
    end = start
    while end < len(messages) and messages[end].role == "tool":
        end += 1
    return messages[start:end]


def render(conv: Conversation, add_generation_prompt: bool = False) -> str:
    """The whole sample as one string (what the tokenizer's chat template renders too)."""
    return "".join(s.text for s in render_segments(conv, add_generation_prompt))


def render_prompt(conv: Conversation, add_generation_prompt: bool = True) -> str:
    """Every turn before the last assistant one, for generating that turn at eval time.

    Assistant turns in the prompt render as history (no reasoning), as in the full sample.
    A conversation without an assistant turn renders whole. Text samples have no prompt.
    """
    if conv.is_text:
        raise ValueError(f"{conv.source or 'sample'}: a text sample has no prompt to render")
    roles = [m.role for m in conv.messages]
    cut = len(roles) - 1 - roles[::-1].index("assistant") if "assistant" in roles else len(roles)
    segments = _chat_segments(conv.messages[:cut], cut, add_generation_prompt, conv.tools)
    return "".join(s.text for s in segments)


def to_chat_messages(conv: Conversation) -> list[dict]:
    """OpenAI-style dicts (`records.message_dict` per turn)."""
    return [message_dict(m) for m in conv.messages]


def shipped_tokenizer_dir() -> Path:
    """The byte-level BPE tokenizer the package ships (built by scripts/build_tokenizer.py)."""
    return Path(str(resources.files("tunesmith") / "assets" / "tokenizer"))


def load_tokenizer(path: str | Path | None = None) -> PreTrainedTokenizerBase:
    """Load a fast tokenizer from a local directory (None: the shipped one), never the network.

    The markers a rendered sample contains outside trainable text must each be one id: the
    loss mask's boundaries rely on it.
    """
    directory = shipped_tokenizer_dir() if path is None else Path(path)
    if not (directory / "tokenizer.json").is_file():
        raise ConfigError(f"tokenizer: '{directory}' has no tokenizer.json")
    # The generic fast class, not the one a model directory's config.json names: e.g. the
    # Qwen2 class would add an `<|endoftext|>` unk token the vocabulary does not have.
    tok = PreTrainedTokenizerFast.from_pretrained(str(directory), local_files_only=True)
    vocab = tok.get_vocab()
    missing = [t for t in (BOS, EOS, USER, ASSISTANT) if t not in vocab]
    if missing:
        raise ConfigError(
            f"tokenizer: '{directory}' lacks the DeepSeek-R1 tokens {missing} "
            "(expected each as one added token)"
        )
    return tok
