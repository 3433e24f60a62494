"""Read the TOML file and the environment, and report *every* problem at once, each naming its key and the fix."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import SettingsError

from bitrix_inflow.config.settings import ENV_PREFIX, Settings
from bitrix_inflow.errors import ConfigError, ConfigProblem

DEFAULT_CONFIG_PATH = Path("bitrix-inflow.toml")
CONFIG_PATH_ENV = "BITRIX_INFLOW_CONFIG"


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
        data = read_toml(file)
    elif required or path is not None or CONFIG_PATH_ENV in os.environ:
        raise ConfigError(
            str(file), [ConfigProblem("(file)", f"{file} does not exist; create it or fix the path")]
        )
    return validated(data, problems, source=source, env_prefix=ENV_PREFIX)


def validated(
    data: dict[str, Any], problems: list[ConfigProblem], *, source: str, env_prefix: str
) -> Settings:
    """The settings from a file's data and the variables under ``env_prefix``, or every problem at once."""
    problems.extend(_resolve_secrets(data, env_prefix))
    problems.extend(_unknown_environment_sections(env_prefix))
    try:
        settings = Settings(_env_prefix=env_prefix, **data)
    except PydanticValidationError as exc:
        problems.extend(_translate(exc, data))
        raise ConfigError(source, problems) from exc
    except SettingsError as exc:
        problems.append(_environment_json_problem(exc, env_prefix))
        raise ConfigError(source, problems) from exc
    if problems:
        raise ConfigError(source, problems)
    return settings


def read_toml(file: Path) -> dict[str, Any]:
    """A TOML file's data, or a :class:`ConfigError` naming the file and what is wrong with it."""
    try:
        return tomllib.loads(_read_text(file))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), [ConfigProblem("(file)", f"not valid TOML: {exc}")]) from exc
    except ValueError as exc:  # _read_text's message already says what is wrong and how to fix it
        raise ConfigError(str(file), [ConfigProblem("(file)", str(exc))]) from exc


def _unknown_environment_sections(env_prefix: str) -> Iterator[ConfigProblem]:
    """pydantic-settings ignores a prefixed variable whose section it does not know; a typo must not vanish."""
    for name in sorted(os.environ):
        if not name.upper().startswith(env_prefix):
            continue
        section = name[len(env_prefix) :].split("__")[0].lower()
        if section not in Settings.model_fields:
            yield ConfigProblem(
                section or "(root)",
                f"unknown key (from the environment variable {name}); {_known_keys_hint([section])}",
            )


def _environment_json_problem(exc: SettingsError, env_prefix: str) -> ConfigProblem:
    """A whole section given as one variable must be a JSON object; name the variable and the simpler way."""
    found = re.search(r'field "([^"]+)"', str(exc))
    field = found.group(1) if found else "(environment)"
    variable = env_prefix + field.upper()
    nested = _model_of(Settings.model_fields[field].annotation) if field in Settings.model_fields else None
    example = (
        f"{variable}__{next(iter(nested.model_fields)).upper()}=..." if nested else f"{variable}__KEY=..."
    )
    return ConfigProblem(
        field,
        f"the environment variable {variable} is not a valid JSON object; set single keys instead, e.g. {example}",
    )


def _read_text(file: Path) -> str:
    """A file's text, or a ValueError whose message names the file and the fix (never its content)."""
    if file.is_dir():
        raise ValueError(f"{file} is a directory; give the path of a file")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{file} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ValueError(f"cannot read {file}: {exc.strerror}; fix the path or its rights") from None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside an annotation such as ``X``, ``X | None`` or ``Optional[X]``."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _secret_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        if nested is not None:
            yield from _secret_paths(nested, (*prefix, name))
        elif _is_secret(field.annotation):
            yield (*prefix, name)


def _resolve_secrets(data: dict[str, Any], env_prefix: str) -> Iterator[ConfigProblem]:
    """Refuse secrets written in the file; replace each ``<secret>_file = "path"`` by the file's content."""
    for path in _secret_paths(Settings):
        section: Any = data
        for part in path[:-1]:
            section = section.get(part) if isinstance(section, dict) else None
        if not isinstance(section, dict):
            continue
        key = path[-1]
        dotted = ".".join(path)
        if key in section:
            env = env_prefix + "__".join(part.upper() for part in path)
            yield ConfigProblem(
                dotted,
                f"secrets must not be written in the TOML file; set the environment variable {env} "
                f"or point {dotted}_file at a file that holds it",
            )
        if f"{key}_file" in section:
            file = Path(section.pop(f"{key}_file"))
            try:
                section[key] = _read_text(file).strip()
            except ValueError as exc:
                yield ConfigProblem(f"{dotted}_file", str(exc))


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
        nested = _model_of(field.annotation) if field else None
        if nested is None:
            break
        model = nested
    return "known keys here: " + ", ".join(sorted(model.model_fields))
