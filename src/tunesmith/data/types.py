"""The record types, moved to `tunesmith.records` (the bottom layer); kept importable here."""

from tunesmith.records import Conversation, Message, Role, ToolCall

__all__ = ["Conversation", "Message", "Role", "ToolCall"]
