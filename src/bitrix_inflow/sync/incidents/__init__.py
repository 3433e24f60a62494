"""Incidents: what a person must decide, opened once, the shop's manager told once, and the way out carried out."""
