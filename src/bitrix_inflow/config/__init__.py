"""Configuration: one TOML file plus ``BITRIX_INFLOW__SECTION__KEY`` environment overrides, validated at once."""

from bitrix_inflow.config.loader import ConfigError, ConfigProblem, load_settings
from bitrix_inflow.config.settings import Settings

__all__ = ["ConfigError", "ConfigProblem", "Settings", "load_settings"]
