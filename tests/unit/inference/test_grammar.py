"""Grammar-constrained decoding in the engine: constrained rows match their grammar, the
unconstrained rows of the same steps get exactly the tokens they get alone (and no grammar
work), and a complete grammar ends its request with "stop"."""

from __future__ import annotations

import json

import jsonschema
import pytest
from inference_helpers import random_prompts, tiny_model

from tunesmith.inference import Engine, InvalidRequestError, SamplingParams
from tunesmith.inference.grammar import Constraint, GrammarCompiler
from tunesmith.inference.guide import Guide
from tunesmith.tokenize.templates import load_tokenizer

EOS = 1
SCHEMA = {
    "type": "object",
    "properties": {
        "tag": {"enum": ["a", "bc"]},
        "n": {"type": "integer", "minimum": 0, "maximum": 99},
        "xs": {"type": "array", "items": {"type": "boolean"}, "maxItems": 2},
    },
    "required": ["tag", "n", "xs"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def tok():  # noqa: ANN201
    return load_tokenizer()


def _engine(tok, name: str = "tiny-qwen2", grammar: bool = True) -> Engine:  # noqa: ANN001
    model = tiny_model(name)
    compiler = GrammarCompiler.from_tokenizer(tok, model.config.vocab_size) if grammar else None
    return Engine(model, max_batch=8, grammar=compiler)


def _params(guide: Guide | None = None, **kw: object) -> SamplingParams:
    return SamplingParams(**{"max_tokens": 40, "stop_token_ids": [EOS], "guide": guide, **kw})


def test_unconstrained_rows_equal_a_run_without_constrained_neighbours(tok, monkeypatch) -> None:
    prompts = random_prompts(4, seed=5)
    free = [_params(seed=11, max_tokens=24), _params(temperature=0.0, max_tokens=24)]
    alone = _engine(tok).generate(prompts[:2], free)
    masks = []
    real = Constraint.allowed_token_mask
    monkeypatch.setattr(
        Constraint, "allowed_token_mask", lambda self: masks.append(self) or real(self)
    )
    guided = [_params(Guide.json_schema(SCHEMA), seed=3), _params(Guide.choice(["yes", "no"]))]
    mixed = _engine(tok).generate(
        [prompts[0], prompts[2], prompts[1], prompts[3]],
        [free[0], guided[0], free[1], guided[1]],
    )
    assert [o.token_ids for o in (mixed[0], mixed[2])] == [o.token_ids for o in alone]
    assert [o.finish_reason for o in alone] == ["length", "length"]
    jsonschema.validate(json.loads(tok.decode(mixed[1].token_ids)), SCHEMA)
    assert tok.decode(mixed[3].token_ids) in ("yes", "no")
    assert (mixed[1].finish_reason, mixed[3].finish_reason) == ("stop", "stop")
    # grammar work only for the constrained rows: one mask per token they sampled
    assert len(masks) == len(mixed[1].token_ids) + len(mixed[3].token_ids)


def test_the_mask_allows_exactly_the_tokens_that_keep_the_output_valid(tok) -> None:
    options = ["yes", "no"]
    c = GrammarCompiler.from_tokenizer(tok, 4096).constraint(Guide.choice(options))
    mask = c.allowed_token_mask()
    prefixes = {o[:i] for o in options for i in range(1, len(o) + 1)}
    expected = {t for t in range(len(tok)) if tok.decode([t]) in prefixes}
    assert set(mask.nonzero().flatten().tolist()) == expected and expected
    assert all(c.accept(t) for t in tok.encode("no", add_special_tokens=False))
    assert c.is_finished and c.is_accepting
    assert c.allowed_token_mask().nonzero().flatten().tolist() == [EOS]


def test_a_model_vocabulary_past_the_tokenizer_is_never_allowed(tok) -> None:
    c = GrammarCompiler.from_tokenizer(tok, 5000).constraint(Guide.regex("[a-z]+"))
    mask = c.allowed_token_mask()
    assert mask.shape == (5000,) and not mask[len(tok) :].any() and mask[: len(tok)].any()


def test_a_complete_grammar_stops_without_an_eos_token(tok) -> None:
    out = _engine(tok).generate(
        [[5, 6, 7]], _params(Guide.regex("ab?c"), temperature=0.0, max_tokens=30)
    )[0]
    assert tok.decode(out.token_ids) in ("ac", "abc")
    assert (out.finish_reason, out.stop_token_id) == ("stop", None)


def test_guided_requests_need_a_grammar_compiler_and_a_valid_guide(tok) -> None:
    engine = _engine(tok, grammar=False)
    with pytest.raises(InvalidRequestError, match="without a grammar compiler") as e:
        engine.add_request("r", [5, 6], _params(Guide.regex("a+")))
    assert e.value.param == "guided_regex"
    with pytest.raises(InvalidRequestError, match="invalid JSON schema") as e:
        _engine(tok).add_request("r", [5, 6], _params(Guide.json_schema({"type": 3}, "x")))
    assert (e.value.param, e.value.code) == ("x", "invalid_value")
