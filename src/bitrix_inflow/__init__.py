"""bitrix-inflow: keeps a 1C-Bitrix shop and an Inflow WMS warehouse in step."""

__version__ = "0.1.0"
