"""Grammar-constrained decoding (structured output) on llguidance, the `grammar` extra.

    check_guide(guide)                        # InvalidRequestError naming guide.param if bad
    compiler = GrammarCompiler.from_tokenizer(hf_tokenizer, vocab_size=config.vocab_size)
    c = compiler.constraint(guide)            # per-request state, lives beside the sampler
    mask = c.allowed_token_mask()             # bool [vocab_size]: tokens that keep it valid
    row = row.masked_fill(~mask, float("-inf"))
    c.accept(token)                           # advance; False if the token breaks the grammar
    c.is_finished                             # only end-of-sequence fits now: stop here

The engine keeps one `Constraint` per constrained request (`Request.constraint`) and masks
that request's row alone: unconstrained rows of the same step do no grammar work at all.
The compiler needs the tokenizer's token byte strings, so whoever loads the tokenizer
builds it (`serve`, the engine-core process) and hands it to `Engine(grammar=...)`; the
engine still never tokenizes.

Why llguidance (see docs/serve.md): a 3 MB wheel with no Python dependencies (xgrammar
pulls torch, transformers, triton and apache-tvm-ffi; outlines-core needs its vocabulary
built by hand and compiles a full regex index before the first token), masks computed
lazily per step in Rust (~30 us for a 4k vocabulary here, no compile step), JSON schema +
regex + Lark from one API, and `validate_grammar` gives a message for a bad schema or regex
before anything runs.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from tunesmith.inference.guide import Guide
from tunesmith.inference.params import InvalidRequestError

EXTRA = "pip install 'tunesmith[grammar]'"
JSON_STYLE = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
"""JSON as `json.dumps` writes it. Flexible whitespace lets a model pad forever (a weak or
random model fills max_tokens with newlines); a schema's own "x-guidance" overrides this."""
_WHAT = {
    "json": "JSON schema",
    "regex": "regular expression",
    "choice": "choice list",
    "lark": "grammar",
}


def _llguidance(param: str) -> Any:  # noqa: ANN401 - the module
    try:
        import llguidance
    except ImportError:
        raise InvalidRequestError(
            f"structured output ('{param}') needs the llguidance package, which is not "
            f"installed: {EXTRA}",
            param=param,
            code="unsupported_parameter",
        ) from None
    return llguidance


def available() -> bool:
    """llguidance is installed (structured output can run)."""
    try:
        import llguidance  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=512)
def check_guide(guide: Guide) -> str:
    """The llguidance grammar of `guide`; InvalidRequestError (param = `guide.param`) when the
    schema, regex, choice list or grammar is invalid or llguidance is missing."""
    matcher = _llguidance(guide.param).LLMatcher
    try:
        grammar = _grammar(matcher, guide)
        error = matcher.validate_grammar(grammar)
    except InvalidRequestError:
        raise
    except Exception as e:  # llguidance refuses input it cannot even parse with an exception
        error = f"{type(e).__name__}: {e}"
    if error:
        raise InvalidRequestError(
            f"invalid {_WHAT[guide.kind]} in '{guide.param}': {error.strip()}",
            param=guide.param,
            code="invalid_value",
        )
    return grammar


def _grammar(matcher: Any, guide: Guide) -> str:  # noqa: ANN401
    if guide.kind == "json":
        return matcher.grammar_from_json_schema(guide.spec, defaults=JSON_STYLE)
    if guide.kind == "regex":
        return matcher.grammar_from_regex(guide.spec)
    if guide.kind == "lark":
        return matcher.grammar_from_lark(guide.spec)
    options = json.loads(guide.spec)
    if not options or not all(isinstance(o, str) and o for o in options):
        raise InvalidRequestError(
            f"'{guide.param}' must be a non-empty list of non-empty strings, got {options!r}",
            param=guide.param,
            code="invalid_value",
        )
    # Lark string literals take JSON's escapes, so json.dumps quotes any option safely
    return matcher.grammar_from_lark("start: " + " | ".join(json.dumps(o) for o in options))


class Constraint:
    """One request's grammar state: which tokens may come next, and advancing over each."""

    def __init__(self, matcher: Any, vocab_size: int, param: str):  # noqa: ANN401
        self._matcher, self.vocab_size, self.param = matcher, vocab_size, param

    def allowed_token_mask(self) -> torch.Tensor:
        """Bool `[vocab_size]`: True where the token keeps the output in the grammar (the
        end-of-sequence token only once the output is complete)."""
        bits = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
        self._raise_on_error()
        allowed = np.unpackbits(bits, bitorder="little")[: self.vocab_size].astype(bool)
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[: allowed.size] = torch.from_numpy(allowed)
        return mask

    def accept(self, token: int) -> bool:
        """Advance over `token`; False (and the constraint in error) when it does not fit."""
        return bool(self._matcher.consume_token(token))

    @property
    def is_finished(self) -> bool:
        """The output is complete: no token but end-of-sequence may follow."""
        return bool(self._matcher.is_stopped()) and not self._matcher.is_error()

    @property
    def is_accepting(self) -> bool:
        """The output so far is a complete match (it may still go on)."""
        return bool(self._matcher.is_accepting())

    @property
    def error(self) -> str | None:
        return self._matcher.get_error() or None

    def _raise_on_error(self) -> None:
        if self._matcher.is_error():
            raise InvalidRequestError(
                f"the '{self.param}' constraint failed: {self._matcher.get_error()}",
                param=self.param,
            )


class GrammarCompiler:
    """Builds a `Constraint` per request over one tokenizer's vocabulary."""

    def __init__(self, tokenizer: Any, vocab_size: int):  # noqa: ANN401 - an LLTokenizer
        self.tokenizer, self.vocab_size = tokenizer, vocab_size

    @classmethod
    def from_tokenizer(cls, hf_tokenizer: Any, vocab_size: int) -> GrammarCompiler | None:  # noqa: ANN401
        """Over a Hugging Face fast tokenizer; None when llguidance is not installed (a
        constrained request then gets a 400 naming the extra). `vocab_size` is the model's
        (logit rows); tokens past the tokenizer's vocabulary are never allowed."""
        if not available():
            return None
        import llguidance.hf

        return cls(llguidance.hf.from_tokenizer(hf_tokenizer), vocab_size)

    def constraint(self, guide: Guide) -> Constraint:
        llg = _llguidance(guide.param)
        matcher = llg.LLMatcher(self.tokenizer, check_guide(guide), log_level=0)
        if matcher.is_error():
            raise InvalidRequestError(
                f"invalid {_WHAT[guide.kind]} in '{guide.param}': {matcher.get_error()}",
                param=guide.param,
                code="invalid_value",
            )
        return Constraint(matcher, self.vocab_size, guide.param)
