"""The durable job engine: a transactional outbox in the service's own database.

Jobs are enqueued in the same transaction as the business change that calls for them; workers on any number of
machines claim them with leases, heartbeat while they work, and a reaper re-queues the jobs of workers that died.
What happens after a failure is decided by the error taxonomy (``bitrix_inflow.errors``) and a retry policy that is
data, not code. Delivery is at-least-once; handlers make their effects idempotent, so effects happen exactly once.
"""
