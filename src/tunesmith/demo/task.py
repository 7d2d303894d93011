"""The demo task moved to `tunesmith.data.tag_task` (its word lists: assets/tag_task.json);
kept importable here for scripts written against the old path."""

from tunesmith.data.tag_task import (
    KEYS,
    N_TRAIN_KEYS,
    QUESTION_TEMPLATES,
    TAGS,
    chat_dataset,
    chat_record,
    prose_document,
    tag_table,
)

__all__ = [
    "KEYS",
    "N_TRAIN_KEYS",
    "QUESTION_TEMPLATES",
    "TAGS",
    "chat_dataset",
    "chat_record",
    "prose_document",
    "tag_table",
]
