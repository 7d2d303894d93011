"""`tunesmith profile`: torch.profiler tables, FLOPs and the fraction of measured peak."""

from tunesmith.profile.run import ProfileOptions, run_profile

__all__ = ["ProfileOptions", "run_profile"]
