"""Inflow WMS adapter."""
