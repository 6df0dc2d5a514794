"""The README's configuration table is the Settings class: a new or changed setting fails here until
`mlregistry config table --write README.md` is run."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from mlregistry.cli import app
from mlregistry.config_docs import TABLE_BEGIN, TABLE_END, documented_table, env_name, render_table
from mlregistry.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
FIX = "run `mlregistry config table --write README.md`"


def test_readme_table_matches_the_settings_class() -> None:
    assert documented_table(README) == render_table(), f"the README settings table is out of date: {FIX}"


def test_every_setting_is_documented_once() -> None:
    table = documented_table(README)
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} needs a description (it is the README's text)"
        assert table.count(f"| `{env_name(name)}` |") == 1, name
    assert table.count("\n| `MLREGISTRY_") == len(Settings.model_fields)


def test_check_fails_on_a_stale_table_and_write_fixes_it(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    shutil.copy(README, copy)
    runner = CliRunner()
    assert runner.invoke(app, ["config", "table", "--check", str(copy)]).exit_code == 0

    stale = copy.read_text().replace("| `MLREGISTRY_REQUEST_TIMEOUT` |", "| `MLREGISTRY_REQUEST_TIMEOUT_OLD` |")
    copy.write_text(stale)
    checked = runner.invoke(app, ["config", "table", "--check", str(copy)])
    assert checked.exit_code == 1 and "out of date" in checked.output

    written = runner.invoke(app, ["config", "table", "--write", str(copy)])
    assert written.exit_code == 0 and "updated" in written.output
    assert copy.read_text() == README.read_text()
    assert runner.invoke(app, ["config", "table", "--check", str(copy)]).exit_code == 0

    copy.write_text("# no markers here\n")
    missing = runner.invoke(app, ["config", "table", "--write", str(copy)])
    assert missing.exit_code == 2 and TABLE_BEGIN in missing.output and TABLE_END in missing.output
