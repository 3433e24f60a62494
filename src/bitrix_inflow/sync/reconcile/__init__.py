"""Reconciliation: the shop, the warehouse and the service compared; safe repairs, incidents for the rest."""
