"""systemd units of the production configuration (``python -m deploy systemd --out DIR``): the parts of
`stack.production` on fixed ports (`stack.production.Ports.fixed`), as `stack.systemd` writes them.

The secrets come from the deployment (its environment or its secrets folder: ``--generate-secrets`` first) and
go to each part's own environment file, never into a unit. nginx's configuration is rendered into the deployment's
folder, where its unit reads it. Development-only parts (the simulators) have no unit: a site with units has a
real Official Account (WECHAT_* in the environment) and real devices (PRINTER_PORT_* …).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from deploy.refusals import DATABASE_PASSWORD_FILE, resolve_secrets
from deploy.stack import StackConfig, production
from security.tokens import create_secret_file
from stack.production import Ports
from stack.production import stack as production_description
from stack.systemd import write_units

DEFAULT_ENV_DIR = Path("/etc/jiujin")


def write_production_units(
    config: StackConfig, out: Path, *, env_dir: Path = DEFAULT_ENV_DIR, user: str | None = None
) -> list[Path]:
    """Write the units of ``config``'s parts into ``out``; the files written. ValueError without a real Official
    Account (``config.wechat_env``): units never run the WeChat simulator."""
    if config.wechat_env is None:
        raise ValueError("systemd units are for a real Official Account: set WECHAT_APPID and the other WECHAT_*")
    secrets = resolve_secrets(config.secrets_folder, os.environ)
    folder = config.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    password = create_secret_file(config.secrets_folder / DATABASE_PASSWORD_FILE)
    ports = Ports.fixed(config.instances, config.front_port or Ports.fixed(1).front)
    inputs = replace(production(config, folder, ports, secrets, password), simulate_devices=False)
    described = production_description(inputs)
    return write_units(described, out, env_dir=env_dir, user=user)
