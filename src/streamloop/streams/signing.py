"""Signed model snapshots: only a process holding the deployment's key publishes a model.

A snapshot is a pickle, and unpickling runs whatever code the pickle names. On Kafka anyone
who can produce to the models topic could otherwise run code in every ``serve`` and ``worker``
process, so each snapshot published there carries an HMAC-SHA256 under a key every process of
the deployment shares (``STREAMLOOP_SECRET_KEY``, or ``STREAMLOOP_SECRET_KEY_FILE``), and a
record is unpickled only once its signature is verified.

The signature covers the project, the version and the snapshot bytes, after a prefix naming
what is signed (so a signature made for anything else never passes for a snapshot's), each
field preceded by its length (so bytes cannot move from one field to the next).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from streamloop.config import Settings, env_name

__all__ = [
    "HOW_TO_MAKE_ONE",
    "KEY_MIN_LENGTH",
    "Refused",
    "SecretKeyError",
    "Signer",
    "create_key_file",
    "load_key",
]

log = logging.getLogger(__name__)

#: Shortest key accepted, in bytes: an HMAC-SHA256 key shorter than the hash is weaker than it.
KEY_MIN_LENGTH = 32
#: Random bytes in a key that `create_key_file` makes (written hex-encoded: twice as many chars).
KEY_RANDOM_BYTES = 32
#: Who may read a key file made here: its owner alone.
KEY_FILE_MODE = 0o600
#: Prefix of every signed message: what is signed, and the version of this format.
DOMAIN = b"streamloop model snapshot v1\x00"
#: Bytes of the big-endian length written before each field.
_LENGTH_BYTES = 8

#: How to make a key, for the messages that ask for one.
HOW_TO_MAKE_ONE = (
    "  Make one, and give the same key to every serve and worker of the deployment:\n"
    "    streamloop key create --file /etc/streamloop/key\n"
    f"    export {env_name('secret_key_file')}=/etc/streamloop/key\n"
    "  or:\n"
    f"    export {env_name('secret_key')}="
    "$(python -c 'import secrets; print(secrets.token_hex(32))')"
)


class SecretKeyError(ValueError):
    """The key is missing, unreadable or too short: the process must not start."""


class Refused(ValueError):
    """A models-topic record that is not to be loaded.

    ``reason`` is ``unsigned_model`` (no signature) or ``forged_model`` (a signature that does
    not verify, or a record that cannot be verified). The message never holds the payload.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Signer:
    """Signs and verifies model snapshots with the deployment's key.

    >>> signer = Signer(b"k" * KEY_MIN_LENGTH)
    >>> signature = signer.sign("tickets", 3, b"snapshot")
    >>> signer.verify("tickets", 3, b"snapshot", signature)
    >>> signer.verify("tickets", 4, b"snapshot", signature)
    Traceback (most recent call last):
    ...
    streamloop.streams.signing.Refused: the snapshot's signature does not verify
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_MIN_LENGTH:
            raise SecretKeyError(f"the secret key must be at least {KEY_MIN_LENGTH} bytes long")
        self._key = key

    def __repr__(self) -> str:
        return "Signer(<key hidden>)"

    def sign(self, project: str, version: int, blob: bytes) -> bytes:
        """The signature of a snapshot: its HMAC-SHA256, hex-encoded, as ASCII bytes."""
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for piece in _pieces(project, version, blob):
            mac.update(piece)  # piece by piece: a snapshot of megabytes is never copied
        return mac.hexdigest().encode()

    def verify(self, project: str, version: int, blob: bytes, signature: bytes | None) -> None:
        """Return if ``signature`` is this key's for the snapshot, else raise `Refused`."""
        if not signature:
            raise Refused("unsigned_model", "the snapshot is not signed")
        if not hmac.compare_digest(self.sign(project, version, blob), signature):
            raise Refused("forged_model", "the snapshot's signature does not verify")


def _pieces(project: str, version: int, blob: bytes) -> Iterator[bytes]:
    """What is signed: the domain, then each field with its length before it.

    >>> [piece.hex() for piece in _pieces("p", 1, b"xy")][1:]
    ['0000000000000001', '70', '0000000000000001', '31', '0000000000000002', '7879']
    """
    yield DOMAIN
    for field in (project.encode(), str(version).encode(), blob):
        yield len(field).to_bytes(_LENGTH_BYTES, "big")
        yield field


def load_key(settings: Settings) -> bytes:
    """The deployment's key, from ``secret_key`` or the file ``secret_key_file`` names.

    Raises
    ------
    SecretKeyError
        If neither or both are set, the file cannot be read, or the key is too short. The
        message never holds the key; `HOW_TO_MAKE_ONE` says how to make one.

    Examples
    --------
    >>> len(load_key(Settings(secret_key="0123456789abcdef" * 4)))
    64
    >>> try:
    ...     load_key(Settings(secret_key="too short"))
    ... except SecretKeyError as exc:
    ...     print(exc)
    the secret key (STREAMLOOP_SECRET_KEY) is 9 bytes long; it must be at least 32
    """
    key_var, file_var = env_name("secret_key"), env_name("secret_key_file")
    if settings.secret_key and settings.secret_key_file:
        raise SecretKeyError(f"set {key_var} or {file_var}, not both")
    # Surrounding whitespace is never part of a key: a file written by an editor or `echo`
    # ends with a newline, and the same key must give the same signatures either way.
    if settings.secret_key:
        key, source = settings.secret_key.encode().strip(), f"({key_var})"
    elif settings.secret_key_file:
        path = settings.secret_key_file
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise SecretKeyError(
                f"the key file {str(path)!r} ({file_var}) cannot be read: {exc.strerror}"
            ) from None
        source = f"in {str(path)!r} ({file_var})"
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077:
                log.warning("the key file %r can be read by other users: chmod 600 it", str(path))
    else:
        raise SecretKeyError(
            "model snapshots on Kafka are signed with a secret key that the deployment "
            f"shares, and none is set ({key_var} or {file_var})"
        )
    if len(key) < KEY_MIN_LENGTH:
        raise SecretKeyError(
            f"the secret key {source} is {len(key)} bytes long; it must be at least "
            f"{KEY_MIN_LENGTH}"
        )
    return key


def create_key_file(path: Path) -> None:
    """Write a new random key to a new file at ``path``, which only its owner may read.

    The file is created with that mode rather than narrowed after, so it is never readable by
    others, not even for a moment. An existing file is never overwritten: ``FileExistsError``.
    """
    key = secrets.token_hex(KEY_RANDOM_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    with os.fdopen(descriptor, "w") as out:
        out.write(key + "\n")
