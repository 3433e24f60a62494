"""The sync flows, one module per flow (stock, orders, statuses, cancellation, picking errors, marking, reconcile).

Each module declares its own job kinds and schedules in a :class:`~bitrix_inflow.jobs.blueprint.Blueprint` named
``blueprint``; the service finds them here, so adding a flow never means editing a central list.
"""
