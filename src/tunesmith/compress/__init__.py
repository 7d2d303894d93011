"""Compression and export, each writing a model directory (or GGUF file) with a report:
merge (adapters into their base), quantize (torchao on CPU; bitsandbytes / GPTQ on CUDA),
prune (unstructured, or structured heads and FFN neurons), gguf (llama.cpp), and the
comparison report of several variants.

from tunesmith.compress.merge import merge_adapter
report = merge_adapter("runs/demo/run", "runs/demo/merged")
"""
