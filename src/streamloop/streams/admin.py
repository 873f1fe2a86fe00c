"""``streamloop topics create``: the deployment's topics, made up front by an operator.

serve and every worker also create the missing topics when they start (whichever starts
first), so this command is for operators who manage topics themselves: run it once, with the
rights to create topics, and the processes then find them in place.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from streamloop.config import Settings
from streamloop.streams import topics

__all__ = ["CREATE_DESCRIPTION", "add_create_arguments", "create_command"]

CREATE_DESCRIPTION = (
    "Create the deployment's topics that are missing (<prefix>.events, .scored, .labels, "
    ".learned and .dead-letter with --partitions partitions each; <prefix>.models compacted, "
    "one partition, for model snapshots up to 32 MiB) and list every one. Topics that exist "
    "are left as they are. serve and worker also do this when they start."
)


def add_create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--partitions",
        type=int,
        default=topics.PARTITIONS,
        help=f"partitions of each topic but the models topic (default {topics.PARTITIONS}); "
        "the most workers that can score at once",
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="copies of each partition (default 1; 3 on a production cluster)",
    )


def create_command(settings: Settings, args: argparse.Namespace) -> int:
    assert settings.broker is not None
    if args.partitions < 1 or args.replication_factor < 1:
        print(
            "streamloop topics: --partitions and --replication-factor must be 1 or more",
            file=sys.stderr,
        )
        return 2
    names = topics.Topics(settings.topic_prefix)
    try:
        bootstrap = topics.bootstrap_servers(settings.broker)
        created = asyncio.run(
            topics.ensure_topics(
                bootstrap,
                names,
                partitions=args.partitions,
                replication=args.replication_factor,
            )
        )
        counts = asyncio.run(topics.partition_counts(bootstrap, names.all()))
    except Exception as exc:  # unreachable broker, refused rights: said in one line
        print(f"streamloop topics: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for name in names.all():
        state = "created" if name in created else "exists"
        partitions = "partition " if counts[name] == 1 else "partitions"
        print(f"{name:<40} {counts[name]:>3} {partitions}  {state}")
    return 0
