"""Chat template (DeepSeek-R1 style, <think> aware), token ids and loss masks."""

from tunesmith.tokenize.masking import EncodedSample, encode_conversation, encode_segments
from tunesmith.tokenize.templates import (
    ASSISTANT,
    BOS,
    CHAT_TEMPLATE,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    THINK_CLOSE,
    THINK_OPEN,
    USER,
    Segment,
    load_tokenizer,
    render,
    render_prompt,
    render_segments,
    shipped_tokenizer_dir,
    to_chat_messages,
)

__all__ = [
    "ASSISTANT",
    "BOS",
    "CHAT_TEMPLATE",
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "THINK_CLOSE",
    "THINK_OPEN",
    "USER",
    "EncodedSample",
    "Segment",
    "encode_conversation",
    "encode_segments",
    "load_tokenizer",
    "render",
    "render_prompt",
    "render_segments",
    "shipped_tokenizer_dir",
    "to_chat_messages",
]
