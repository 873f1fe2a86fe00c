"""Signed model snapshots: a record is loaded only if the deployment's key signed it as it is.

Unit tests of streams/signing.py and of the models-topic records in streams/topics.py, plus
the start checks of ``serve --broker`` and ``worker`` and ``streamloop key create``. The
real-broker test is in test_kafka_signing.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from streamloop.config import Settings
from streamloop.streams import topics
from streamloop.streams.signing import (
    KEY_MIN_LENGTH,
    Refused,
    SecretKeyError,
    Signer,
    create_key_file,
    load_key,
)

KEY = b"0123456789abcdef" * 4
OTHER_KEY = b"fedcba9876543210" * 4
BLOB = bytes(range(256)) * 64  # stands for a pickled model: any bytes will do


def signed(
    project: str = "tickets", version: int = 7, blob: bytes = BLOB, key: bytes = KEY
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A models-topic record as a publisher with ``key`` sends it: key, value, headers."""
    headers = topics.model_headers(Signer(key), project, version, blob)
    return project.encode(), blob, list(headers.items())


def refusal(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> str:
    with pytest.raises(Refused) as refused:
        topics.model_from(key, value, headers, Signer(KEY))
    return refused.value.reason


def test_a_record_signed_with_the_key_is_accepted_as_it_was_sent():
    record = topics.model_from(*signed(), Signer(KEY))
    assert (record.project, record.version, record.blob) == ("tickets", 7, BLOB)


def test_a_record_with_no_signature_is_refused_as_unsigned():
    key, value, headers = signed()
    assert refusal(key, value, [h for h in headers if h[0] != "signature"]) == "unsigned_model"
    assert refusal(key, value, [("version", b"7"), ("signature", b"")]) == "unsigned_model"
    assert refusal(key, value, []) == "unsigned_model"
    assert refusal(key, None, []) == "unsigned_model"  # a tombstone a stranger produced


def test_a_record_signed_with_another_key_is_refused_as_forged():
    assert refusal(*signed(key=OTHER_KEY)) == "forged_model"


@pytest.mark.parametrize("position", [0, len(BLOB) // 2, len(BLOB) - 1])
def test_a_flipped_bit_anywhere_in_the_snapshot_is_refused(position: int):
    key, value, headers = signed()
    flipped = bytearray(value)
    flipped[position] ^= 0x01
    assert refusal(key, bytes(flipped), headers) == "forged_model"


def test_a_flipped_bit_in_the_signature_is_refused():
    key, value, headers = signed()
    signature = bytearray(dict(headers)["signature"])
    signature[-1] ^= 0x01
    assert refusal(key, value, [("version", b"7"), ("signature", bytes(signature))]) == (
        "forged_model"
    )


def test_a_truncated_record_is_refused():
    key, value, headers = signed()
    assert refusal(key, value[:-1], headers) == "forged_model"
    assert refusal(key, b"", headers) == "forged_model"
    signature = dict(headers)["signature"]
    assert refusal(key, value, [("version", b"7"), ("signature", signature[:-2])]) == (
        "forged_model"
    )


def test_a_signature_holds_for_its_own_project_and_version_only():
    _key, value, headers = signed(project="tickets", version=7)
    assert refusal(b"invoices", value, headers) == "forged_model"
    other_version = [("version", b"8"), ("signature", dict(headers)["signature"])]
    assert refusal(b"tickets", value, other_version) == "forged_model"


def test_bytes_cannot_move_from_one_field_to_the_next():
    signer = Signer(KEY)
    # The same bytes in a row, cut between the fields differently.
    assert signer.sign("t1", 2, b"x") != signer.sign("t", 12, b"x")
    assert signer.sign("t", 1, b"2x") != signer.sign("t", 12, b"x")


def test_a_record_that_cannot_be_verified_is_refused_as_forged():
    key, value, headers = signed()
    signature = dict(headers)["signature"]
    assert refusal(None, value, headers) == "forged_model"
    assert refusal(key, None, headers) == "forged_model"
    assert refusal(key, value, [("signature", signature)]) == "forged_model"
    assert refusal(key, value, [("version", b"seven"), ("signature", signature)]) == (
        "forged_model"
    )
    assert refusal(b"\xff\xfe", value, headers) == "forged_model"


def test_a_refusal_and_the_signer_never_show_the_key_or_the_payload():
    key, value, headers = signed(key=OTHER_KEY)
    with pytest.raises(Refused) as refused:
        topics.model_from(key, value, headers, Signer(KEY))
    assert KEY.decode() not in str(refused.value) and "\\x00" not in str(refused.value)
    assert KEY.decode() not in repr(Signer(KEY))
    assert KEY.decode() not in repr(Settings(secret_key=KEY.decode()))


def test_a_key_shorter_than_the_minimum_is_refused():
    with pytest.raises(SecretKeyError):
        Signer(b"k" * (KEY_MIN_LENGTH - 1))
    with pytest.raises(SecretKeyError, match="31 bytes long"):
        load_key(Settings(secret_key="k" * (KEY_MIN_LENGTH - 1)))
    assert load_key(Settings(secret_key="k" * KEY_MIN_LENGTH)) == b"k" * KEY_MIN_LENGTH


def test_a_missing_key_or_two_keys_are_refused(tmp_path: Path):
    with pytest.raises(SecretKeyError, match="none is set"):
        load_key(Settings())
    path = tmp_path / "key"
    path.write_bytes(KEY)
    with pytest.raises(SecretKeyError, match="not both"):
        load_key(Settings(secret_key=KEY.decode(), secret_key_file=path))
    with pytest.raises(SecretKeyError, match="cannot be read"):
        load_key(Settings(secret_key_file=tmp_path / "missing"))


def test_a_key_file_gives_the_same_key_as_the_variable(tmp_path: Path):
    path = tmp_path / "key"
    path.write_bytes(KEY + b"\n")  # as `echo` writes it
    assert load_key(Settings(secret_key_file=path)) == load_key(Settings(secret_key=KEY.decode()))
    short = tmp_path / "short"
    short.write_bytes(b"k" * 10 + b"\n")
    with pytest.raises(SecretKeyError, match="10 bytes long") as refused:
        load_key(Settings(secret_key_file=short))
    assert "kkkkk" not in str(refused.value)


def test_a_key_file_made_here_is_private_from_its_creation(tmp_path: Path):
    path = tmp_path / "key"
    umask = os.umask(0)  # the widest umask: the mode must come from the creation itself
    try:
        create_key_file(path)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) == 64 and int(key, 16) >= 0
    assert len(load_key(Settings(secret_key_file=path))) == 64
    create_key_file(other := tmp_path / "other")
    assert other.read_text() != path.read_text()


def test_a_key_file_is_never_overwritten(tmp_path: Path):
    path = tmp_path / "key"
    create_key_file(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        create_key_file(path)
    assert path.read_bytes() == before


# -- the command line (as a subprocess: its exit status, and logging left as it was here) -----


def streamloop(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLOOP_SECRET_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "streamloop", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_on_kafka_refuse_to_start_without_a_key(command: str, tmp_path: Path):
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"  # an option both commands take
    done = streamloop(command, "--broker", "kafka://127.0.0.1:9", "--database", database)
    assert done.returncode == 2
    assert "STREAMLOOP_SECRET_KEY" in done.stderr
    assert "streamloop key create --file" in done.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_on_kafka_refuse_a_short_key(command: str, tmp_path: Path):
    short = "a-secret-of-25-characters"
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = (command, "--broker", "kafka://127.0.0.1:9", "--database", database)
    done = streamloop(*args, STREAMLOOP_SECRET_KEY=short)
    assert done.returncode == 2
    assert "at least 32" in done.stderr and short not in done.stderr + done.stdout


def test_key_create_writes_a_private_key_serve_and_worker_accept(tmp_path: Path):
    path = tmp_path / "key"
    done = streamloop("key", "create", "--file", str(path))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() not in done.stdout + done.stderr  # never printed
    assert len(load_key(Settings(secret_key_file=path))) == 64
    again = streamloop("key", "create", "--file", str(path))
    assert again.returncode == 1 and "exists" in again.stderr
