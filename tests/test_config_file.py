"""Writing the picked theme into the user's own config file: one line changes,
everything else (comments, order, line endings, permissions) stays."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path

import pytest

from tokentide.client.config import resolve
from tokentide.client.errors import ConfigError
from tokentide.tui.config_file import TEMPLATE, create_template, set_top_key

HAND_WRITTEN = """\
# my tokentide setup
provider = "lab"      # the GPU box

# the box in the cupboard
[providers.lab]
wire = "openai"
base_url = "http://127.0.0.1:8080/v1"
model = "qwen"
"""


def write(path: Path, text: str, mode: int = 0o640) -> Path:
    path.write_bytes(text.encode())
    os.chmod(path, mode)
    return path


def test_a_new_key_goes_after_the_top_level_keys_and_nothing_else_changes(tmp_path):
    path = write(tmp_path / "config.toml", HAND_WRITTEN)
    set_top_key(path, "theme", "tokentide-sand")
    lines = HAND_WRITTEN.splitlines(keepends=True)
    expected = "".join([*lines[:2], 'theme = "tokentide-sand"\n', *lines[2:]])
    assert path.read_text() == expected
    assert resolve(path=path, env={}).theme == "tokentide-sand"


def test_an_existing_key_is_edited_in_place_keeping_its_comment(tmp_path):
    text = HAND_WRITTEN.replace(
        'provider = "lab"', 'theme = "nord"   # picked in March\nprovider = "lab"'
    )
    path = write(tmp_path / "config.toml", text)
    set_top_key(path, "theme", "dracula")
    assert path.read_text() == text.replace('theme = "nord"', 'theme = "dracula"')


def test_crlf_line_endings_and_permissions_are_kept(tmp_path):
    path = write(tmp_path / "config.toml", HAND_WRITTEN.replace("\n", "\r\n"), mode=0o600)
    set_top_key(path, "theme", "tokentide-light")
    data = path.read_bytes()
    assert b'theme = "tokentide-light"\r\n' in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_of_tables_only_gets_the_key_above_the_first_table_and_its_comment(tmp_path):
    text = "# header comment\n\n# about lab\n[providers.lab]\nwire = 'openai'\n"
    path = write(tmp_path / "config.toml", text)
    set_top_key(path, "theme", "nord")
    assert path.read_text() == (
        "# header comment\n\ntheme = \"nord\"\n\n# about lab\n[providers.lab]\nwire = 'openai'\n"
    )


def test_a_table_lookalike_inside_a_multiline_string_does_not_misplace_the_key(tmp_path):
    text = 'system = """\nBe brief.\n[not a table]\ntheme = "inside the prompt"\n"""\n[timeouts]\nread = 5\n'
    path = write(tmp_path / "config.toml", text)
    set_top_key(path, "theme", "nord")
    data = tomllib.loads(path.read_text())
    assert data["theme"] == "nord"
    assert data["system"] == 'Be brief.\n[not a table]\ntheme = "inside the prompt"\n'
    assert data["timeouts"] == {"read": 5}
    assert path.read_text().endswith(text)  # added on top: the rest untouched


def test_the_template_gets_the_key_below_its_commented_example(tmp_path):
    path = tmp_path / "config.toml"
    assert create_template(path)
    assert not create_template(path)  # never over an existing file
    set_top_key(path, "theme", "tokentide-deep")
    example = next(line for line in TEMPLATE.splitlines() if line.startswith("# theme ="))
    assert path.read_text() == TEMPLATE.replace(
        example + "\n", example + '\ntheme = "tokentide-deep"\n'
    )


def test_a_symlinked_file_is_edited_where_it_points(tmp_path):
    target = write(tmp_path / "dotfiles-config.toml", HAND_WRITTEN)
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    set_top_key(link, "theme", "nord")
    assert link.is_symlink()
    assert 'theme = "nord"' in target.read_text()


def test_a_missing_file_and_directory_are_created_private(tmp_path):
    path = tmp_path / "new" / "tokentide" / "config.toml"
    set_top_key(path, "theme", "tokentide-contrast")
    assert tomllib.loads(path.read_text()) == {"theme": "tokentide-contrast"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_broken_file_is_left_alone_with_one_line_saying_why(tmp_path):
    text = 'provider = "lab\n'
    path = write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError) as caught:
        set_top_key(path, "theme", "nord")
    assert "not valid TOML" in str(caught.value) and "\n" not in str(caught.value)
    assert path.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary left over


def test_the_template_uncommented_is_a_valid_config_with_every_key_known(tmp_path):
    """The template stays true: each example line, uncommented, is read without a warning."""
    examples = [line[2:] for line in TEMPLATE.splitlines() if re.match(r"# (\[|[\w\"-]+ = )", line)]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(examples) + "\n")
    settings = resolve(path=path, env={})
    assert settings.warnings == ()
    assert settings.theme == "tokentide-dark" and settings.endpoint.name == "lmstudio"
    assert {"provider", "theme", "providers", "prompts", "timeouts", "limits", "prices"} <= set(
        tomllib.loads(path.read_text())
    )
