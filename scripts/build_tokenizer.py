# .venv/bin/python scripts/build_tokenizer.py  [--out src/tunesmith/assets/tokenizer] [--seed 0]
"""Train the byte-level BPE tokenizer tunesmith ships, on a synthetic corpus made here.

The corpus (about 2 MB, seeded, no downloads) mixes English-like sentences from a built-in word
list, numbers and arithmetic, punctuation, code- and JSON-like text and chat-style Q&A rendered
in the DeepSeek-R1 format. Digits are split one per token before the byte-level step, so numbers
tokenize digit by digit. Vocabulary: 4096 ids, the DeepSeek-R1 special tokens first (bos 0,
eos 1, pad 2, <｜User｜> 3, <｜Assistant｜> 4, <think> 5, </think> 6).

Output: tokenizer.json + tokenizer_config.json (chat template inside), loadable offline with
`transformers.AutoTokenizer.from_pretrained(dir)`. Same seed, same files.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from tunesmith.records import Conversation, Message
from tunesmith.tokenize.templates import (
    BOS,
    CHAT_TEMPLATE,
    EOS,
    PAD,
    SKIPPED_ON_DECODE,
    SPECIAL_TOKENS,
    render,
)

VOCAB_SIZE = 4096
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "tunesmith" / "assets" / "tokenizer"

OUTPUT_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)

_WORDS_TEXT = """
the of and to in is was for that with as on by at from it be this are or an have not which but
had were has all their one can more will been there if when would they who what about so out up
into time only other some could its new than two first like then after these also any may most
over such where many through back years way well because even good very just how people work
life water world place day number part house system group problem fact hand point child state
family school student country week company month question answer right study book story night
example word home area money power game line end member law car city name team idea body
information face level office door health person art war history party result change morning
reason research girl guy moment air teacher force education model data train test loss value
step token layer weight learning rate batch size memory speed network input output cache make
know take see come think look want give use find tell ask seem feel try leave call keep start
show hear play run move live believe bring happen write provide sit stand lose pay meet include
continue set learn lead understand watch follow stop create speak read allow add spend grow open
walk win offer remember love consider appear buy wait serve die send expect build stay fall cut
reach kill remain suggest raise pass sell require report decide pull explain small large long
great little old big high different early young important few public bad same able late hard
major better economic strong possible whole free military true federal clear recent certain
personal open red difficult available likely short single medical current wrong private past
foreign fine common poor natural significant similar hot dead central happy serious ready simple
left physical general environmental financial blue democratic dark various entire close legal
religious cold final main green nice huge popular traditional cultural quickly slowly often
never always sometimes usually really almost already still again here today together however
therefore although while before since until unless whether every each
"""
WORDS = _WORDS_TEXT.split()

# Whitespace-separated word lists (kept as text: one word per line would bury the script).
_NAMES = "Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy"
_UNICODE = "café naïve résumé façade Zürich São Paulo Ελλάδα Москва 東京 北京 서울 😀 ✓ → € £ ¥ ∑ π"
_PUNCT = ". . . ! ? ; : ..."
_SUFFIXES = "s ed ing er ly ness ment tion able ful less est"
_PREFIXES = "un re pre over under non co sub inter mis"
_SYLLABLES = "ka lo mi ra ten vor shi qua ble dro fen gal hu jin pel sor tra wex yul zan"
_IDENTS = "x y i n total count items result value data config path name index key size"
NAMES, UNICODE, PUNCT = _NAMES.split(), _UNICODE.split(), _PUNCT.split()
SUFFIXES, PREFIXES, SYLLABLES, IDENTS = (
    _SUFFIXES.split(),
    _PREFIXES.split(),
    _SYLLABLES.split(),
    _IDENTS.split(),
)


def word(rng: random.Random) -> str:
    """A list word, sometimes inflected or made up, so the vocabulary has enough to learn."""
    r = rng.random()
    if r < 0.6:
        return rng.choice(WORDS)
    if r < 0.8:
        return rng.choice(WORDS) + rng.choice(SUFFIXES)
    if r < 0.9:
        return rng.choice(PREFIXES) + rng.choice(WORDS)
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def sentence(rng: random.Random) -> str:
    words = [word(rng) for _ in range(rng.randint(4, 16))]
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words)), rng.choice(NAMES))
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words)), rng.choice(UNICODE))
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words)), str(rng.randint(0, 10_000)))
    if len(words) > 6 and rng.random() < 0.3:
        words[rng.randrange(1, len(words) - 1)] += ","
    text = " ".join(words)
    if rng.random() < 0.1:
        text = f'"{text}"'
    return text[0].upper() + text[1:] + rng.choice(PUNCT)


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))


def arithmetic(rng: random.Random) -> str:
    a, b = rng.randint(0, 9999), rng.randint(0, 9999)
    op = rng.choice(["+", "-", "*"])
    result = {"+": a + b, "-": a - b, "*": a * b}[op]
    forms = [
        f"{a} {op} {b} = {result}",
        f"What is {a} {op} {b}? {result}",
        f"{a}{op}{b}={result}",
        f"{rng.uniform(0, 1000):.{rng.randint(1, 4)}f}",
        f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1990, 2030)}",
        f"{rng.randint(0, 100)}% of {rng.randint(1, 500)} items",
    ]
    return rng.choice(forms)


def code(rng: random.Random) -> str:
    name = f"{rng.choice(WORDS)}_{rng.choice(IDENTS)}"
    a, b = rng.sample(IDENTS, 2)
    body = rng.choice(
        [
            f"    return {a} + {b}",
            f"    for {a} in range({rng.randint(1, 100)}):\n        {b} += {a}\n    return {b}",
            f"    if {a} > {rng.randint(0, 50)}:\n        return {b}\n    return None",
            f'    print(f"{{{a}}}: {{{b}}}")',
        ]
    )
    return f"def {name}({a}, {b}):\n{body}\n"


def json_like(rng: random.Random) -> str:
    record = {
        rng.choice(IDENTS): rng.randint(0, 1000),
        "name": rng.choice(NAMES),
        "tags": rng.sample(WORDS, rng.randint(1, 3)),
        "ok": rng.random() < 0.5,
        "score": round(rng.random(), 3),
    }
    return json.dumps(record, ensure_ascii=rng.random() < 0.5)


def chat(rng: random.Random) -> str:
    messages = []
    if rng.random() < 0.3:
        messages.append(Message("system", "You are a helpful assistant."))
    for _ in range(rng.randint(1, 2)):
        question = rng.choice([sentence(rng), arithmetic(rng), "Write a function. " + code(rng)])
        reasoning = paragraph(rng) if rng.random() < 0.4 else None
        answer = rng.choice([paragraph(rng), arithmetic(rng), code(rng), json_like(rng)])
        messages += [Message("user", question), Message("assistant", answer, reasoning)]
    return render(Conversation(messages=messages))


def corpus(seed: int, n_docs: int) -> Iterator[str]:
    rng = random.Random(seed)
    makers = [paragraph] * 5 + [arithmetic] * 2 + [code, json_like] + [chat] * 2
    for _ in range(n_docs):
        yield rng.choice(makers)(rng)


def train(seed: int, n_docs: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=[AddedToken(t, normalized=False) for t in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(seed, n_docs), trainer=trainer, length=n_docs)
    # The trainer adds every special as special=True; like DeepSeek-R1, only bos/eos/pad are
    # special (dropped by skip_special_tokens), the role markers and <think> tags are not.
    spec = json.loads(tok.to_str())
    for added in spec["added_tokens"]:
        added["special"] = added["content"] in SKIPPED_ON_DECODE
    return Tokenizer.from_str(json.dumps(spec))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--docs", type=int, default=12_000, help="corpus documents")
    args = parser.parse_args()

    backend = train(args.seed, args.docs)
    assert backend.get_vocab_size() == VOCAB_SIZE, backend.get_vocab_size()
    for i, t in enumerate(SPECIAL_TOKENS):
        assert backend.token_to_id(t) == i, (t, backend.token_to_id(t))

    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        add_bos_token=True,
        add_eos_token=False,
        clean_up_tokenization_spaces=False,
        chat_template=CHAT_TEMPLATE,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:  # leave no stale file from an older build
        (args.out / name).unlink(missing_ok=True)
    tok.save_pretrained(args.out, save_jinja_files=False)
    for f in sorted(args.out.iterdir()):
        print(f"{f.stat().st_size:>9,d}  {f}")


if __name__ == "__main__":
    main()
