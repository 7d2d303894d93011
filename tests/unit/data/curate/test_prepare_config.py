"""`data prepare` config: YAML steps, overrides, and one-line errors naming key, file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.data.curate.config import format_prepare_help, load_prepare_config
from tunesmith.data.curate.options import DEFAULT_STEPS, STEPS
from tunesmith.errors import ConfigError

YAML = """\
input:
  paths: [raw.jsonl]
  on_error: skip
output:
  dir: out
steps:
  - exact_dedupe
  - near_dedupe:
      threshold: 0.85
      num_perm: 64
  - quality: {max_chars: 5000}
  - balance:
      field: label
      mode: cap
      cap: 3
  - split
"""


@pytest.fixture
def cfg_file(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    Path("prep.yaml").write_text(YAML)
    return Path("prep.yaml")


def test_yaml_lists_steps_in_order_with_their_settings(cfg_file):
    cfg = load_prepare_config(cfg_file)
    assert [s.name for s in cfg.steps] == [
        "exact_dedupe",
        "near_dedupe",
        "quality",
        "balance",
        "split",
    ]
    assert [s.line for s in cfg.steps] == [7, 8, 11, 12, 16]
    near = cfg.step("near_dedupe").options
    assert (near.threshold, near.num_perm, near.ngram) == (0.85, 64, 5)
    assert cfg.step("quality").options.max_chars == 5000
    assert cfg.input.paths == ["raw.jsonl"] and cfg.input.on_error == "skip"


def test_overrides_set_step_settings_sections_and_the_step_list(cfg_file):
    cfg = load_prepare_config(
        cfg_file,
        ["steps.near_dedupe.threshold=0.9", "output.format=parquet", "steps.split={test: 0.2}"],
        inputs=["a.jsonl", "b.csv"],
        output="elsewhere",
    )
    assert cfg.step("near_dedupe").options.threshold == 0.9
    assert cfg.step("split").options.test == 0.2 and cfg.step("split").options.validation == 0.05
    assert cfg.output.format == "parquet" and cfg.output.dir == "elsewhere"
    assert cfg.input.paths == ["a.jsonl", "b.csv"]
    cfg = load_prepare_config(cfg_file, ["steps=[pii, {split: {seed: 3}}]"])
    assert [s.name for s in cfg.steps] == ["pii", "split"] and cfg.step("split").options.seed == 3


def test_without_a_config_the_default_pipeline_runs():
    cfg = load_prepare_config(None, inputs=["raw.jsonl"], output="out")
    assert [s.name for s in cfg.steps] == DEFAULT_STEPS
    assert DEFAULT_STEPS == ["exact_dedupe", "near_dedupe", "quality", "pii", "split"]


@pytest.mark.parametrize(
    ("yaml_text", "overrides", "message"),
    [
        (
            YAML.replace("  - near_dedupe:", "  - near_dedup:"),
            [],
            "unknown step 'near_dedup' (in prep.yaml, line 8); did you mean 'near_dedupe'? "
            "(steps: " + ", ".join(STEPS) + ")",
        ),
        (
            YAML.replace("  - exact_dedupe", "  - validate"),
            [],
            "unknown step 'validate' (in prep.yaml, line 7); reading always validates and "
            "normalises records (settings under 'input') (steps: " + ", ".join(STEPS) + ")",
        ),
        (
            YAML.replace("threshold: 0.85", "treshold: 0.85"),
            [],
            "unknown config key 'steps.near_dedupe.treshold' (in prep.yaml, line 9); "
            "did you mean 'steps.near_dedupe.threshold'?",
        ),
        (
            YAML.replace("num_perm: 64", "num_perm: many"),
            [],
            "steps.near_dedupe.num_perm: expected an integer, got 'many' (str) "
            "(in prep.yaml, line 10)",
        ),
        (
            YAML.replace("output:", "outptu:"),
            [],
            "unknown config key 'outptu' (in prep.yaml, line 4); did you mean 'output'?",
        ),
        (
            YAML + "  - quality\n",
            [],
            "steps: step 'quality' is listed twice (in prep.yaml, line 17); list each step once",
        ),
        (
            YAML.replace("  - split\n", "").replace("  - exact_dedupe\n", "  - split\n"),
            [],
            "steps: 'split' must be the last step (it is step 1 of 4)",
        ),
        (
            YAML,
            ["steps.pii.action=drop"],
            "steps.pii.action: step 'pii' is not in the pipeline (in override 'steps.pii.action=drop') "
            "(steps: exact_dedupe, near_dedupe, quality, balance, split)",
        ),
        (
            YAML,
            ["steps.near_dedupe.threshold=1.5"],
            "steps.near_dedupe.threshold: must be <= 1, got 1.5 "
            "(in override 'steps.near_dedupe.threshold=1.5')",
        ),
        (
            YAML.replace("      cap: 3\n", ""),
            [],
            "steps.balance.cap: mode 'cap' needs a cap (expected an integer >= 1)",
        ),
        (
            YAML.replace("mode: cap", "mode: oversample"),
            [],
            "steps.balance.cap=3 has no effect with mode 'oversample'; set mode: cap or remove cap",
        ),
        (
            YAML,
            ["steps=[decontam]"],
            "steps.decontam.eval: no eval files (expected a list of files)",
        ),
        (
            YAML,
            ["steps=[{split: {validation: 0.5, test: 0.5}}]"],
            "steps.split: validation + test = 1 (expected less than 1)",
        ),
        (
            YAML,
            ["steps=[{pii: {kinds: [email, ssn]}}]"],
            "steps.pii.kinds: unknown ['ssn']; valid: email, phone, ip_address, credit_card",
        ),
        (
            YAML.replace("  - exact_dedupe", "  - [exact_dedupe]"),
            [],
            "steps[0]: expected a step name or {name: {settings}}, got ['exact_dedupe'] (list) "
            "(in prep.yaml, line 7)",
        ),
        (
            YAML.replace("  paths: [raw.jsonl]\n", ""),
            [],
            "input.paths: no input files (give --input FILE or set input.paths)",
        ),
    ],
)
def test_config_errors_name_key_file_and_line(cfg_file, yaml_text, overrides, message):
    cfg_file.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_prepare_config(cfg_file, overrides)
    assert str(err.value) == message


def test_help_lists_every_setting_of_every_step():
    text = format_prepare_help()
    for name, cls in STEPS.items():
        for field in cls.__dataclass_fields__:
            assert f"steps.{name}.{field} " in text
    assert "input.on_error" in text and "output.format" in text
