"""Library noise control: tunesmith prints its own progress, not every dependency's."""

from __future__ import annotations

import warnings

# Warnings raised inside dependencies about their own internals, not about user input.
_IGNORED = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
    (RuntimeWarning, r"The following (alpha|rank)_pattern keys did not match"),
    (UserWarning, r"To copy construct from a tensor"),
)


def quiet_libraries() -> None:
    """Hide transformers' load/save progress bars and known-harmless dependency warnings."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    for category, message in _IGNORED:
        warnings.filterwarnings("ignore", message=message, category=category)
