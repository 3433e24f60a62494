"""Write a configuration file as ``init`` proposes it: the TOML without a single secret, each secret in a file of
its own that only its owner may read, everything checked by loading it back before anyone is told it is done."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from bitrix_inflow.config.loader import load_settings

# Where each secret goes: its key in the settings → the file name it is kept under.
SECRET_FILES: Mapping[tuple[str, str], str] = {
    ("inflow", "api_key"): "inflow-api-key",
    ("inflow", "client_secret"): "inflow-client-secret",
    ("bitrix", "webhook_url"): "bitrix-webhook-url",
}


def write(
    path: Path,
    document: Mapping[str, Any],
    secrets: Mapping[tuple[str, str], str],
    *,
    secrets_dir: Path,
    header: str,
) -> list[Path]:
    """Write the secrets (mode 0600), then the TOML, loaded back before it replaces the old file; returns every file
    written. A configuration that does not load is reported (ConfigError) and leaves nothing behind: neither the
    new TOML nor the secret files this call created. Secrets are named by absolute path: the service may start from
    another directory."""
    body: dict[str, Any] = {section: dict(values) for section, values in document.items()}
    created: list[Path] = []
    written: list[Path] = []
    try:
        if secrets:
            secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for (section, key), secret in secrets.items():
            target = (secrets_dir / SECRET_FILES[(section, key)]).resolve()
            if not target.exists():
                created.append(target)
            _atomic(target, secret + "\n", mode=0o600)
            written.append(target)
            body.setdefault(section, {})[f"{key}_file"] = str(target)
            body[section].pop(key, None)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        text = "\n".join([f"# Written by `bitrix-inflow init` on {stamp}.", *lines, "", tomli_w.dumps(body)])
        draft = path.with_name(f".{path.name}.draft")
        created.append(draft)
        _atomic(draft, text, mode=0o640)
        load_settings(draft)
        draft.replace(path)
        created.remove(draft)
    except BaseException:
        for leftover in created:
            leftover.unlink(missing_ok=True)
        raise
    return [*written, path]


def _atomic(target: Path, text: str, *, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
