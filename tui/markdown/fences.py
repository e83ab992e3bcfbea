"""The code blocks of an answer, in the order the app draws and numbers them.

The app labels each code block `[1]`, `[2]`, … (widgets/markdown_view.py), so
"copy code block 2" must find the same block: the text is cut into blocks
as the renderer cuts it (`BlockSplitter`), and each block's code is read as
the renderer reads it - a fenced block through `code.fence_parts`, code
nested in lists and quotes (and indented code) from its markdown-it token.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import code
from .blocks import BlockSplitter, parser


@dataclass(frozen=True)
class CodeBlock:
    language: str
    """The fence's info word ("python"), "" when none was given."""
    code: str
    """The code, without its fences and without the newline that ends it."""


def code_blocks(text: str) -> list[CodeBlock]:
    """Every code block of a Markdown text, first to last."""
    splitter = BlockSplitter()
    found: list[CodeBlock] = []
    for block in [*splitter.feed(text), *splitter.finish()]:
        if block.fence:
            found.append(CodeBlock(*code.fence_parts(block.source)))
            continue
        for token in parser().parse(block.source + "\n"):
            if token.type == "fence":
                language = token.info.strip().split(" ")[0]
                found.append(CodeBlock(language, token.content.rstrip("\n")))
            elif token.type == "code_block":
                found.append(CodeBlock("", token.content.rstrip("\n")))
    return found
