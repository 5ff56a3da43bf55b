"""systemd units from a stack's description: one service per part, ordered and bound by what it comes after,
restarted on failure, and a target that starts them all (``systemctl start jiujin.target``).

A unit is started (for the units after it) only once its part is ready: ``ExecStartPost`` waits for the part's
health URL (``python -m stack.health``). Values of a part's secrets are never written into its unit: they go to the
part's own environment file (``<env dir>/<part>.env``, mode 0600), next to the deployment's shared one
(``<env dir>/jiujin.env``, e.g. the ``.env``). systemd kills a unit's whole control group when it stops, so no
process outlives its unit.
"""

from __future__ import annotations

import os
from pathlib import Path

from stack import commands
from stack.parts import Part, Stack
from stack.process import PROJECT_ROOT

PREFIX = "jiujin"
TARGET = f"{PREFIX}.target"
RESTART_SEC = 1


def unit_name(part: str) -> str:
    return f"{PREFIX}-{part}.service"


def _quote(argument: str) -> str:
    """One word of a command line as systemd reads it (specifiers and variables kept literal)."""
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"' if any(c in escaped for c in ' \t"\\;') or not escaped else escaped


def _environment_line(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'Environment="{name}={escaped}"'


def service(part: Part, *, env_dir: Path, user: str | None = None) -> str:
    """The unit of ``part``."""
    requires = " ".join(unit_name(name) for name in part.after)
    lines = [
        "[Unit]",
        f"Description={PREFIX}: {part.summary or part.name} ({part.name})",
        f"After=network-online.target {requires}".rstrip(),
        "Wants=network-online.target",
    ]
    if requires:
        lines.append(f"Requires={requires}")
    lines += [f"PartOf={TARGET}", "", "[Service]"]
    if part.oneshot:
        lines += ["Type=oneshot", "RemainAfterExit=yes"]
    else:
        lines += ["Type=simple", "Restart=on-failure", f"RestartSec={RESTART_SEC}"]
    if user:
        lines.append(f"User={user}")
    lines += [
        f"WorkingDirectory={PROJECT_ROOT}",
        "UMask=0077",
        f"EnvironmentFile=-{env_dir / 'jiujin.env'}",
    ]
    if part.secrets:
        lines.append(f"EnvironmentFile={env_dir / f'{part.name}.env'}")
    lines += [_environment_line(k, v) for k, v in sorted(part.env.items()) if k not in part.secrets]
    lines.append("ExecStart=" + " ".join(_quote(word) for word in part.command))
    if part.health_url and not part.oneshot:
        wait = (commands.PYTHON, "-m", "stack.health", part.health_url, "--within", f"{part.ready_within_s:.0f}")
        lines.append("ExecStartPost=" + " ".join(_quote(word) for word in wait))
    lines += [
        f"TimeoutStartSec={part.ready_within_s + 10:.0f}",
        "KillMode=control-group",
        "",
        "[Install]",
        f"WantedBy={TARGET}",
        "",
    ]
    return "\n".join(lines)


def target(described: Stack) -> str:
    """The unit that starts (and stops) every part of ``described``."""
    wants = " ".join(unit_name(part.name) for part in described.parts)
    return "\n".join(
        [
            "[Unit]",
            f"Description={PREFIX} ({described.profile}): every part",
            f"Wants={wants}",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def secrets_file(part: Part) -> str:
    """The lines of ``part``'s own environment file: its secrets."""
    return "".join(f"{name}={part.env[name]}\n" for name in sorted(part.secrets) if name in part.env)


def write_units(described: Stack, out: Path, *, env_dir: Path, user: str | None = None) -> list[Path]:
    """Write a unit per part (development-only parts left out), the target, and each part's secrets file (mode
    0600) into ``out``; returns what was written. Install them with ``cp`` to /etc/systemd/system (units) and
    ``env_dir`` (the ``.env`` files), then ``systemctl daemon-reload``."""
    described = described.for_production_units()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for part in described.parts:
        path = out / unit_name(part.name)
        path.write_text(service(part, env_dir=env_dir, user=user), encoding="utf-8")
        written.append(path)
        if part.secrets:
            secret = out / f"{part.name}.env"
            descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets_file(part))
            written.append(secret)
    (out / TARGET).write_text(target(described), encoding="utf-8")
    written.append(out / TARGET)
    return written


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections and their settings (each setting's values in order): for checking generated units."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise ValueError(f"not a unit file line: {raw!r}")
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections
