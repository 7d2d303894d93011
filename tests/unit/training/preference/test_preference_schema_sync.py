"""The config's loss and reference names equal the ones the preference package implements."""

from __future__ import annotations

import dataclasses

from tunesmith.config.schema import PREFERENCE_LOSSES, PreferenceConfig
from tunesmith.training.preference import losses, reference


def test_loss_and_reference_names_match_the_schema():
    assert set(PREFERENCE_LOSSES) == set(losses.LOSSES)
    field = {f.name: f for f in dataclasses.fields(PreferenceConfig)}["reference"]
    assert tuple(field.metadata["choices"]) == reference.MODES
    assert set(losses.DEFAULT_BETA) == set(losses.LOSSES)
