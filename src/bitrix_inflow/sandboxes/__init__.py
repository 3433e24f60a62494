"""Faithful sandboxes of the remote systems (Inflow WMS, 1C-Bitrix). They share no code with the adapters that talk to them."""
