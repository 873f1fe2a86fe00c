"""The README documents every setting and its environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamloop.config import setting_docs

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize(("name", "variable", "default", "help_text"), setting_docs())
def test_every_setting_is_in_the_readme(name, variable, default, help_text):
    row = next((line for line in README.splitlines() if line.startswith(f"| `{variable}` |")), None)
    assert row is not None, f"{variable} is not documented in the README"
    assert help_text in row
    assert ("unset" if default is None else f"`{default}`") in row
