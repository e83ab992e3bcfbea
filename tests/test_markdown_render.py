"""The streaming renderer's oracle: however a text arrives, the final lines are
those of rendering it whole at once.

Every document below is streamed in many random cuttings (deltas of 1-9
characters, and for the big ones larger pieces), through the same
`LiveDocument` the app draws from, and compared line by line, segment by
segment (text and style) with a one-shot render.
"""

from __future__ import annotations

import random
import threading

import pytest

from tokentide.tui.markdown import code
from tokentide.tui.markdown.blocks import Block, BlockSplitter
from tokentide.tui.markdown.document import LiveDocument
from tokentide.tui.markdown.render import BlockRenderer

RENDERER = BlockRenderer()

TRICKY = {
    "everything": (
        "# Title\n\nA paragraph with **bold**, *em*, `code`, ~~gone~~ and a [link](https://x.y).\n"
        "A second line of it.\n\n- one\n- two\n  - nested `x`\n    1. deeper\n\n"
        "```python\ndef f(x):\n    return x\n```\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n"
        "> quoted\n> > twice\n\n---\n\nThe end."
    ),
    "fence opens and closes in one delta": "text\n```js\nlet x = 1;\n```\nafter",
    "nested lists, loose and tight": (
        "1. one\n   - a\n   - b\n\n     more b\n2. two\n\n   > quote\n\n3. three\n\n"
        "- tight\n- list\n\n* other\n* marker\n"
    ),
    "a table whose header arrives in pieces": (
        "| header one | header two | three |\n| :--- | :---: | ---: |\n| 1 | 2 | 3 |\n"
        "| four | five | six |\n\nafter the table"
    ),
    "setext headings change the line above": "Title\n=====\n\nSub\n---\n\npara\ntext\n---\n",
    "a partial line that is not a block yet": (
        "para\n#hashtag is text\n\n***bold*** not a rule\n\n1.5 billion\n\n-not a list\n"
    ),
    "fences of every kind": (
        "~~~\n```\nnot a close\n~~~\n\n````md\n```\ninner\n```\n````\n\n    indented\n    code\n\n"
        "```\nno language\n```"
    ),
    "an unclosed fence": "```python\ndef f():\n    '''doc\n    string'''\n    return 1\n",
    "a multi-line string in a fence": '```python\nx = """a\n\nb"""\ny = 1\n```\n',
    "wide characters": "日本語のテキスト " * 30 + "\n\n| 列 | 値 |\n|---|---|\n| 漢字 | 😀 |\n",
    "markup and escapes are text": "[bold]not bold[/] and <b>html</b>\n\n<div>\nblock\n</div>\n",
    "blank and odd": "\n\n\n  \n#\n\n>\n\n-\n\n|\n\n```\n",
}

BIG = {
    "a 2 MB line with no newline": "x" * 2_000_000,
    "a 200 KB paragraph": ("lorem ipsum dolor sit **amet** " * 7_000),
    "a 50 KB fence": "```python\n"
    + "".join(
        f"def f{j}(x):\n    '''doc {j}\n    more'''\n    return x * {j}\n" for j in range(900)
    )
    + "```\n\ndone",
}


def oneshot(text: str, width: int) -> list:
    document = LiveDocument(RENDERER, width)
    document.feed(text)
    document.finish()
    return document.lines


def streamed(text: str, width: int, cuts: random.Random, longest: int) -> list:
    """The text fed in random cuts. After each feed, a copy kept as the app's
    view keeps its lines (those above the first changed line kept, the rest
    taken again) must be the document's lines: a `first` too low costs only
    time, one too high leaves a stale or misplaced line on screen."""
    document = LiveDocument(RENDERER, width)
    shown: list = []
    at = 0
    while at < len(text):
        step = cuts.randint(1, longest)
        before = document.height
        first = document.feed(text[at : at + step])
        assert 0 <= first <= max(before, document.height)
        shown[first:] = [document.line(y) for y in range(first, document.height)]
        assert shown == document.lines, (at + step, first, text[: at + step][-40:])
        at += step
    document.finish()
    return document.lines


def text_of(lines: list) -> list[str]:
    return ["".join(segment.text for segment in line) for line in lines]


@pytest.mark.parametrize("name", list(TRICKY))
@pytest.mark.parametrize("width", [40, 100])
def test_streaming_ends_as_a_one_shot_render(name, width):
    text = TRICKY[name]
    want = oneshot(text, width)
    assert want or not text.strip()
    for seed in range(25):
        got = streamed(text, width, random.Random(seed), longest=9)
        assert got == want, (seed, text_of(got), text_of(want))


@pytest.mark.parametrize("name", list(BIG))
def test_big_documents_too(name):
    text = BIG[name]
    want = oneshot(text, 100)
    got = streamed(text, 100, random.Random(1), longest=len(text) // 15)
    assert got == want


def test_every_character_of_the_text_is_on_screen():
    text = TRICKY["everything"]
    shown = "".join(text_of(oneshot(text, 100)))
    for word in ("Title", "bold", "em", "code", "gone", "link", "nested", "deeper", "return"):
        assert word in shown
    assert "**" not in shown and "```" not in shown


def test_a_streaming_list_draws_only_its_changed_item_again(monkeypatch):
    """An open list is drawn again each frame; its finished items are kept,
    and what comes out is what a fresh renderer draws, also when a blank
    line makes the list loose or a number gets a digit more."""
    renderer = BlockRenderer()
    items = "".join(f"{n}. item {n} with *some* words, wrapped at forty\n" for n in range(1, 9))
    renderer.block(Block(items), 40)
    drawn: list = []
    tokens = renderer._tokens
    monkeypatch.setattr(renderer, "_tokens", lambda t, w: drawn.append(t) or tokens(t, w))
    grown = items + "9. item nine is"
    assert renderer.block(Block(grown), 40) == BlockRenderer().block(Block(grown), 40)
    assert len(drawn) == 2  # the list, and its last item: the eight before it were kept
    ten = items + "9. nine\n10. ten"  # the numbers a column wider: every item again
    for text in (ten, items + "\n9. loose now", "- a\n- b\n  - c\n- d"):
        assert renderer.block(Block(text), 40) == BlockRenderer().block(Block(text), 40)


def test_finished_blocks_are_kept_and_an_open_fence_grows_by_lines():
    document = LiveDocument(RENDERER, 60)
    document.feed("# A\n\nsome text\n\n```python\n")
    kept = document.line(0)
    for n in range(200):
        first = document.feed(f"x = {n}\n")
        assert first >= document.height - 3  # only the new line and the padding below it
        assert document.line(0) is kept  # the heading is never drawn again


def test_a_block_is_final_once_another_starts_on_a_complete_line():
    splitter = BlockSplitter()
    assert splitter.feed("para one\n\n#") == []  # "#" may become "#hashtag"
    assert splitter.feed(" Heading\n\nnext") == [Block("para one")]
    assert splitter.feed(" line\n") == [Block("# Heading")]  # "next" is on a complete line
    assert splitter.tail == "next line\n"
    assert splitter.finish() == [Block("next line")]


def test_text_without_a_line_end_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch):
    """Most frames add words to the partial last line: the complete lines
    before it are as they were, and were parsed already."""
    from tokentide.tui.markdown import blocks

    parser, parsed = blocks.parser(), []
    parse = parser.parse
    monkeypatch.setattr(parser, "parse", lambda source: parsed.append(source) or parse(source))
    splitter = BlockSplitter()
    assert splitter.feed("- one\n- tw") == []
    assert parsed == ["- one\n"]
    assert splitter.feed("o and") == []
    assert splitter.feed(" three") == []
    assert parsed == ["- one\n"]
    assert splitter.feed("\n\npara") == []
    assert parsed == ["- one\n", "- one\n- two and three\n\n"]
    assert splitter.feed("\n\nnext\n") == [Block("- one\n- two and three"), Block("para")]
    assert splitter.finish() == [Block("next")]


# --------------------------------------------------------------------------- lexers built in a thread


@pytest.fixture
def lexers(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The languages whose lexer counts as built: the test decides when one is."""
    ready: set[str] = set()
    monkeypatch.setattr(code, "lexer_ready", lambda language: language in ready)
    return ready


def test_a_fence_is_plain_until_its_lexer_is_built_then_coloured(lexers: set[str]) -> None:
    head = "Some text.\n\n```haskell\nmain :: IO ()\nmain = print 1\n"
    document = LiveDocument(RENDERER, 60, lex_in_background=True)
    document.feed(head)
    plain = oneshot("Some text.\n\n```\nmain :: IO ()\nmain = print 1\n```", 60)
    assert document.lines[:-2] == plain[:-2]  # drawn as a fence with no language

    document.feed("```\n\nafter")  # closed while its lexer is still being built
    assert document.lines[: len(plain)] == plain
    lexers.add("haskell")
    first = document.feed(" the fence")
    assert first <= 2  # the fence is drawn again, in colour
    document.finish()
    want = oneshot(head + "```\n\nafter the fence", 60)
    assert document.lines == want
    assert document.lines != oneshot(
        "Some text.\n\n```\nmain :: IO ()\nmain = print 1\n```\n\nafter the fence", 60
    )


def test_an_open_fence_is_coloured_from_the_frame_its_lexer_is_ready(lexers: set[str]) -> None:
    document = LiveDocument(RENDERER, 60, lex_in_background=True)
    document.feed("```python\nx = 1\n")
    lexers.add("python")
    document.feed("y = 2\n")
    want = LiveDocument(RENDERER, 60)
    want.feed("```python\nx = 1\ny = 2\n")
    assert document.lines == want.lines


@pytest.mark.parametrize("name", list(TRICKY))
def test_waiting_for_lexers_still_ends_as_a_one_shot_render(lexers: set[str], name: str) -> None:
    text = TRICKY[name]
    want = oneshot(text, 80)
    for seed in range(10):
        document = LiveDocument(RENDERER, 80, lex_in_background=True)
        cuts, at = random.Random(seed), 0
        while at < len(text):
            step = cuts.randint(1, 9)
            document.feed(text[at : at + step])
            at += step
            if at > len(text) // 2:
                lexers.update(("python", "js", "md"))  # ready halfway through
        document.finish()
        assert document.lines == want, (seed, text_of(document.lines), text_of(want))
        lexers.clear()


def test_a_lexer_is_built_in_a_thread() -> None:
    language = "ocaml"  # used by no other test: not built yet in this process
    assert code.lexer_ready(language) is False
    for thread in threading.enumerate():
        if thread.name == "tokentide-lexer":
            thread.join()
    assert code.lexer_ready(language) is True
