"""The SQLite database's folder and files are private to their owner, whatever the umask."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamloop.config import Settings
from streamloop.store import NewEvent, NewLabel, Store
from support import make_project

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")

#: The database file and the companions SQLite keeps beside it in WAL mode.
FILES = ("", "-wal", "-shm")


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common default umask, under which files are made readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def use(database: Path) -> dict[str, int]:
    """Open the store and write to it; the modes of the database's files while it is open
    (SQLite removes its WAL companions when the last connection closes)."""
    store = Store(f"sqlite:///{database}")
    try:
        project = make_project(store, name=f"p{len(store.list_projects())}")
        store.insert_events(project.id, [NewEvent("e1", {"text": "hello"}, "queued", 1.0)])
        store.commit_labels(project.id, [NewLabel("l1", "a", "production", event_id="e1")], 0)
        return {suffix: mode(database.with_name(database.name + suffix)) for suffix in FILES}
    finally:
        store.close()


@pytest.mark.usefixtures("permissive_umask")
@pytest.mark.parametrize("depth", ["data-dir", "nested/data-dir"])
def test_a_new_data_dir_and_its_database_are_private(tmp_path: Path, depth: str) -> None:
    settings = Settings(data_dir=tmp_path / depth)
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    store = Store(settings.database_url)
    try:
        # Private from the moment they exist, before anything is written.
        assert mode(settings.data_dir) == 0o700
        assert mode(database) == 0o600
    finally:
        store.close()

    modes = use(database)

    assert mode(settings.data_dir) == 0o700
    assert modes == dict.fromkeys(FILES, 0o600)


def test_modes_are_set_not_left_to_the_umask(tmp_path: Path) -> None:
    # A umask that would take the owner's own bits: the database must still be usable.
    previous = os.umask(0o277)
    try:
        modes = use(tmp_path / "data" / "streamloop.db")
    finally:
        os.umask(previous)

    assert mode(tmp_path / "data") == 0o700
    assert modes == dict.fromkeys(FILES, 0o600)


@pytest.mark.usefixtures("permissive_umask")
def test_a_data_dir_left_open_by_an_earlier_version_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "data"
    database = folder / "streamloop.db"
    folder.mkdir(mode=0o755)
    # As earlier versions left them: SQLite made its companions with the database's mode.
    Store(f"sqlite:///{database}").close()
    database.chmod(0o644)
    folder.chmod(0o755)

    with caplog.at_level(logging.WARNING, logger="streamloop.store.database"):
        modes = use(database)

    assert mode(folder) == 0o700
    assert modes == dict.fromkeys(FILES, 0o600)
    assert f"the folder {folder} was open to other users (mode 755): now 700" in caplog.text
    assert f"the database file {database} was open to other users (mode 644)" in caplog.text


@pytest.mark.usefixtures("permissive_umask")
def test_a_folder_shared_with_other_files_is_left_to_its_owner_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tmp_path.chmod(0o755)
    (tmp_path / "notes.txt").write_text("not streamloop's")
    database = tmp_path / "labels.db"

    with caplog.at_level(logging.WARNING, logger="streamloop.store.database"):
        modes = use(database)

    assert mode(tmp_path) == 0o755
    assert modes == dict.fromkeys(FILES, 0o600)
    assert f"make it private: chmod 700 {tmp_path}" in caplog.text


@pytest.mark.skipif(os.name == "posix" and os.geteuid() != 0, reason="needs root to chown")
@pytest.mark.usefixtures("permissive_umask")
def test_files_of_another_user_are_not_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "data" / "streamloop.db"
    use(database)
    database.chmod(0o644)
    os.chown(database, 65534, 65534)

    with caplog.at_level(logging.WARNING, logger="streamloop.store.database"):
        Store(f"sqlite:///{database}").close()

    assert mode(database) == 0o644
    assert f"make it private: chmod 600 {database}" in caplog.text


def test_memory_databases_have_no_files(tmp_path: Path) -> None:
    Store("sqlite://").close()
    Store("sqlite:///:memory:").close()
