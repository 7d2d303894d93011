"""Library noise control: tunesmith prints its own progress, not every dependency's."""

from __future__ import annotations

import os
import warnings

# Warnings raised inside dependencies about their own internals, not about user input.
_IGNORED = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
    (RuntimeWarning, r"The following (alpha|rank)_pattern keys did not match"),
    (UserWarning, r"To copy construct from a tensor"),
    (FutureWarning, r"`torch.distributed.all_gather_into_tensor` is deprecated"),
)


def quiet_libraries() -> None:
    """Hide transformers' load/save progress bars and known-harmless dependency warnings."""
    import torch
    from transformers.utils import logging as hf_logging

    if not torch.cuda.is_available():  # DeepSpeed would warn that it fell back to its CPU path
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    for category, message in _IGNORED:
        warnings.filterwarnings("ignore", message=message, category=category)
