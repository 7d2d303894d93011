"""The tokenizer as llama.cpp reads it: a 'gpt2' (byte-level BPE) vocabulary in GGUF keys.

    add_vocab(writer, tok, n_vocab)

- tokenizer.ggml.tokens / token_type: one entry per embedding row. Byte-level BPE tokens keep
  their byte-to-unicode spelling ("Ġthe"); special added tokens (bos, eos, pad) are CONTROL,
  other added tokens (the DeepSeek-R1 role markers, <think>) USER_DEFINED, as the Hugging
  Face tokenizer treats them (always matched in text, kept when decoding); rows past the
  tokenizer are UNUSED "[PAD{i}]".
- tokenizer.ggml.merges: "a b" per merge, spaces inside a token written as U+0120 + 256 the
  way llama.cpp's converter does.
- tokenizer.ggml.pre: the name of the llama.cpp pre-tokenizer whose splitting equals the
  tokenizer.json `pre_tokenizer` (PRE_TOKENIZERS); an unknown one is refused, since the
  wrong split silently changes every token id.
- bos / eos / pad ids, add_bos_token (from the post-processor), the chat template.
"""

from __future__ import annotations

import json

import gguf
from transformers import PreTrainedTokenizerBase

from tunesmith.errors import ConfigError

_GPT2 = {"type": "ByteLevel", "use_regex": True}
_DIGITS = {"type": "Digits", "individual_digits": True}
_QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3 = _QWEN2.replace(r"|\p{N}|", r"|\p{N}{1,3}|")


def _step(p: dict) -> tuple:
    kind = p.get("type")
    if kind == "ByteLevel":
        return ("bytelevel", bool(p.get("use_regex", True)))
    if kind == "Digits":
        return ("digits", bool(p.get("individual_digits")))
    if kind == "Split":
        return ("split", (p.get("pattern") or {}).get("Regex"), p.get("behavior"))
    return (kind,)


def _steps(pre: dict | None) -> tuple:
    if pre is None:
        return ()
    items = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    return tuple(_step(p) for p in items)


# tokenizer.json pre_tokenizer steps -> llama.cpp pre-tokenizer name (llama-vocab.cpp)
PRE_TOKENIZERS = {
    (_step(_GPT2),): "gpt-2",
    (_step(_DIGITS), _step(_GPT2)): "starcoder",  # the shipped tokenizer: digits split one by one
    (("split", _QWEN2, "Isolated"), ("bytelevel", False)): "qwen2",
    (("split", _LLAMA3, "Isolated"), ("bytelevel", False)): "llama-bpe",
}


def pre_tokenizer_name(spec: dict) -> str:
    """The llama.cpp pre-tokenizer for a tokenizer.json, or a ConfigError."""
    model = spec.get("model", {}).get("type")
    if model != "BPE" or (spec.get("decoder") or {}).get("type") != "ByteLevel":
        raise ConfigError(
            f"--model: the tokenizer is a {model} tokenizer with a "
            f"{(spec.get('decoder') or {}).get('type')} decoder; tunesmith export gguf writes "
            "byte-level BPE tokenizers only (llama.cpp 'gpt2' vocab)"
        )
    if spec.get("normalizer") is not None:
        raise ConfigError(
            "--model: the tokenizer has a normalizer, which llama.cpp's 'gpt2' vocab does not "
            "apply; tunesmith export gguf refuses it rather than change token ids"
        )
    name = PRE_TOKENIZERS.get(_steps(spec.get("pre_tokenizer")))
    if name is None:
        raise ConfigError(
            "--model: tokenizer.json pre_tokenizer "
            f"{json.dumps(spec.get('pre_tokenizer'))[:200]} matches no llama.cpp pre-tokenizer "
            f"tunesmith knows ({', '.join(sorted(PRE_TOKENIZERS.values()))})"
        )
    return name


def _merges(spec: dict) -> list[str]:
    merges = spec["model"].get("merges") or []
    out = []
    for m in merges:
        pair = m.split(" ", 1) if isinstance(m, str) else m
        out.append(" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in p) for p in pair))
    return out


def _adds_bos(spec: dict, bos: str | None) -> bool:
    post = spec.get("post_processor") or {}
    steps = post.get("processors", [post]) if post.get("type") == "Sequence" else [post]
    for step in steps:
        single = step.get("single") or []
        if step.get("type") == "TemplateProcessing" and single:
            return single[0].get("SpecialToken", {}).get("id") == bos
    return False


def add_vocab(w: gguf.GGUFWriter, tok: PreTrainedTokenizerBase, n_vocab: int) -> dict:
    """Write the tokenizer keys; returns {"pre": name, "tokens": n, "merges": n}."""
    spec = json.loads(tok.backend_tokenizer.to_str())
    pre = pre_tokenizer_name(spec)
    added = tok.added_tokens_decoder
    id_to_token = {i: t for t, i in tok.get_vocab().items()}
    tokens, types = [], []
    for i in range(n_vocab):
        text = id_to_token.get(i)
        if text is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(added[i].content)
            types.append(
                gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED
            )
        else:
            tokens.append(text)
            types.append(gguf.TokenType.NORMAL)
    merges = _merges(spec)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for kind, tid in (
        ("bos", tok.bos_token_id),
        ("eos", tok.eos_token_id),
        ("pad", tok.pad_token_id),
    ):
        if tid is not None:
            getattr(w, f"add_{kind}_token_id")(tid)
    w.add_add_bos_token(_adds_bos(spec, tok.bos_token))
    w.add_add_eos_token(False)
    if isinstance(tok.chat_template, str):
        w.add_chat_template(tok.chat_template)
    return {"pre": pre, "tokens": len(tokens), "merges": len(merges)}
