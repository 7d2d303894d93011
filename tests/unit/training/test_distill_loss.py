"""The distillation term: the formula on target positions only, packed rows like separate
samples, token-weighted accumulation, a frozen teacher, and its settings' errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from transformers import AutoModelForCausalLM

from helpers import encoded_samples
from tunesmith.config import load_config
from tunesmith.config.schema import ModelConfig
from tunesmith.errors import ConfigError
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.models.registry import PRESETS
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.tokenize.packing import IGNORE
from tunesmith.training.distill import Distiller, check_distill, load_teacher
from tunesmith.training.loss import accumulate_gradients


@pytest.fixture(scope="module")
def pair():
    """A tiny Qwen2 student and a tiny Llama teacher (random, one vocabulary), and samples."""
    student, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    teacher, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-llama"), seed=1)
    teacher.eval().requires_grad_(False)
    return student, teacher, tok, encoded_samples(tok, 6)


def manual_kd(student, teacher, samples, t: float) -> float:
    """T^2 x sum of KL(teacher || student) over target positions, one sample at a time."""
    total = 0.0
    with torch.no_grad():
        for s in samples:
            ids = torch.tensor([s.input_ids])
            keep = torch.tensor(s.targets) != IGNORE
            p = F.softmax(teacher(input_ids=ids).logits[0, keep] / t, dim=-1)
            q = F.softmax(student(input_ids=ids).logits[0, keep] / t, dim=-1)
            total += float((p * (p.log() - q.log())).sum()) * t * t
    return total


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_kd_term_is_the_formula_on_targets_and_packing_changes_nothing(pair, temperature):
    student, teacher, tok, samples = pair
    distiller = Distiller(teacher, alpha=0.5, temperature=temperature, vocab=len(tok))
    want = manual_kd(student, teacher, samples, temperature)
    for batch in (collate_packed(samples), collate_padded(samples, tok.pad_token_id)):
        with torch.no_grad():
            logits = student(**{k: v for k, v in batch.items() if k != "targets"}).logits
        got = float(distiller.kd_sum(logits, batch))
        assert got == pytest.approx(want, rel=1e-4)
    assert want > 1.0  # two random models disagree


def test_prompt_positions_do_not_count(pair):
    student, teacher, tok, samples = pair
    distiller = Distiller(teacher, alpha=0.5, temperature=2.0, vocab=len(tok))
    batch = collate_packed(samples)
    with torch.no_grad():
        logits = student(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
    full = float(distiller.kd_sum(logits, batch))
    first = len(samples[0].input_ids)
    masked = dict(batch, targets=batch["targets"].clone())
    masked["targets"][0, :first] = IGNORE  # the first sample no longer trains
    rest = float(distiller.kd_sum(logits, masked))
    alone = manual_kd(student, teacher, samples[:1], 2.0)
    assert full - rest == pytest.approx(alone, rel=1e-4)


def grads(model, window, distill):
    model.zero_grad(set_to_none=True)
    step = accumulate_gradients(Accelerator(cpu=True), model, window, distill)
    flat = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return step, flat


def test_accumulation_is_token_weighted_with_the_teacher_term(pair):
    student, teacher, tok, samples = pair
    distill = Distiller(teacher, alpha=0.7, temperature=2.0, vocab=len(tok))
    one, g_one = grads(student, [collate_packed(samples)], distill)
    window = [
        collate_packed(samples[:1]),
        collate_padded(samples[1:4], tok.pad_token_id),
        collate_packed(samples[4:]),
    ]
    split, g_split = grads(student, window, distill)
    n = sum(s.n_targets for s in samples)
    assert one.kd_loss == pytest.approx(manual_kd(student, teacher, samples, 2.0) / n, rel=1e-4)
    assert split.kd_loss == pytest.approx(one.kd_loss, rel=1e-5)
    assert split.loss == pytest.approx(one.loss, rel=1e-5)
    assert torch.allclose(g_split, g_one, rtol=1e-4, atol=1e-7)
    assert all(p.grad is None for p in teacher.parameters())


def test_alpha_zero_is_plain_cross_entropy_and_alpha_one_ignores_labels(pair):
    student, teacher, tok, samples = pair
    window = [collate_packed(samples)]
    plain, g_plain = grads(student, window, None)
    zero, g_zero = grads(student, window, Distiller(teacher, 0.0, 2.0, len(tok)))
    assert plain.kd_loss is None and zero.kd_loss > 0 and zero.loss == plain.loss
    assert torch.allclose(g_zero, g_plain, rtol=1e-5, atol=1e-8)
    # alpha 1: the gradient is the KD term's alone, whatever the labels say
    only, g_only = grads(student, window, Distiller(teacher, 1.0, 2.0, len(tok)))
    relabeled = [dict(window[0], targets=window[0]["targets"].clone())]
    keep = relabeled[0]["targets"] != IGNORE
    relabeled[0]["targets"][keep] = 7
    _, g_relabeled = grads(student, relabeled, Distiller(teacher, 1.0, 2.0, len(tok)))
    assert torch.allclose(g_relabeled, g_only, rtol=1e-5, atol=1e-8)
    assert not torch.allclose(g_only, g_plain, rtol=1e-2)


def test_teacher_from_a_directory_is_frozen_and_in_eval_mode(tmp_path, pair):
    _, _, tok, samples = pair
    torch.manual_seed(3)
    AutoModelForCausalLM.from_config(PRESETS["tiny-llama"].config()).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    cfg = load_config(None, [f"distill.teacher={tmp_path}", "recipe=distill"])
    student, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    distill = Distiller.from_config(cfg, tok)
    student.train()
    step, _ = grads(student, [collate_packed(samples)], distill)
    assert not distill.teacher.training and student.training
    assert not any(p.requires_grad or p.grad is not None for p in distill.teacher.parameters())
    assert step.kd_loss > 0


def test_release_one_distill_spelling_loads_as_the_distill_recipe(tmp_path):
    """method.name=distill (+ method.distill.*) still loads: recipe=distill, the student's
    method as method.name, the teacher settings under distill."""
    new = load_config(
        None, ["recipe=distill", "distill.teacher=t", "method.name=lora", "distill.alpha=0.3"]
    )
    for overrides in (
        ["method.distill.student=lora", "method.name=distill", "method.distill.teacher=t"],
        ["method.name=distill", "method.distill.teacher=t", "method.distill.student=lora"],
    ):
        old = load_config(None, [*overrides, "method.distill.alpha=0.3"])
        assert old == new
    path = tmp_path / "old.yaml"
    path.write_text(
        "method:\n  name: distill\n  distill: {teacher: t, student: lora, alpha: 0.3}\n"
    )
    assert load_config(path) == new
    # a release-1 run's config.yaml holds method.distill even for LoRA runs: ignored
    path.write_text("method:\n  name: dora\n  distill: {teacher: null, student: full}\n")
    cfg = load_config(path)
    assert (cfg.recipe, cfg.method.name, cfg.distill.teacher) == ("sft", "dora", None)
    # the student defaults to full, as method.distill.student did
    cfg = load_config(None, ["method.name=distill", "method.distill.teacher=t"])
    assert (cfg.recipe, cfg.method.name) == ("distill", "full")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["recipe=distill"],
            "distill.teacher: recipe=distill needs a teacher (a model directory, "
            "a tunesmith run directory, or tiny-deepseek-v3-base)",
        ),
        (
            ["recipe=sft", "distill.teacher=runs/t"],
            "distill.teacher is set but recipe is sft; set recipe=distill "
            "to distil, or remove the teacher",
        ),
        (
            ["recipe=distill", "distill.teacher=runs/t", "method.name=prefix"],
            "method.name: recipe=distill trains the student with full, lora, dora, freeze; "
            "got prefix",
        ),
    ],
)
def test_teacher_settings_are_checked_before_loading(overrides, message):
    with pytest.raises(ConfigError) as e:
        check_distill(load_config(None, overrides))
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "distill.alpha=1.5",
            "distill.alpha: must be <= 1, got 1.5 (in override 'distill.alpha=1.5')",
        ),
        (
            "distill.temperature=0",
            "distill.temperature: must be > 0, got 0 (in override 'distill.temperature=0')",
        ),
        (
            "recipe=dpo",
            "recipe: 'dpo' is not one of sft, distill, preference, grpo (in override 'recipe=dpo')",
        ),
    ],
)
def test_distill_values_are_validated(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert str(e.value) == message


def test_bad_teachers_are_named(tmp_path, pair):
    _, _, tok, _ = pair

    def error(teacher: str) -> str:
        cfg = load_config(None, ["recipe=distill", f"distill.teacher={teacher}"])
        with pytest.raises(ConfigError) as e:
            load_teacher(cfg, tok)
        return str(e.value)

    assert error("tiny-llama") == (
        "distill.teacher: 'tiny-llama' is a random-init preset; a teacher needs "
        "trained weights (a model directory, a tunesmith run directory, or "
        "tiny-deepseek-v3-base)"
    )
    missing = tmp_path / "missing"
    assert error(str(missing)).startswith(f"distill.teacher: '{missing}' is neither a preset")
    # another vocabulary: one token more, saved with a model that has rows for it
    other = tmp_path / "other"
    config = PRESETS["tiny-llama"].config()
    config.vocab_size = len(tok) + 4
    AutoModelForCausalLM.from_config(config).save_pretrained(other)
    bigger = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"))[1]
    bigger.add_tokens(["<extra_tool>"])
    bigger.save_pretrained(other)
    assert error(str(other)) == (
        f"distill.teacher: vocab mismatch: the teacher '{other}' has {len(tok) + 1} "
        f"tokens, the student {len(tok)}, and token '<extra_tool>' is id {len(tok)} in the "
        "teacher but None in the student; distillation needs the same tokenizer for both"
    )
