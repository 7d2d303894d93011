"""Compression and export: fold adapters into their base (merge), with a report per output.

from tunesmith.compress.merge import merge_adapter
report = merge_adapter("runs/demo/run", "runs/demo/merged")
"""
