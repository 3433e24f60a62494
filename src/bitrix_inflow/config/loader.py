"""Read the TOML file and the environment, and report *every* problem at once, each naming its key and the fix."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError

from bitrix_inflow.config.settings import ENV_PREFIX, Settings

DEFAULT_CONFIG_PATH = Path("bitrix-inflow.toml")
CONFIG_PATH_ENV = "BITRIX_INFLOW_CONFIG"


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the configuration ({source}):\n{lines}")


def config_path(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_PATH_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_settings(path: Path | None = None, *, required: bool = False) -> Settings:
    """Load and validate; raises :class:`ConfigError` listing all problems. A missing default file is fine."""
    file = config_path(path)
    source = str(file) if file.exists() else f"defaults + environment ({file} not found)"
    data: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(file), [ConfigProblem("(file)", f"not valid TOML: {exc}")]) from exc
    elif required or path is not None or CONFIG_PATH_ENV in os.environ:
        raise ConfigError(str(file), [ConfigProblem("(file)", f"{file} does not exist; create it or fix the path")])
    problems.extend(_secrets_written_in_file(data))
    try:
        settings = Settings(**data)
    except PydanticValidationError as exc:
        problems.extend(_translate(exc, data))
        raise ConfigError(source, problems) from exc
    if problems:
        raise ConfigError(source, problems)
    return settings


def _secret_fields(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _secret_fields(annotation, f"{prefix}{name}.")
        elif SecretStr in getattr(annotation, "__args__", ()) or annotation is SecretStr:
            yield f"{prefix}{name}"


def _secrets_written_in_file(data: Mapping[str, Any]) -> Iterator[ConfigProblem]:
    for dotted in _secret_fields(Settings):
        section, _, key = dotted.rpartition(".")
        if isinstance(data.get(section), Mapping) and key in data[section]:
            env = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
            yield ConfigProblem(
                dotted,
                f"secrets must not be written in the TOML file; set the environment variable {env} "
                f"or point {section}.{key}_file at a file that holds it",
            )


def _translate(exc: PydanticValidationError, data: Mapping[str, Any]) -> Iterator[ConfigProblem]:
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        key = ".".join(loc) or "(root)"
        kind = error["type"]
        if kind == "extra_forbidden":
            yield ConfigProblem(key, f"unknown key; {_known_keys_hint(loc)}")
        elif kind in ("greater_than_equal", "greater_than") and loc and loc[-1].endswith("_seconds"):
            limit = error.get("ctx", {}).get("ge", error.get("ctx", {}).get("gt"))
            yield ConfigProblem(key, f"{error['input']} s is below the minimum of {limit} s; raise it")
        else:
            message = error["msg"].removeprefix("Value error, ")
            yield ConfigProblem(key, message)


def _known_keys_hint(loc: list[str]) -> str:
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return "known keys here: " + ", ".join(sorted(model.model_fields))
