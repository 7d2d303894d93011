"""Typed settings of `tunesmith data prepare`: one dataclass per pipeline step.

Field metadata is the one `tunesmith.config` understands (help, choices, min, max, gt), so values
are checked by the same code as training configs. Defaults and where they come from are listed
in docs/data-prepare.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tunesmith.config.schema import opt
from tunesmith.data.limits import MAX_RECORD_CHARS

FORMATS = ["auto", "alpaca", "messages", "sharegpt", "cqa", "text"]
PII_KINDS = ["email", "phone", "ip_address", "credit_card"]


@dataclass
class InputOptions:
    paths: list[str] = opt([], "input files or directories (jsonl, json, csv, parquet, arrow)")
    format: str = opt("auto", "record format", choices=FORMATS)
    on_error: str = opt(
        "skip",
        "bad record: file it in rejects.jsonl with its reason and go on, or stop with an error",
        choices=["skip", "raise"],
    )
    max_reject_fraction: float = opt(
        0.2,
        "with on_error=skip, stop when more than this share of the records read is bad "
        "(a file that is mostly bad is probably the wrong file); 1: never",
        min=0.0,
        max=1.0,
    )
    system_prompt: str | None = opt(None, "system prompt added to conversations that have none")
    max_record_chars: int = opt(
        MAX_RECORD_CHARS, "a record with more characters (all turns) is bad input", min=1
    )


@dataclass
class OutputOptions:
    dir: str = opt("", "output directory (train.jsonl, rejects.jsonl, report.json, ...)")
    format: str = opt(
        "jsonl", "format of the train / validation / test files", choices=["jsonl", "parquet"]
    )
    overwrite: bool = opt(False, "allow writing into a non-empty output directory")
    allow_empty: bool = opt(
        False,
        "accept an input file without records, or no record left at the end, with a warning "
        "(else an error)",
    )
    progress: bool = opt(True, "show progress")


@dataclass
class ExactDedupeOptions:
    lowercase: bool = opt(True, "compare case-insensitively (whitespace runs always count as one)")


@dataclass
class NearDedupeOptions:
    ngram: int = opt(5, "words per shingle", min=1, max=64)
    num_perm: int = opt(128, "MinHash permutations", min=2, max=1024)
    threshold: float = opt(
        0.8, "Jaccard similarity from which two records are duplicates", gt=0.0, max=1.0
    )
    bands: int | None = opt(None, "LSH bands; null: derived from threshold and num_perm", min=1)
    rows: int | None = opt(None, "LSH rows per band; null: derived", min=1)
    verify: bool = opt(True, "re-check LSH candidates with the true Jaccard of their shingles")
    seed: int = opt(1, "seed of the MinHash permutations")
    processes: int = opt(0, "hashing processes; 0: one per CPU", min=0)


@dataclass
class QualityOptions:
    min_chars: int = opt(1, "fewest characters in a record (all turns)", min=0)
    max_chars: int = opt(100_000, "most characters in a record (all turns)", min=1)
    min_tokens: int = opt(0, "fewest tokens of the rendered record", min=0)
    max_tokens: int | None = opt(None, "most tokens of the rendered record; null: no limit", min=1)
    tokenizer: str | None = opt(None, "tokenizer directory for token counts; null: shipped one")
    min_answer_alnum: int = opt(
        1, "fewest letters or digits in every assistant answer (else: empty_answer)", min=0
    )
    gopher_min_words: int = opt(
        50, "texts with fewer words skip the ratio checks below (Gopher's min_doc_words)", min=0
    )
    max_dup_line_frac: float = opt(0.3, "duplicate lines / lines", min=0.0, max=1.0)
    max_dup_para_frac: float = opt(0.3, "duplicate paragraphs / paragraphs", min=0.0, max=1.0)
    max_dup_line_char_frac: float = opt(0.2, "chars in duplicate lines / chars", min=0.0, max=1.0)
    max_dup_para_char_frac: float = opt(
        0.2, "chars in duplicate paragraphs / chars", min=0.0, max=1.0
    )
    max_top_ngram_frac: list[float] = opt(
        [0.2, 0.18, 0.16], "chars in the most frequent 2-, 3-, 4-gram / chars"
    )
    max_dup_ngram_frac: list[float] = opt(
        [0.15, 0.14, 0.13, 0.12, 0.11, 0.10], "chars in repeated 5- .. 10-grams / chars"
    )
    max_symbol_word_ratio: float = opt(0.1, "('#' + ellipses) / words", min=0.0)
    min_alpha_word_frac: float = opt(0.8, "words with a letter / words", min=0.0, max=1.0)


@dataclass
class PiiOptions:
    kinds: list[str] = opt(list(PII_KINDS), "what to find: " + ", ".join(PII_KINDS))
    action: str = opt(
        "scrub", "replace each finding with <KIND>, or drop the record", choices=["scrub", "drop"]
    )


@dataclass
class DecontamOptions:
    eval: list[str] = opt([], "evaluation files whose n-grams must not appear in training data")
    ngram: int = opt(13, "words per n-gram", min=1, max=64)
    format: str = opt("auto", "record format of the eval files", choices=FORMATS)


@dataclass
class BalanceOptions:
    field: str = opt("", "top-level record field holding the class (label, domain, ...)")
    mode: str = opt(
        "cap",
        "undersample to the smallest class, oversample to the largest, or cap each class at `cap`",
        choices=["undersample", "oversample", "cap"],
    )
    cap: int | None = opt(None, "most records per class (mode cap)", min=1)
    missing: str = opt(
        "drop",
        "records without the field: drop them or keep them as one class",
        choices=["drop", "keep"],
    )
    seed: int = opt(0, "seed of the sampling")


@dataclass
class TemplateOptions:
    file: str = opt("", "YAML file with `slots` and `templates` (see docs/data-prepare.md)")
    max_per_template: int = opt(100, "most records made from one template", min=1)
    seed: int = opt(0, "seed of the slot combinations drawn when there are more")


@dataclass
class SynonymOptions:
    fraction: float = opt(0.1, "share of records that get an augmented copy", min=0.0, max=1.0)
    word_prob: float = opt(0.1, "chance each word with synonyms is replaced", gt=0.0, max=1.0)
    roles: list[str] = opt(["user"], "turns to rewrite (user, assistant, system, text)")
    source: str = opt(
        "auto",
        "synonym table: the shipped one, WordNet, or WordNet when installed",
        choices=["auto", "builtin", "wordnet"],
    )
    seed: int = opt(0, "seed of record and word choice")


@dataclass
class ParaphraseOptions:
    endpoint: str = opt("", "base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1")
    model: str = opt("default", "model name sent with each request")
    api_key_env: str | None = opt(None, "environment variable holding the API key, if any")
    mode: str = opt(
        "paraphrase",
        "rewrite directly, or translate to `pivot` and back",
        choices=["paraphrase", "back_translate"],
    )
    pivot: str = opt("French", "pivot language of back-translation")
    language: str = opt("English", "language back-translation returns to")
    fraction: float = opt(0.1, "share of records that get an augmented copy", min=0.0, max=1.0)
    roles: list[str] = opt(["user"], "turns to rewrite (user, assistant, system, text)")
    temperature: float = opt(0.7, "sampling temperature", min=0.0)
    max_tokens: int = opt(512, "completion budget per request", min=1)
    timeout: float = opt(60.0, "seconds per request", gt=0.0)
    retries: int = opt(2, "retries of a failed request", min=0)
    concurrency: int = opt(4, "requests in flight", min=1)
    seed: int = opt(0, "seed of record choice")


@dataclass
class SplitOptions:
    validation: float = opt(0.05, "share of records in validation.jsonl", min=0.0, max=0.9)
    test: float = opt(0.05, "share of records in test.jsonl", min=0.0, max=0.9)
    stratify: str | None = opt(None, "top-level field whose classes keep their shares per split")
    seed: int = opt(0, "seed of the assignment")


STEPS: dict[str, type] = {
    "exact_dedupe": ExactDedupeOptions,
    "near_dedupe": NearDedupeOptions,
    "quality": QualityOptions,
    "pii": PiiOptions,
    "decontam": DecontamOptions,
    "balance": BalanceOptions,
    "augment_templates": TemplateOptions,
    "augment_synonyms": SynonymOptions,
    "augment_paraphrase": ParaphraseOptions,
    "split": SplitOptions,
}
"""Step name -> its options; the pipeline runs the steps a config lists, in its order."""

DEFAULT_STEPS = ["exact_dedupe", "near_dedupe", "quality", "pii", "split"]


@dataclass
class StepSpec:
    name: str
    options: object
    line: int | None = None
    """Line of the step in the YAML file, for messages."""


@dataclass
class PrepareConfig:
    input: InputOptions = field(default_factory=InputOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    steps: list[StepSpec] = field(
        default_factory=lambda: [StepSpec(n, STEPS[n]()) for n in DEFAULT_STEPS]
    )

    def step(self, name: str) -> StepSpec | None:
        return next((s for s in self.steps if s.name == name), None)
