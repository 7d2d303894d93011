"""Token ids -> text, incrementally: stop strings, held-back partial characters, reasoning split.

`TextStream.update(token_ids, finished)` takes the tokens generated so far and returns the
new text since the last call. It decodes only a window of the newest tokens (vLLM's
prefix/read offsets: the tokens since the last emitted text, with the ones before them as
context and their text subtracted), so a long output costs the same per token as a short
one instead of a full decode every step. Text that could still become a stop string, or that ends in an
incomplete UTF-8 character, is held back until the next token decides it. When a stop string
appears the text before it is final (the stop string is not included).

`ReasoningSplit` separates DeepSeek-R1 output `<think>\\n{reasoning}\\n</think>\\n\\n{content}`
into `reasoning_content` and `content`, also incrementally (each call returns deltas).
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from tunesmith.tokenize.templates import THINK_CLOSE, THINK_OPEN


class TextStream:
    """Incremental detokenizer with stop strings (see module doc)."""

    def __init__(self, tok: PreTrainedTokenizerBase, stop: list[str] | None = None):
        self.tok = tok
        self.stop = [s for s in (stop or []) if s]
        self.text = ""  # text handed out so far
        self.stopped = False
        self._decoded = ""  # text of token_ids[:_read], complete characters only
        self._prefix = 0  # window start: context tokens whose text is already in _decoded
        self._read = 0  # tokens whose text is in _decoded

    def update(self, token_ids: list[int], finished: bool) -> str:
        """New text since the last call; sets `stopped` when a stop string ended the text."""
        if self.stopped:
            return ""
        full = self._decode(token_ids)
        cut = self._find_stop(full)
        if cut is not None:
            full, self.stopped = full[:cut], True
        elif not finished:
            full = full[: len(full) - self._held_back(full)]
        delta = full[len(self.text) :] if full.startswith(self.text) else ""
        if len(full) > len(self.text):
            self.text = full
        return delta

    def _decode(self, token_ids: list[int]) -> str:
        """Text of all of `token_ids` (a trailing partial character stays pending in the
        window until it completes; `update` holds it back unless the output ended)."""
        decode = self.tok.decode
        known = decode(token_ids[self._prefix : self._read], skip_special_tokens=True)
        window = decode(token_ids[self._prefix :], skip_special_tokens=True)
        if not window.startswith(known):  # the context decodes differently now: start over
            full = decode(token_ids, skip_special_tokens=True)
            if not full.endswith("\ufffd"):
                self._decoded = full
                self._read = len(token_ids)
                self._prefix = max(0, self._read - 1)
            return full
        new = window[len(known) :]
        if new and not new.endswith("\ufffd"):
            self._decoded += new
            self._prefix, self._read = self._read, len(token_ids)
            return self._decoded
        return self._decoded + new

    def _find_stop(self, text: str) -> int | None:
        longest = max((len(s) for s in self.stop), default=0)
        start = max(0, len(self.text) - longest + 1)
        hits = [i for i in (text.find(s, start) for s in self.stop) if i >= 0]
        return min(hits) if hits else None

    def _held_back(self, text: str) -> int:
        """Characters at the end that may still change: a partial character or stop string."""
        if text.endswith("\ufffd"):
            return len(text) - len(text.rstrip("\ufffd"))
        return max((partial_suffix(text, s) for s in self.stop), default=0)


class ReasoningSplit:
    """Split `<think>…</think>` reasoning from the answer; `started=True` when the prompt
    already opened the think block (the output then holds only `</think>`)."""

    def __init__(self, started: bool = False):
        self.started = started
        self.reasoning = ""
        self.content = ""

    def split(self, text: str, final: bool = True) -> tuple[str | None, str]:
        """(reasoning or None when there is no think block, content) of the text so far.

        Not `final`: a trailing partial tag ("<thi", "</th") is held back.
        """
        body = text
        if not self.started:
            stripped = text.lstrip()
            if not stripped.startswith(THINK_OPEN):
                if not final and stripped and THINK_OPEN.startswith(stripped):
                    return None, ""
                return None, text
            body = stripped[len(THINK_OPEN) :]
        if THINK_CLOSE in body:
            reasoning, content = body.split(THINK_CLOSE, 1)
            return _trim(reasoning), content.lstrip()
        if not final:
            body = body[: len(body) - partial_suffix(body, THINK_CLOSE)]
        return _trim(body), ""

    def update(self, text: str, final: bool = False) -> tuple[str, str]:
        """(reasoning delta, content delta) for the text so far."""
        reasoning, content = self.split(text, final)
        reasoning = reasoning or ""
        deltas = reasoning[len(self.reasoning) :], content[len(self.content) :]
        self.reasoning = max(self.reasoning, reasoning, key=len)
        self.content = max(self.content, content, key=len)
        return deltas


def partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper start of `tag`."""
    for k in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:k]):
            return k
    return 0


def _trim(reasoning: str) -> str:
    """Reasoning as rendered between `<think>\\n` and `\\n</think>`; a trailing newline is held."""
    return reasoning.removeprefix("\n").removesuffix("\n")
