"""One stock sync run: read the warehouse, match, compute the shop's quantities, write only what changed.

Kinds of run:

* **incremental** (every ``schedules.stock_seconds``): the warehouse rows changed since the cursor;
* **full** (nightly, at start-up, ``sync stock --full``): every row, the matching refreshed, and in quantity mode
  every linked product compared, so drift on either side heals;
* **targeted** (a WMS ``stock.changed`` webhook, ``sync stock --sku``): the SKUs named.

Exactly once, per mode:

* quantity mode writes absolute quantities in batches of 50; after each batch its quantities are recorded in the
  snapshot, and the read cursor moves only when every batch landed, in the same transaction as the last one. A
  crash anywhere repeats at most the unrecorded batch, and writing the same absolute quantity twice is harmless;
* document mode journals each document before adding it (its title carries the run), keeps its id before
  conducting it, and starts every run by resolving what a crashed run left: a conducted document stays, a draft is
  deleted, and the new plan is computed against the stores' real amounts, so no delta is ever booked twice.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
import uuid
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import structlog
from sqlalchemy import Engine

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.domain import stock as rules
from bitrix_inflow.domain.matching import ShopProduct, match
from bitrix_inflow.domain.stock import Change, SafetyBuffer, ShopKey, StockKey
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as store
from bitrix_inflow.sync.stock.read import StockRead, Stopped, read_stock, stop_if_asked
from bitrix_inflow.sync.stock.shop import DocumentLine, ShopStock
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.stock")

WRITE_BATCH = 50  # one Bitrix `batch` request carries at most 50 commands
DOCUMENT_TITLE = "bitrix-inflow stock {run} {doc_type}"
# Why a quantity is written that the incremental runs write by themselves (others are drift only a full run heals).
WAREHOUSE_CHANGED = "the warehouse changed"


@dataclass(frozen=True)
class StockOptions:
    warehouses: tuple[str, ...]
    match_key: str = "xmlId"
    group_key: str | None = None
    aggregate: Literal["wms", "service"] = "wms"
    buffer: SafetyBuffer = field(default_factory=SafetyBuffer)
    stores: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    product_id: int
    store_id: int  # 0: the product's own quantity
    skus: tuple[str, ...]
    before: int | None
    after: int
    why: str


@dataclass
class StockReport:
    kind: str
    mode: str = "quantity"  # or "documents"
    read: int = 0
    matched: int = 0
    changed: int = 0
    written: int = 0
    unmatched: int = 0
    errors: list[str] = field(default_factory=list)  # failures: the read cursor waits until they are gone
    # Known, reported conditions that no retry changes (products left out on purpose): they never hold the cursor.
    notes: list[str] = field(default_factory=list)
    plan: list[PlannedWrite] = field(default_factory=list)
    documents: list[int] = field(default_factory=list)


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _no_progress(stage: str, done: int, total: int) -> None:
    del stage, done, total


@dataclass
class _Run:
    """What every step of one run shares."""

    engine: Engine
    shop: ShopStock
    connection_id: str
    clock: Clock
    dry_run: bool
    report: StockReport
    progress: Progress
    # What the shop shows now, per product, when the run read the catalogue (full runs): drift on the shop's side
    # (an edit in the admin panel) is seen and healed, not only what changed in the warehouse.
    shop_shows: dict[int, int] = field(default_factory=dict)
    orphaned: dict[int, str] = field(default_factory=dict)  # product → the SKU it showed until this run


def sync_stock(
    engine: Engine,
    wms: InflowPort,
    shop: ShopStock,
    options: StockOptions,
    *,
    clock: Clock,
    full: bool = False,
    skus: Collection[str] | None = None,
    dry_run: bool = False,
    connection_id: str = "default",
    pending: Mapping[StockKey, int] | None = None,
    progress: Progress = _no_progress,
) -> StockReport:
    """One run (see the module's docstring). ``pending``: units per (SKU, warehouse) the shop has sold but the
    warehouse has not reserved yet; None reads them from the orders' picking orders (the oversell guard)."""
    kind = "targeted" if skus is not None else "full" if full else "incremental"
    report = StockReport(kind=kind)
    documents = shop.inventory_management_on()
    report.mode = "documents" if documents else "quantity"

    with engine.connect() as conn:
        cursors = {wh: store.load_cursor(conn, connection_id, wh) for wh in options.warehouses}
        links = store.load_links(conn, connection_id)
        if pending is None:
            pending = order_store.pending_units(conn, connection_id)
    since = None if full or skus is not None else {wh: c.updated_since for wh, c in cursors.items()}
    progress("read", 0, 0)
    read, shop_catalogue = _read_both(wms, shop, options, since=since, skus=skus, rematch=full or not links)
    report.read = read.rows

    run = _Run(engine, shop, connection_id, clock, dry_run, report, progress)
    if shop_catalogue is not None:
        linked_before = links
        links = _rematch(run, read, shop_catalogue)
        shop_catalogue = None  # 100,000s of products: not kept through the writes
        # A product that showed a warehouse SKU's stock and no longer matches one (the warehouse stopped reporting
        # the SKU, or its key changed) must not keep selling the old quantity: it gets 0, and is reported.
        still = {link.product_id for link in links.values()}
        run.orphaned = {
            link.product_id: sku for sku, link in linked_before.items() if link.product_id not in still
        }
    else:
        links = {**links, **_link_newcomers(run, options, {sku for sku, _ in read.available}, links)}
    if skus is not None or full:
        # A SKU the warehouse names no row for holds nothing there: the shop must show 0, not its old quantity.
        wanted_skus = set(skus) if skus is not None else set(links)
        for sku in wanted_skus:
            for warehouse in options.warehouses:
                read.available.setdefault((sku, warehouse), 0)
    seen = {sku for sku, _ in read.available}
    report.matched = len(seen & set(links))
    if not full:
        report.unmatched = len(seen - set(links))
    # Units sold and not yet reserved lower a SKU's quantity even when the warehouse said nothing new of it.
    recompute = seen if skus is not None else seen | {sku for sku, _ in pending if sku in links}
    # A product's quantity is the sum over warehouses, and an incremental read may name one warehouse's row of a
    # SKU: the others come from what the warehouse said before.
    with engine.begin() as conn:
        levels = store.load_levels(conn, connection_id, None if full else recompute)
        levels.update(read.available)
        if not dry_run:
            store.record_levels(conn, connection_id, read.available, now=clock.now())
    levels = {key: qty for key, qty in levels.items() if key[0] in recompute and key[1] in options.warehouses}

    # Groups come with the links (the full sync read them), so every kind of run applies the same group buffer.
    groups = {sku: link.group for sku, link in links.items() if link.group is not None}
    targets = rules.targets(levels, buffer=options.buffer, groups=groups, pending=pending)
    stores = dict(options.stores) if documents else None
    if documents:
        missing = sorted(set(options.warehouses) - set(options.stores))
        if missing:
            report.errors.append(
                f"inventory management is on but warehouse(s) {', '.join(missing)} have no Bitrix store: "
                "map them in [stock] stores (WMS warehouse = store id)"
            )
    wanted = rules.shop_quantities(
        targets, {sku: link.product_id for sku, link in links.items()}, stores=stores
    )
    for product_id in run.orphaned:
        for store_id in sorted(set(stores.values())) if stores is not None else [0]:
            wanted[(product_id, store_id)] = 0
    skus_of: dict[int, list[str]] = {}
    for sku, link in links.items():
        skus_of.setdefault(link.product_id, []).append(sku)
    for product_id, sku in run.orphaned.items():
        skus_of[product_id] = [f"{sku} (no longer linked)"]

    if documents:
        _sync_documents(run, wanted, links, skus_of)
    else:
        _sync_quantities(run, wanted, links, skus_of, full=full)

    if not dry_run and not report.errors:
        with engine.begin() as conn:
            now = clock.now()
            for warehouse in options.warehouses:
                previous = cursors[warehouse]
                cursor = store.Cursor(
                    updated_since=read.high_water.get(warehouse) or previous.updated_since,
                    full_at=now if full else previous.full_at,
                )
                if skus is None:  # a targeted read saw only some rows: it says nothing of the others
                    store.save_cursor(conn, connection_id, warehouse, cursor)
    log.info(
        "stock.synced",
        kind=report.kind,
        mode=report.mode,
        read=report.read,
        matched=report.matched,
        changed=report.changed,
        written=report.written,
        unmatched=report.unmatched,
        errors=len(report.errors),
        dry_run=dry_run,
    )
    return report


@dataclass
class _Catalogue:
    products: list[ShopProduct] = field(default_factory=list)
    group_of_product: dict[int, str] = field(default_factory=dict)
    quantities: dict[int, int] = field(default_factory=dict)  # what the shop shows, where it says


def _read_both(
    wms: InflowPort,
    shop: ShopStock,
    options: StockOptions,
    *,
    since: dict[str, dt.datetime | None] | None,
    skus: Collection[str] | None,
    rematch: bool,
) -> tuple[StockRead, _Catalogue | None]:
    """The warehouse, and the shop's catalogue when the run matches again, read at the same time: two systems, two
    clients, neither waits for the other. A failure on one side stops the other at its next row."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stock-catalogue")
    future = (
        pool.submit(contextvars.copy_context().run, _read_catalogue, shop, options, stop) if rematch else None
    )
    try:
        try:
            read = read_stock(
                wms, options.warehouses, aggregate=options.aggregate, since=since, skus=skus, stop=stop
            )
        except Stopped:
            if future is None:
                raise
            future.result()  # the catalogue failed first: its error is the run's
            raise
        return read, future.result() if future is not None else None
    except BaseException as failure:
        stop.set()
        pool.shutdown(wait=True)
        if future is not None and not future.cancelled():
            other = future.exception()
            if other is not None and other is not failure and not isinstance(other, Stopped):
                log.warning("stock.catalogue_failed_too", error=str(other))  # both sides failed: say both
        raise
    finally:
        pool.shutdown(wait=True)


def _read_catalogue(shop: ShopStock, options: StockOptions, stop: threading.Event) -> _Catalogue:
    catalogue = _Catalogue()
    try:
        for entry in shop.catalogue(key=options.match_key, group_key=options.group_key):
            stop_if_asked(stop)
            catalogue.products.append(entry.product)
            if entry.group:
                catalogue.group_of_product[entry.product.id] = entry.group
            if entry.quantity is not None:
                catalogue.quantities[entry.product.id] = entry.quantity
    except BaseException:
        stop.set()  # the warehouse read stops too: the run has failed
        raise
    return catalogue


def _rematch(run: _Run, read: StockRead, catalogue: _Catalogue) -> dict[str, store.Link]:
    engine, connection_id, clock = run.engine, run.connection_id, run.clock
    products, group_of_product = catalogue.products, catalogue.group_of_product
    run.shop_shows.update(catalogue.quantities)
    with engine.connect() as conn:
        table = store.load_product_table(conn, connection_id)
    result = match({sku for sku, _ in read.available}, products, table)
    by_id = {p.id: p for p in products}
    links = {
        sku: store.Link(
            sku,
            pid,
            by_id[pid].parent_id,
            result.origin[sku],
            by_id[pid].barcode_multi,
            group_of_product.get(pid),
        )
        for sku, pid in result.links.items()
    }
    unmatched = [
        *(
            store.Unmatched("warehouse", sku, "no shop product carries this SKU")
            for sku in result.unmatched_skus
        ),
        *(
            store.Unmatched(
                "shop", str(pid), f"{by_id[pid].name or 'product'}: no warehouse SKU matches its key"
            )
            for pid in result.unmatched_products
        ),
        *(
            store.Unmatched("ambiguous", sku, f"products {', '.join(map(str, pids))} all carry this SKU")
            for sku, pids in result.ambiguous.items()
        ),
        *(store.Unmatched("table", problem.split(":", 1)[0], problem) for problem in result.table_problems),
    ]
    run.report.unmatched = len(unmatched)
    if not run.dry_run:
        with engine.begin() as conn:
            now = clock.now()
            store.replace_links(conn, connection_id, links.values(), now=now)
            store.replace_unmatched(
                conn, connection_id, unmatched, now=now, sides=["warehouse", "shop", "ambiguous", "table"]
            )
    return links


def _link_newcomers(
    run: _Run, options: StockOptions, seen: Collection[str], links: Mapping[str, store.Link]
) -> dict[str, store.Link]:
    """SKUs the warehouse started to report since the last full sync, looked up in the shop by their key (or the
    products table) and linked now, so a new product sells within one incremental run, not the next night.

    Only SKUs no matching has looked at yet: one already reported unmatched waits for the next full sync (or
    ``sync stock --full``), or every incremental run would search the shop again for the same SKUs.
    """
    engine, connection_id = run.engine, run.connection_id
    with engine.connect() as conn:
        reported = {
            u.item
            for u in store.load_unmatched(conn, connection_id)
            if u.side in ("warehouse", "ambiguous", "table")
        }
        newcomers = sorted(set(seen) - set(links) - reported)
        if not newcomers:
            return {}
        table = {
            sku: pid for sku, pid in store.load_product_table(conn, connection_id).items() if sku in newcomers
        }
    entries = list(
        run.shop.catalogue(
            key=options.match_key,
            group_key=options.group_key,
            keys=[sku for sku in newcomers if sku not in table],
            product_ids=set(table.values()),
        )
    )
    taken = {link.product_id: link.sku for link in links.values()}
    result = match(newcomers, [entry.product for entry in entries], table)
    by_id = {entry.product.id: entry for entry in entries}
    found: dict[str, store.Link] = {}
    clashes: list[store.Unmatched] = []
    for sku, pid in result.links.items():
        entry = by_id[pid]
        if pid in taken:
            # Its key changed, or the products table moved it: only a full matching may take a product from
            # the SKU it sells for.
            why = f"product {pid} carries this SKU but holds {taken[pid]}'s stock: `bitrix-inflow sync stock --full`"
            clashes.append(store.Unmatched("warehouse", sku, why))
            continue
        p = entry.product
        found[sku] = store.Link(sku, pid, p.parent_id, result.origin[sku], p.barcode_multi, entry.group)
        if entry.quantity is not None:
            run.shop_shows[pid] = entry.quantity
    unmatched = [
        *(
            store.Unmatched("warehouse", sku, "no shop product carries this SKU")
            for sku in result.unmatched_skus
        ),
        *clashes,
        *(
            store.Unmatched("ambiguous", sku, f"products {', '.join(map(str, pids))} all carry this SKU")
            for sku, pids in result.ambiguous.items()
        ),
        *(store.Unmatched("table", problem.split(":", 1)[0], problem) for problem in result.table_problems),
    ]
    log.info("stock.newcomers", looked_up=len(newcomers), linked=len(found), unmatched=len(unmatched))
    if not run.dry_run:
        with engine.begin() as conn:
            now = run.clock.now()
            store.add_links(conn, connection_id, found.values(), now=now)
            store.forget_unmatched(
                conn, connection_id, "shop", [str(link.product_id) for link in found.values()]
            )
            store.note_unmatched(conn, connection_id, unmatched, now=now)
    return found


def _planned(
    changes: list[Change[ShopKey]], skus_of: Mapping[int, list[str]], why: Callable[[Change[ShopKey]], str]
) -> list[PlannedWrite]:
    return [
        PlannedWrite(c.key[0], c.key[1], tuple(sorted(skus_of.get(c.key[0], []))), c.before, c.after, why(c))
        for c in changes
    ]


def _sync_quantities(
    run: _Run,
    wanted: dict[ShopKey, int],
    links: Mapping[str, store.Link],
    skus_of: Mapping[int, list[str]],
    *,
    full: bool,
) -> None:
    engine, shop, connection_id, clock, report = (
        run.engine,
        run.shop,
        run.connection_id,
        run.clock,
        run.report,
    )
    with engine.connect() as conn:
        pushed = store.load_pushed(conn, connection_id, None if full else {pid for pid, _ in wanted})
    shows = {(pid, 0): qty for pid, qty in run.shop_shows.items()}
    changes = rules.changes_since({**pushed, **shows}, wanted)
    report.changed = len(changes)

    def why(change: Change[ShopKey]) -> str:
        if change.key in shows and pushed.get(change.key) == change.after:
            return "the shop shows another quantity than was written"
        return "never written" if pushed.get(change.key) is None else WAREHOUSE_CHANGED

    report.plan = _planned(changes, skus_of, why)
    if run.dry_run:
        return
    # Where the shop already shows the wanted quantity, the snapshot learns it without a write, so it keeps
    # saying what the shop holds (the next incremental run then compares with the truth).
    agreed = {key: qty for key, qty in wanted.items() if shows.get(key) == qty and pushed.get(key) != qty}
    if agreed:
        with engine.begin() as conn:
            store.record_pushed(conn, connection_id, agreed, now=clock.now())
    offers = {link.product_id for link in links.values() if link.parent_id is not None}
    done = 0
    for start in range(0, len(changes), WRITE_BATCH):
        batch = changes[start : start + WRITE_BATCH]
        result = shop.set_quantities({c.key[0]: c.after for c in batch}, offers=offers)
        written = set(result.written)
        with engine.begin() as conn:
            store.record_pushed(
                conn, connection_id, {c.key: c.after for c in batch if c.key[0] in written}, now=clock.now()
            )
        report.written += len(written)
        report.errors += [f"product {pid}: {why}" for pid, why in sorted(result.refused.items())]
        done += len(batch)
        run.progress("write", done, len(changes))


def _sync_documents(
    run: _Run, wanted: dict[ShopKey, int], links: Mapping[str, store.Link], skus_of: Mapping[int, list[str]]
) -> None:
    engine, shop, connection_id, clock, report = (
        run.engine,
        run.shop,
        run.connection_id,
        run.clock,
        run.report,
    )
    if not run.dry_run:
        resolve_open_documents(engine, shop, connection_id, clock=clock)
    multi = {link.product_id for link in links.values() if link.barcode_multi}
    if multi:
        report.notes.append(
            f"{len(multi)} product(s) need one barcode per unit (barcodeMulti) and are left out of stock documents: "
            "see `bitrix-inflow products unmatched`"
        )
        if not run.dry_run:
            left_out = [
                store.Unmatched("document", str(pid), "barcodeMulti: one barcode per unit") for pid in multi
            ]
            with engine.begin() as conn:
                store.replace_unmatched(conn, connection_id, left_out, now=clock.now(), sides=["document"])
    eligible = {key: qty for key, qty in wanted.items() if key[0] not in multi}
    current = shop.store_amounts({pid for pid, _ in eligible}, {st for _, st in eligible}) if eligible else {}
    changes = rules.changes_since({key: current.get(key, 0) for key in eligible}, eligible)
    report.changed = len(changes)
    report.plan = _planned(changes, skus_of, lambda c: "the store holds another amount")
    if run.dry_run or not changes:
        return
    run_ref = uuid.uuid4().hex[:12]
    deltas = [(c, c.after - (c.before or 0)) for c in changes]
    # Write-offs first: the stores then never hold more than the warehouse has, not even for a moment.
    for doc_type, lines in (
        ("D", [DocumentLine(c.key[0], c.key[1], -delta) for c, delta in deltas if delta < 0]),
        ("S", [DocumentLine(c.key[0], c.key[1], delta) for c, delta in deltas if delta > 0]),
    ):
        if not lines:
            continue
        document_id = _book(run, run_ref, doc_type, lines)
        report.documents.append(document_id)
        report.written += len(lines)
        run.progress("write", report.written, len(changes))
    with engine.begin() as conn:
        store.record_pushed(conn, connection_id, {c.key: c.after for c in changes}, now=clock.now())


def _book(run: _Run, run_ref: str, doc_type: str, lines: list[DocumentLine]) -> int:
    """Journal, add, remember the id, conduct: a crash between any two steps is resolved by the next run."""
    engine, shop, connection_id, clock = run.engine, run.shop, run.connection_id, run.clock
    title = DOCUMENT_TITLE.format(run=run_ref, doc_type=doc_type)
    payload = [{"product_id": ln.product_id, "store_id": ln.store_id, "amount": ln.amount} for ln in lines]
    with engine.begin() as conn:
        journal_id = store.plan_document(
            conn, connection_id, run=run_ref, doc_type=doc_type, title=title, lines=payload, now=clock.now()
        )
    document_id = shop.add_document(doc_type, lines, title=title)
    with engine.begin() as conn:
        store.set_document_state(conn, journal_id, state="added", bitrix_id=document_id, now=clock.now())
    shop.conduct_document(document_id)
    with engine.begin() as conn:
        store.set_document_state(conn, journal_id, state="conducted", now=clock.now())
    return document_id


def resolve_open_documents(engine: Engine, shop: ShopStock, connection_id: str, *, clock: Clock) -> list[str]:
    """Settle what a crashed run left: a conducted document stays, a draft is deleted (the next plan recomputes)."""
    outcomes: list[str] = []
    with engine.connect() as conn:
        open_docs = store.open_documents(conn, connection_id)
    for doc in open_docs:
        # Found by title, not by the journal's id: a crash between the add and the journal's update leaves a
        # document the journal has no id for, and the title (which carries the run) still finds it.
        found = shop.find_documents(doc.title)
        state = "deleted"
        for document in found:
            if document.conducted:
                state = "conducted"
            else:
                shop.delete_document(document.id)
        with engine.begin() as conn:
            store.set_document_state(conn, doc.id, state=state, now=clock.now())
        outcomes.append(f"{doc.title}: {state}")
        log.warning("stock.document_resolved", title=doc.title, bitrix_id=doc.bitrix_id, state=state)
    return outcomes
