"""Operator use cases, shared by the command line and (later) the web console.

Each use case validates first, then changes the state database in one transaction, and records who asked. Callers
present the typed result or the error (``bitrix_inflow.errors``); they never run SQL or decide on their own what is
valid, so the terminal and the console cannot drift apart.
"""
