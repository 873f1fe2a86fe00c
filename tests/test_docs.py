"""The README documents every setting, in the table `settings_table` generates."""

from __future__ import annotations

from pathlib import Path

from streamloop.config import setting_docs, settings_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_readme_has_the_generated_settings_table():
    # Out of date? Replace the README's table with `python -m streamloop.config`.
    assert settings_table() in README


def test_the_table_names_every_setting_and_its_variable():
    table = settings_table()
    for name, variable, _default, help_text in setting_docs():
        assert f"| `{variable}` |" in table, name
        assert help_text in table
