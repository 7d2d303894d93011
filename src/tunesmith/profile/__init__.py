"""`tunesmith profile`: torch.profiler tables, FLOPs and the fraction of measured peak."""

from tunesmith.profile.run import ProfileOptions, check_profile, run_profile

__all__ = ["ProfileOptions", "check_profile", "run_profile"]
