"""``python -m streamloop``: the same as the ``streamloop`` command."""

from __future__ import annotations

from streamloop.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
