"""Where a voice counter's own machine keeps its credential: ``JIUJIN_COUNTER_KEY``, else
``<secrets>/counters/<name>.key`` (mode 0600), which ``bin/jiujin kiosk add NAME`` writes and ``kiosk revoke``
removes; never a command line, which ``ps`` shows to every user. Stdlib only: the backend writes the file, the
counter's microphone side reads it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from security.tokens import secrets_dir

KEY_VARIABLE = "JIUJIN_COUNTER_KEY"


def counter_key_path(name: str) -> Path:
    """Where counter ``name``'s credential is kept on the counter's machine."""
    return secrets_dir() / "counters" / f"{name}.key"


def write_counter_key(name: str, key: str) -> Path:
    """Keep ``key`` as counter ``name``'s credential (replacing the old one): written privately (0600) beside it
    and renamed into place, so the microphone side never reads half a key."""
    path = counter_key_path(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(key + "\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_counter_key(name: str) -> str | None:
    """Counter ``name``'s credential: ``JIUJIN_COUNTER_KEY``, else its key file; None when neither has one."""
    from_env = os.environ.get(KEY_VARIABLE, "").strip()
    if from_env:
        return from_env
    try:
        return counter_key_path(name).read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None
