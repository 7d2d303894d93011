"""The built-in demo task and `tunesmith demo`."""

from tunesmith.demo.run import run_demo

__all__ = ["run_demo"]
