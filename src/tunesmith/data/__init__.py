"""Data: read dataset files, validate records, normalise them to `Conversation`s."""

from tunesmith.data.formats import FORMATS, convert, detect_format
from tunesmith.data.load import LoadResult, RecordError, load_conversations
from tunesmith.data.sources import EXTENSIONS, expand_paths, iter_records
from tunesmith.data.types import Conversation, Message

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "Conversation",
    "LoadResult",
    "Message",
    "RecordError",
    "convert",
    "detect_format",
    "expand_paths",
    "iter_records",
    "load_conversations",
]
