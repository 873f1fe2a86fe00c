"""Dead letters: records the workers could not use, with their context, and their replay.

(Interface fixed by the lead; the body is being written.)
"""

from __future__ import annotations

import argparse

from streamloop.config import Settings

__all__ = ["REPLAY_DESCRIPTION", "add_replay_arguments", "replay_command"]

REPLAY_DESCRIPTION = "Send dead-lettered records back to the topic they came from."


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``streamloop dead-letters replay``."""


def replay_command(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError("being written")
