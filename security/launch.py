"""What the launchers of Rasa and the action server share: where a listener binds, Rasa's API token and the action
server's shared secret. Stdlib only, so both environments (Rasa's Python 3.10, the app's 3.11) read one definition.

- Every listener binds to an interface read from a setting (``RASA_HOST``, ``ACTION_HOST`` …), 127.0.0.1 unless set.
- Rasa's HTTP API (trackers, ``PUT /model``) is served only when a token is configured: ``RASA_TOKEN``, else the file
  named by ``RASA_TOKEN_FILE``. Never a command-line argument, which ``ps`` shows to every user of the machine.
- The action server answers only callers presenting ``Authorization: Bearer <secret>``: ``ACTION_SERVER_TOKEN``,
  else the file ``action-server-token`` in the secrets folder (made when missing, mode 0600). Rasa sends it through
  endpoints.yml's ``action_endpoint.headers``, which Rasa fills from its environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from security.tokens import configured_secret, secrets_dir

LOOPBACK = "127.0.0.1"
ACTION_SECRET_VARIABLE = "ACTION_SERVER_TOKEN"
ACTION_SECRET_FILE = "action-server-token"
RASA_TOKEN_VARIABLE = "RASA_TOKEN"
RASA_TOKEN_FILE_VARIABLE = "RASA_TOKEN_FILE"


def listen_host(variable: str) -> str:
    """The interface a listener binds to: the setting ``variable`` when set, else 127.0.0.1."""
    return os.environ.get(variable, "").strip() or LOOPBACK


def action_secret_path() -> Path:
    """The action server's shared secret when the environment does not carry it."""
    return secrets_dir() / ACTION_SECRET_FILE


def action_server_token(*, create: bool = True) -> str | None:
    """The action server's shared secret: ACTION_SERVER_TOKEN, else its file (made first with ``create``)."""
    return configured_secret(ACTION_SECRET_VARIABLE, action_secret_path(), create=create)


def rasa_token() -> str | None:
    """Rasa's API token: RASA_TOKEN, else the content of the file RASA_TOKEN_FILE; None: the API stays off.

    A RASA_TOKEN_FILE that is missing or empty is an error rather than a quiet "no API": whoever set it meant one."""
    from_env = os.environ.get(RASA_TOKEN_VARIABLE, "").strip()
    if from_env:
        return from_env
    file = os.environ.get(RASA_TOKEN_FILE_VARIABLE, "").strip()
    if not file:
        return None
    value = Path(file).read_text(encoding="ascii").strip()
    if not value:
        raise ValueError(f"{file} (RASA_TOKEN_FILE) is empty")
    return value
