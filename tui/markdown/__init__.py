"""Streaming Markdown: blocks that freeze once final, drawn as lines of segments."""
