"""Data: read dataset files, validate records, normalise them to `Conversation`s; curate.

Names are imported on first use (PEP 562), so importing a submodule, e.g. in a hashing worker
process of `data prepare`, does not load pyarrow and the readers. `prepare` is the
`tunesmith data prepare` pipeline (`data.curate`).
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "EXTENSIONS": "sources",
    "FORMATS": "formats",
    "Conversation": "types",
    "LoadResult": "load",
    "Message": "types",
    "RecordError": "load",
    "convert": "formats",
    "detect_format": "formats",
    "expand_paths": "sources",
    "iter_records": "sources",
    "load_conversations": "load",
    "prepare": "curate.pipeline",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tunesmith.data' has no attribute '{name}'")
    return getattr(import_module(f"tunesmith.data.{_WHERE[name]}"), name)
