"""Chat messages -> prompt text with the tokenizer's chat template (DeepSeek-R1's by default)."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from tunesmith.errors import TunesmithError
from tunesmith.tokenize.templates import CHAT_TEMPLATE, THINK_OPEN


class ChatRenderError(TunesmithError):
    """The chat template refused the messages (e.g. an unsupported role)."""


def render_chat(
    tok: PreTrainedTokenizerBase,
    messages: list[dict],
    add_generation_prompt: bool = True,
    tools: list[dict] | None = None,
) -> str:
    """`messages`: OpenAI-style dicts (`reasoning_content` and `tool_calls` allowed on
    assistant turns, `tool` turns); a "developer" turn counts as "system". `tools`: OpenAI
    function definitions, which the template renders into the system prompt."""
    dicts = [{**m, "role": "system" if m["role"] == "developer" else m["role"]} for m in messages]
    template = getattr(tok, "chat_template", None) or CHAT_TEMPLATE
    try:
        return tok.apply_chat_template(
            dicts,
            chat_template=template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            tools=tools,
        )
    except Exception as e:  # jinja raise_exception: unsupported roles and the like
        raise ChatRenderError(f"cannot render the chat: {e}") from e


def opens_reasoning(prompt: str) -> bool:
    """The prompt itself opens `<think>`: the output starts inside the reasoning."""
    return prompt.rstrip().endswith(THINK_OPEN)
