"""Preference formats: each detected and read alike; bad and mixed records name file:line."""

from __future__ import annotations

import json

import pytest

from helpers import write_jsonl
from tunesmith.data.preference import load_preference
from tunesmith.errors import DataError
from tunesmith.tokenize import load_tokenizer
from tunesmith.tokenize.packing import IGNORE
from tunesmith.tokenize.preference import encode_records

THINK = "<think>\nThe tag of war is single.\n</think>\n\nsingle"
SAME = [
    {"prompt": "Tag of war?", "chosen": THINK, "rejected": "big", "system": "Be brief."},
    {
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Tag of war?"}],
        "chosen": {"role": "assistant", "content": THINK},
        "rejected": [{"role": "assistant", "content": "big"}],
    },
    {
        "chosen": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tag of war?"},
                   {"role": "assistant", "content": THINK}],
        "rejected": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tag of war?"},
                     {"role": "assistant", "content": "big"}],
    },
    {
        "conversations": [{"from": "human", "value": "Tag of war?"}], "system": "Be brief.",
        "chosen": {"from": "gpt", "value": THINK}, "rejected": {"from": "gpt", "value": "big"},
    },
]  # fmt: skip


def test_every_paired_format_reads_the_same_pair(tmp_path):
    data = load_preference([write_jsonl(tmp_path / "p.jsonl", SAME)])
    assert data.formats == {"pair": 1, "pair_messages": 1, "pair_implicit": 1, "pair_sharegpt": 1}
    first = data.records[0]
    assert (
        first.chosen.reasoning == "The tag of war is single." and first.chosen.content == "single"
    )
    for rec in data.records[1:]:
        assert (rec.prompt, rec.chosen, rec.rejected) == (
            first.prompt,
            first.chosen,
            first.rejected,
        )
    tok = load_tokenizer()
    items = encode_records(tok, data.records, 128)
    chosen = items[0].sequences[0]
    assert all(i.sequences[0].input_ids == chosen.input_ids for i in items)
    scored = [t for t in chosen.targets if t != IGNORE]
    # exactly the last assistant turn is scored: its <think> block, the answer and the eos
    assert tok.decode(scored) == THINK.replace("\n\nsingle", "\n\nsingle") + "<｜end▁of▁sentence｜>"
    prompt = tok.decode(chosen.input_ids[: len(chosen.input_ids) - len(scored)])
    assert prompt == "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Tag of war?<｜Assistant｜>"


def test_kto_records_and_multi_turn_prompt(tmp_path):
    rows = [
        {"prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "c"}], "completion": "d", "label": True},
        {"prompt": "e", "completion": "f", "label": False},
    ]  # fmt: skip
    data = load_preference([write_jsonl(tmp_path / "k.jsonl", rows)])
    assert [r.desirable for r in data.records] == [True, False] and not data.paired
    tok = load_tokenizer()
    items = encode_records(tok, data.records, 64)
    first, kl = items[0].sequences
    assert tok.decode([t for t in first.targets if t != IGNORE]) == "d<｜end▁of▁sentence｜>"
    # history assistant turn ("b") is in the prompt, never scored
    assert "b" in tok.decode(first.input_ids) and first.n_targets == 2
    # the KL sequence: this prompt with the previous record's completion ("f", wrapping)
    assert tok.decode([t for t in kl.targets if t != IGNORE]) == "f<｜end▁of▁sentence｜>"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "q", "chosen": "a"}, "p.jsonl:2: field 'rejected': missing required field"),
        ({"prompt": "q", "chosen": "a", "rejected": 3}, "field 'rejected': wrong type: got int"),
        ({"prompt": "q", "completion": "a", "label": "yes"}, "p.jsonl:2: field 'label': wrong type"),
        ({"prompt": "q", "completion": "a", "label": True}, "p.jsonl:2: a unpaired (kto) record after paired records (first at"),
        ({"chosen": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}],
          "rejected": [{"role": "user", "content": "y"}, {"role": "assistant", "content": "b"}]},
         "field 'rejected': chosen and rejected differ before their last turn"),
        ({"messages": [{"role": "user", "content": "q"}], "chosen": {"role": "user", "content": "a"},
          "rejected": "b"}, "field 'chosen': the answer is a 'user' turn"),
    ],
)  # fmt: skip
def test_bad_records_name_file_line_and_field(tmp_path, row, message):
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n" + json.dumps(row) + "\n"
    )
    with pytest.raises(DataError) as err:
        load_preference([path])
    assert message in str(err.value)
    skipped = load_preference([path], on_error="skip")
    assert (skipped.records_in, len(skipped.records), skipped.rejected) == (2, 1, 1)
