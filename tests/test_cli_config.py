"""`tokentide config path|show|edit`, `--version`, `--theme` and the bare prompt's
parsing, through the installed command in a clean environment."""

from __future__ import annotations

import stat
import sys
from importlib.metadata import version
from pathlib import Path

from tests.cli import clean_env, tokentide
from tokentide import themes
from tokentide.tui.config_file import TEMPLATE

KEY = "sk-test-0123456789abcdefWXYZ"

EDITOR = """\
#!{python}
import sys
from pathlib import Path

path = Path(sys.argv[1])
path.write_text(path.read_text() + {addition!r})
sys.exit({status})
"""


def config_of(home: Path) -> Path:
    return home / ".config" / "tokentide" / "config.toml"


def editor(tmp_path: Path, addition: str, status: int = 0) -> str:
    """An $EDITOR that appends `addition` to the file it is given."""
    script = tmp_path / f"editor-{abs(hash((addition, status)))}.py"
    script.write_text(EDITOR.format(python=sys.executable, addition=addition, status=status))
    script.chmod(0o755)
    return str(script)


def one_line_error(stderr: str) -> str:
    """The one error line (beside the note that a new file was made, if one was)."""
    lines = [line for line in stderr.strip().splitlines() if "tokentide: created " not in line]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("tokentide: error: "), stderr
    return lines[0]


# --------------------------------------------------------------------------- --version, --help


def test_version_prints_the_installed_version(tmp_path):
    result = tokentide("--version", env=clean_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout == f"tokentide {version('tokentide')}\n"


def test_help_documents_themes_config_version_and_a_bare_prompt(tmp_path):
    out = tokentide("--help", env=clean_env(tmp_path)).stdout
    for needle in ("--theme", "--version", "config", 'tokentide "PROMPT"', "Ctrl+E"):
        assert needle in out, needle
    config_help = tokentide("config", "--help", env=clean_env(tmp_path)).stdout
    for command in ("path", "show", "edit"):
        assert command in config_help


# --------------------------------------------------------------------------- config path, show


def test_config_path_is_the_file_every_command_reads(tmp_path):
    result = tokentide("config", "path", env=clean_env(tmp_path))
    assert result.stdout == f"{config_of(tmp_path)}\n"
    named = tmp_path / "elsewhere.toml"
    result = tokentide("config", "path", env=clean_env(tmp_path, TOKENTIDE_CONFIG=str(named)))
    assert result.stdout == f"{named}\n"


def test_config_show_masks_the_key_and_says_where_each_setting_came_from(tmp_path):
    config = config_of(tmp_path)
    config.parent.mkdir(parents=True)
    config.write_text('model = "gpt-4.1-mini"\ntheme = "tokentide-sand"\n[timeouts]\nread = 30\n')
    result = tokentide("config", "show", env=clean_env(tmp_path, OPENAI_API_KEY=KEY))
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout and KEY[3:-4] not in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "sk-…WXYZ" in rows["API"] and "($OPENAI_API_KEY)" in rows["API"]
    assert "openai" in rows["provider"] and "found $OPENAI_API_KEY" in rows["provider"]
    assert "gpt-4.1-mini" in rows["model"] and str(config) in rows["model"]
    assert "tokentide-sand" in rows["theme"] and str(config) in rows["theme"]
    assert "read 30 s" in rows["timeouts"] and str(config) in rows["timeouts"]
    assert "(default)" in rows["retries"]


def test_config_show_with_nothing_configured_says_so(tmp_path):
    result = tokentide("config", "show", env=clean_env(tmp_path))
    assert result.returncode == 0
    assert "not created yet" in result.stdout and "nothing configured" in result.stdout
    assert "tokentide-dark  (default)" in result.stdout


def test_config_show_of_a_broken_file_is_one_line(tmp_path):
    config = config_of(tmp_path)
    config.parent.mkdir(parents=True)
    config.write_text("retries = 'many'\n")
    result = tokentide("config", "show", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "retries" in one_line_error(result.stderr)


# --------------------------------------------------------------------------- config edit


def test_config_edit_starts_a_new_file_from_the_template_and_checks_it(tmp_path):
    env = clean_env(tmp_path, EDITOR=editor(tmp_path, 'theme = "nord"\n'))
    result = tokentide("config", "edit", env=env)
    assert result.returncode == 0, result.stderr
    config = config_of(tmp_path)
    assert config.read_text() == TEMPLATE + 'theme = "nord"\n'
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert result.stdout == f"{config}: OK\n"
    assert result.stderr == f"tokentide: created {config} from a commented template\n"


def test_config_edit_reports_a_mistake_in_one_line(tmp_path):
    env = clean_env(tmp_path, VISUAL=editor(tmp_path, "retries = 'many'\n"))
    result = tokentide("config", "edit", env=env)
    assert result.returncode == 2
    assert "retries" in one_line_error(result.stderr) and result.stdout == ""


def test_config_edit_and_show_read_the_providers_not_in_use_too(tmp_path):
    """A wrong `wire` in a section nobody picks yet was "OK" until it was picked."""
    env = clean_env(tmp_path, EDITOR=editor(tmp_path, '[providers.lab]\nwire = "grpc"\n'))
    result = tokentide("config", "edit", env=env)
    assert result.returncode == 2 and "OK" not in result.stdout
    line = one_line_error(result.stderr)
    assert "wire = 'grpc' in [providers.lab]" in line and "openai, anthropic" in line
    shown = tokentide("config", "show", env=clean_env(tmp_path))
    assert shown.returncode == 0
    assert "not usable as configured: wire = 'grpc' in [providers.lab]" in shown.stderr


def test_config_edit_names_the_themes_when_the_theme_is_unknown(tmp_path):
    env = clean_env(tmp_path, EDITOR=editor(tmp_path, 'theme = "solarised"\n'))
    line = one_line_error(tokentide("config", "edit", env=env).stderr)
    assert "'solarised'" in line and ", ".join(themes.names()) in line


def test_config_edit_without_an_editor_says_how_to_set_one_and_creates_nothing(tmp_path):
    result = tokentide("config", "edit", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "$EDITOR" in one_line_error(result.stderr)
    assert not config_of(tmp_path).exists()


def test_config_edit_when_the_editor_fails(tmp_path):
    env = clean_env(tmp_path, EDITOR=editor(tmp_path, "", status=3))
    line = one_line_error(tokentide("config", "edit", env=env).stderr)
    assert "exited with status 3" in line
    missing = clean_env(tmp_path, EDITOR="no-such-editor-here --wait")
    line = one_line_error(tokentide("config", "edit", env=missing).stderr)
    assert "cannot run no-such-editor-here --wait" in line


# --------------------------------------------------------------------------- --theme


def test_an_unknown_theme_option_is_one_line_naming_the_themes(tmp_path):
    result = tokentide("--theme", "solarised", env=clean_env(tmp_path))
    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert "--theme" in line and "'solarised'" in line
    assert ", ".join(themes.names()) in line


# --------------------------------------------------------------------------- a bare prompt


def test_a_command_name_stays_a_command(tmp_path):
    result = tokentide("history", "list", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    result = tokentide("ask", "--demo", "hi", env=clean_env(tmp_path))
    assert result.returncode == 0 and result.stdout.strip()


def test_a_likely_typo_of_a_command_is_not_sent_as_a_prompt(tmp_path):
    result = tokentide("histroy", env=clean_env(tmp_path))
    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert "did you mean 'history'" in line and "tokentide -- histroy" in line


def test_several_words_must_be_quoted(tmp_path):
    result = tokentide("what", "is", "rust", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "tokentide 'what is rust'" in one_line_error(result.stderr)


def test_an_empty_prompt_is_refused(tmp_path):
    result = tokentide("  ", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "empty" in one_line_error(result.stderr)
