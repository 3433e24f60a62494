"""All tables of the state store (SQLAlchemy Core).

Guarantees live here, in constraints and partial indexes, not in ``if`` checks in Python:

* ``ix_jobs_dedupe_active``: at most one queued-or-running job per dedupe key (race-free enqueue de-dup);
* ``ix_jobs_lock_running``: at most one running job per lock key (per-entity serialisation across machines);
* ``uq_schedule_slots``: one row per (schedule, slot) — each periodic tick fires once across all instances;
* ``uq_product_links_product``: one shop product holds the stock of one SKU at most (the stock binder);
* ``ix_stock_documents_open``: at most one stock document per connection is between "planned" and "conducted", so a
  run cannot start a second document while an earlier one (maybe crashed mid-way) is unresolved.

Every business row carries ``connection_id`` (one shop paired with one warehouse) so that one deployment can serve
several pairs later without a redesign.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from bitrix_inflow.store.types import UtcDateTime

# Deterministic constraint names keep Alembic migrations identical on both dialects.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")

connections = Table(
    "connections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("payload", JSON(), nullable=False),
    Column("dedupe_key", String(300)),
    Column("lock_key", String(300)),
    Column("priority", Integer, nullable=False, server_default=text("100")),
    # queued | running | done | dead | cancelled
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", UtcDateTime(), nullable=False),
    Column("leased_by", String(200)),
    Column("lease_until", UtcDateTime()),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
)

Index(
    "ix_jobs_dedupe_active",
    jobs.c.dedupe_key,
    unique=True,
    sqlite_where=text("status IN ('queued', 'running')"),
    postgresql_where=text("status IN ('queued', 'running')"),
)
Index(
    "ix_jobs_lock_running",
    jobs.c.lock_key,
    unique=True,
    sqlite_where=text("status = 'running'"),
    postgresql_where=text("status = 'running'"),
)
# In claim order: a claim walks queued jobs by (priority, id) and stops at the first runnable one; led by run_after
# it read and sorted every queued job (7.7 ms a claim at 6,700 queued, migration 0008).
Index("ix_jobs_claim", jobs.c.status, jobs.c.priority, jobs.c.id)
Index("ix_jobs_lock_key", jobs.c.lock_key, jobs.c.status)
Index("ix_jobs_lease", jobs.c.status, jobs.c.lease_until)

workers = Table(
    "workers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("hostname", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("heartbeat_at", UtcDateTime(), nullable=False),
)

schedule_slots = Table(
    "schedule_slots",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("schedule", String(100), nullable=False),
    Column("slot", UtcDateTime(), nullable=False),
    Column("job_id", BigInteger),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("connection_id", "schedule", "slot", name="uq_schedule_slots"),
)

status_map = Table(
    "status_map",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("inflow_status", String(32), primary_key=True),
    Column("bitrix_status", String(2), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

# Every change of the status mapping: who, when, the old and the new Bitrix status (None: unmapped).
status_map_audit = Table(
    "status_map_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("inflow_status", String(32), nullable=False),
    Column("old", String(2)),
    Column("new", String(2)),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("changed_by", String(200), nullable=False),
)

# -- stock sync ----------------------------------------------------------------------------------------------------

# The operator's explicit SKU → product rows (`bitrix-inflow products import`); they win over the matching key.
product_table = Table(
    "product_table",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("sku", String(100), primary_key=True),
    Column("product_id", BigInteger, nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
    Column("imported_by", String(200), nullable=False),
)

# The binder: which shop product (or trade offer) shows the stock of which warehouse SKU, as last matched.
product_links = Table(
    "product_links",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("sku", String(100), primary_key=True),
    Column("product_id", BigInteger, nullable=False),
    Column("parent_id", BigInteger),  # a trade offer's product
    Column("origin", String(8), nullable=False),  # table | key
    Column("barcode_multi", Boolean, nullable=False),
    Column("matched_at", UtcDateTime(), nullable=False),
    Column(
        "product_group", String(255)
    ),  # the group whose safety buffer applies (when group buffers are used)
    UniqueConstraint("connection_id", "product_id", name="uq_product_links_product"),
)

# What the last matching could not link, on either side: reported, never skipped silently.
stock_unmatched = Table(
    "stock_unmatched",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("side", String(12), primary_key=True),  # warehouse | shop | ambiguous | table | document
    Column("item", String(100), primary_key=True),  # a SKU or a product id
    Column("detail", Text, nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
)

# What the warehouse last said it can sell, per (SKU, warehouse): an incremental read names one warehouse's row, and a
# product's quantity is the sum over all of them.
stock_levels = Table(
    "stock_levels",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("sku", String(100), primary_key=True),
    Column("warehouse", String(64), primary_key=True),
    Column("available", Integer, nullable=False),
    Column("read_at", UtcDateTime(), nullable=False),
)

# What the last successful push left in the shop: only what differs from it is written again.
stock_pushed = Table(
    "stock_pushed",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("product_id", BigInteger, primary_key=True),
    Column("store_id", Integer, primary_key=True),  # 0: the product's own quantity (no inventory management)
    Column("quantity", Integer, nullable=False),
    Column("pushed_at", UtcDateTime(), nullable=False),
)

# SKUs a WMS `stock.changed` webhook named, waiting for the targeted sync that reads them (a doorbell, not the truth).
stock_hints = Table(
    "stock_hints",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("sku", String(100), primary_key=True),
    Column("warehouse", String(64), primary_key=True),
    Column("hinted_at", UtcDateTime(), nullable=False),
)

# Where the next incremental read of a warehouse starts, and when it was last read in full.
stock_cursors = Table(
    "stock_cursors",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("warehouse", String(64), primary_key=True),
    Column("updated_since", UtcDateTime()),
    Column("full_at", UtcDateTime()),
)

# The exactly-once journal of stock documents (inventory management on): a document is planned here before it is
# added in the shop, its id kept before it is conducted, so after a crash it is conducted or deleted, never doubled.
stock_documents = Table(
    "stock_documents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("run", String(64), nullable=False),
    Column("doc_type", String(1), nullable=False),  # S adds stock, D writes it off
    Column("title", String(200), nullable=False),  # carries the run, so a draft is found after a crash
    Column("bitrix_id", BigInteger),
    Column("state", String(12), nullable=False),  # planned | added | conducted | deleted
    Column("lines", JSON(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("connection_id", "run", "doc_type", name="uq_stock_documents_run"),
)

Index(
    "ix_stock_documents_open",
    stock_documents.c.connection_id,
    unique=True,
    sqlite_where=text("state IN ('planned', 'added')"),
    postgresql_where=text("state IN ('planned', 'added')"),
)

# -- orders -----------------------------------------------------------------------------------------------------------

# Where a poll or a feed resumes (the Bitrix order watermark, the WMS changes-feed cursor): saved in the same
# transaction as the work it covers, so a crash repeats that work instead of skipping it.
sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", JSON(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The binder of orders: one row per Bitrix order the service has seen, with where it stands.
order_bindings = Table(
    "order_bindings",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("bitrix_order_id", BigInteger, primary_key=True),
    Column("account_number", String(100)),
    # seen | ineligible | before_go_live | planned | forwarded | conflict | closed
    Column("state", String(16), nullable=False),
    Column("reason", Text),  # why it is held back or in conflict, in words an operator reads
    Column("generation", Integer, nullable=False),  # the plan in force; a re-plan after an edit adds one
    Column(
        "fingerprint", String(64)
    ),  # of what the plan was made from (lines, shipments): an edit changes it
    Column("applied_status", String(16)),  # the Inflow aggregate whose Bitrix status the order got
    # The Bitrix order version the service has accounted for: what it planned from, or reached by its own writes.
    # A poll row with another version was changed by someone else and is checked for an edit.
    Column("seen_version", Integer),
    Column("shipments_written", JSON()),  # shipment id → [tracking, shipped] as the service last wrote them
    # The order version the latest poll saw (any process's): a copy of the order read ahead of its forwarding run
    # with an older version is not used.
    Column("polled_version", Integer),
    # Events the shop will send about the service's own writes (each save: ONSALEORDERSAVED; a shipment's also
    # ONSHIPMENTENTITYSAVED): each one that arrives is an echo, consumed, and starts no poll.
    Column("echoes", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The picking orders of a Bitrix order, one per (zone, carrier) of a plan generation.
order_parts = Table(
    "order_parts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("bitrix_order_id", BigInteger, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("part_no", Integer, nullable=False),
    Column("warehouse", String(64), nullable=False),
    Column("zone", String(32), nullable=False),  # "": the warehouse chooses
    Column("carrier", String(100), nullable=False),
    Column("external_ref", String(64), nullable=False),
    Column("idempotency_key", String(64), nullable=False),  # chosen with the plan, before the first attempt
    Column("wms_order_id", String(64)),
    # planned | sending | accepted | cancelling | superseded | short | failed; after an edit a replacement
    # waits (``waiting``) until the warehouse confirmed its predecessor cancelled, or is ``dropped`` if it could not be
    Column("state", String(12), nullable=False),
    Column("wms_status", String(16)),
    Column("wms_version", Integer),
    Column("tracking_carrier", String(100)),
    Column("tracking_number", String(100)),
    Column("error", JSON()),
    # The marked lines' codes and packages as the warehouse reported them at packing:
    # {"lines": {line_no: {"codes": [...], "qty": n}}, "sscc": {code: sscc}}
    Column("marking", JSON()),
    # captured (reported, not checked) → checked (valid, in the ledger) → written (in the shop); problem: held for a
    # person. None: nothing marked, or not packed yet.
    Column("marking_state", String(12)),
    # The codes the shop held for the part's marked lines when it was planned ({line_no: [codes]}): sent with it,
    # the same on every retry of its creation (its idempotency key covers the whole request).
    Column("given_codes", JSON()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("connection_id", "bitrix_order_id", "generation", "part_no", name="uq_order_parts_part"),
    UniqueConstraint("connection_id", "warehouse", "external_ref", name="uq_order_parts_ref"),
    UniqueConstraint("connection_id", "idempotency_key", name="uq_order_parts_key"),
    UniqueConstraint("connection_id", "wms_order_id", name="uq_order_parts_wms"),
)

# No code path can hold two live picking orders for one (order, zone, carrier): a re-plan supersedes the old part
# (state cancelled/superseded) before its replacement counts as live.
LIVE_PART_STATES = ("planned", "sending", "accepted", "cancelling", "short")
Index(
    "ix_order_parts_live_group",
    order_parts.c.connection_id,
    order_parts.c.bitrix_order_id,
    order_parts.c.zone,
    order_parts.c.carrier,
    unique=True,
    sqlite_where=text("state IN ('planned', 'sending', 'accepted', 'cancelling', 'short')"),
    postgresql_where=text("state IN ('planned', 'sending', 'accepted', 'cancelling', 'short')"),
)

order_part_lines = Table(
    "order_part_lines",
    metadata,
    Column("part_id", BigId, ForeignKey("order_parts.id", ondelete="CASCADE"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("basket_id", BigInteger, nullable=False),
    Column("shipment_id", BigInteger, nullable=False),
    Column("sku", String(100), nullable=False),
    Column("qty", Integer, nullable=False),
)

# WMS webhook deliveries already taken (the same event_id comes again on every retry).
inflow_events = Table(
    "inflow_events",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("event_id", String(100), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False),
)

# What a person must decide (an edit after picking started, a status the shop refused): recorded once per subject.
# What a person must decide (picking errors, refused cancellations and statuses, edits after picking): one row per
# (order, kind, subject), so retries and restarts can never open it twice, nor tell the manager twice.
incidents = Table(
    "incidents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("bitrix_order_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column(
        "subject", String(100), nullable=False
    ),  # what it is about (a part's reference, a status), "" for none
    Column("detail", JSON(), nullable=False),  # what happened: SKU, bin, reason, what was wanted
    Column("ways_out", JSON(), nullable=False),  # the ways out a person may choose, in order
    Column("state", String(12), nullable=False),  # open | resolving | resolved
    # pending → telling (a request may have reached the shop) → told; not_needed for settled ones carried over
    Column("notice_state", String(12), nullable=False),
    Column("notice_kind", String(16)),  # task | notification
    Column("notice_ref", String(64)),  # the task's or notification's id in the shop
    Column("resolution", JSON()),  # the way out taken, by whom
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime()),
    UniqueConstraint("connection_id", "bitrix_order_id", "kind", "subject", name="uq_incidents_kind"),
)
Index("ix_incidents_state", incidents.c.connection_id, incidents.c.state, incidents.c.kind)

# Who did what to an incident, when: appended only.
incident_audit = Table(
    "incident_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_id", BigId, ForeignKey("incidents.id"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(100), nullable=False),  # service, or the person (cli user, console user)
    Column("action", String(32), nullable=False),  # opened | told | chose | resolved | failed
    Column("detail", JSON(), nullable=False),
)
Index("ix_incident_audit_incident", incident_audit.c.incident_id, incident_audit.c.id)

# Every marked unit the service shipped: its full code (what the fiscal receipt carries) and its identity (the unit's
# key), the order, shipment, picking order and package it left in, and what became of it. A unit is sold once: no
# two rows hold the same identity unless every other has come back (returned units may be sold again).
marking_ledger = Table(
    "marking_ledger",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("identity", String(64), nullable=False),  # 01 + GTIN + 21 + serial
    Column("code", String(256), nullable=False),  # the full code, crypto tail and GS separators included
    Column("gtin", String(14), nullable=False),
    Column("bitrix_order_id", BigInteger, nullable=False),
    Column("shipment_id", BigInteger),  # the shop's shipment it left with
    Column("basket_id", BigInteger),  # the shop's basket line it was sold as
    Column("picking_ref", String(64), nullable=False),  # the warehouse's picking order
    Column("sscc", String(18)),  # the package it left in
    Column("state", String(16), nullable=False),  # shipped | receipt_rejected | returned
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index(
    "ix_marking_ledger_sold_once",
    marking_ledger.c.connection_id,
    marking_ledger.c.identity,
    unique=True,
    sqlite_where=text("state != 'returned'"),
    postgresql_where=text("state != 'returned'"),
)
Index(
    "ix_marking_ledger_order",
    marking_ledger.c.connection_id,
    marking_ledger.c.bitrix_order_id,
    marking_ledger.c.id,
)
Index("ix_marking_ledger_created", marking_ledger.c.connection_id, marking_ledger.c.created_at)
Index(
    "ix_marking_ledger_line",
    marking_ledger.c.connection_id,
    marking_ledger.c.bitrix_order_id,
    marking_ledger.c.shipment_id,
    marking_ledger.c.basket_id,
)

# An order's history for `orders show`: what happened to it, from which side, appended only.
order_timeline = Table(
    "order_timeline",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("bitrix_order_id", BigInteger, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("source", String(16), nullable=False),  # bitrix | inflow | service | operator
    Column("kind", String(32), nullable=False),
    Column("detail", JSON(), nullable=False),
)
Index(
    "ix_order_timeline_order",
    order_timeline.c.connection_id,
    order_timeline.c.bitrix_order_id,
    order_timeline.c.id,
)

# The web console's people: one row per sign-in name, the password as a slow salted hash (scrypt), the language
# the person chose (None: the browser's). Failed sign-ins lock the name for a while (guessing costs time).
console_users = Table(
    "console_users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    # The pair whose console this person signs in to (names are unique across pairs: one sign-in, one shop).
    Column("connection_id", String(64), nullable=False, server_default=text("'default'")),
    Column("password_hash", String(255), nullable=False),
    Column("language", String(8)),
    Column("failed_sign_ins", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# A signed-in browser: the cookie carries a random token, the table only its SHA-256 (a copy of the database signs
# nobody in). Every form of the session carries its CSRF token.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigId, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
Index("ix_console_sessions_user_id", console_sessions.c.user_id)

# What people did from the console or the CLI that is not audited elsewhere (settings, jobs, sign-ins): appended only.
console_audit = Table(
    "console_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64)),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(48), nullable=False),
    Column("target", String(200), nullable=False, server_default=text("''")),
    Column("detail", JSON(), nullable=False),
)
Index("ix_console_audit_at", console_audit.c.at, console_audit.c.id)

# Settings an operator changes at run time from the console, over the file's (intervals, eligibility, safety
# buffer): one row per (connection, key), read by the jobs at each run.
runtime_settings = Table(
    "runtime_settings",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", JSON(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(100), nullable=False),
)

# What `init` saw of both systems (shop and warehouse facts, as plain JSON) and what was chosen, each run: the next run
# compares against the latest to say what changed on either side.
onboarding_snapshots = Table(
    "onboarding_snapshots",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("taken_at", UtcDateTime(), nullable=False),
    Column("taken_by", String(100), nullable=False),
    Column("facts", JSON(), nullable=False),
    Column("choices", JSON(), nullable=False),
    Index("ix_onboarding_snapshots_connection_id", "connection_id", "id"),
)
