"""The chaos soak (issue 14): both sandboxes with faults on, several ``serve`` instances on one database (PostgreSQL),
thousands of orders over zones and carriers with picking errors, edits, cancellations from both sides and marked goods,
instances SIGKILLed and started again at random. At the end it prints the invariants and exits non-zero on any
violation.

* ``world``: the sandboxes, the fault mix, a fresh database, the configuration every instance reads;
* ``cluster``: the ``serve`` processes;
* ``customers``: the people (orders, edits, cancellations in the shop and in the warehouse, the shop's 503 bursts);
* ``chaos``: the killer;
* ``invariants``: what must hold, read from both sides;
* ``run``: one soak, start to verdict; ``main`` its command line (``python -m bench soak``).
"""
