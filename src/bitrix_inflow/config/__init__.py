"""Configuration: one TOML file plus ``BITRIX_INFLOW__SECTION__KEY`` environment overrides, validated at once."""

from bitrix_inflow.config.loader import load_settings
from bitrix_inflow.config.settings import Settings

__all__ = ["Settings", "load_settings"]
