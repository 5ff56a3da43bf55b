"""Secret files and service tokens (security.tokens): made once, atomically, readable by their owner only."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from security import tokens


@pytest.fixture
def secrets_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "secrets"
    monkeypatch.setenv("JIUJIN_SECRETS_DIR", str(folder))
    for service in tokens.SERVICES:
        monkeypatch.delenv(tokens.token_variable(service), raising=False)
    return folder


def test_a_token_file_is_made_once_with_mode_0600_in_a_private_folder(secrets_folder: Path) -> None:
    first = tokens.service_token("tools", create=True)
    assert first and len(first) >= 40
    path = secrets_folder / "api-token"  # the fixed contract's file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_folder.stat().st_mode) == 0o700
    assert tokens.service_token("tools", create=True) == first
    assert tokens.service_token("tools") == first
    assert list(secrets_folder.iterdir()) == [path]  # no temporary file left behind


def test_each_service_has_its_own_token_and_the_environment_wins(
    secrets_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = {service: tokens.service_token(service, create=True) for service in tokens.SERVICES}
    assert len(set(made.values())) == len(tokens.SERVICES)
    monkeypatch.setenv("JIUJIN_ACTIONS_TOKEN", "from-the-environment")
    assert tokens.service_token("actions") == "from-the-environment"
    assert tokens.bearer_headers("actions") == {"Authorization": "Bearer from-the-environment"}


def test_without_a_token_a_client_sends_none_and_an_unknown_service_is_an_error(secrets_folder: Path) -> None:
    assert tokens.service_token("devices") is None
    assert tokens.bearer_headers("devices") == {}
    with pytest.raises(ValueError, match="unknown service"):
        tokens.token_path("stranger")


def test_an_empty_secret_file_is_refused_rather_than_trusted(secrets_folder: Path) -> None:
    secrets_folder.mkdir()
    (secrets_folder / "actions-token").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        tokens.service_token("actions")


def _make(path: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    results.put(tokens.create_secret_file(Path(path)))


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "follow-secret"
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [multiprocessing.Process(target=_make, args=(str(path), results)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    seen = {results.get(timeout=5) for _ in workers}
    assert seen == {path.read_text().strip()}
