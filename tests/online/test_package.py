"""The package's names, each imported from its module when first asked for (issue 22)."""

from __future__ import annotations

import importlib

import pytest

import streamloop.online as online


def test_every_exported_name_is_its_module_s() -> None:
    assert sorted(online._HOMES) == sorted(online.__all__)
    for name, module in online._HOMES.items():
        defined = importlib.import_module(f"streamloop.online.{module}")
        assert getattr(online, name) is getattr(defined, name), name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        online.Nothing  # noqa: B018
