"""Faithful sandboxes of the remote systems (Inflow WMS, 1C-Bitrix); they share no code with the adapters."""
