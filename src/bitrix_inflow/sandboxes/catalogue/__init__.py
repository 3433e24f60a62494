"""The catalogue both sandboxes are seeded from, so the sandbox shop and the sandbox warehouse belong together.

``catalogue.csv`` (next to this module) is the default: a few dozen products, trade offers with their parents,
marked goods, ``barcodeMulti`` products, and a few rows on one side only (the unmatched report has something to
show). :func:`generate` makes a matched catalogue of any size instead (benchmarks): the same size and seed give
the same rows, so a shop and a warehouse seeded with them match.

This module only reads rows. Each sandbox turns them into its own model with its own code (the shop into iblock
products and offers, the warehouse into SKUs placed in bins); the service's adapters never read the file.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

COLUMNS = ("sku", "name", "gtin", "marked", "zone", "shop_key", "kind", "parent", "barcode_multi", "side")
KINDS = ("product", "parent", "offer")
SIDES = ("both", "shop-only", "warehouse-only")
ZONES = ("A", "B", "P")
# Honest Sign product groups as the 1C/Bitrix exchange numbers them (MARKING_CODE_GROUP).
MARKING_GROUPS = ("5408", "5140", "8258")


class CatalogueError(ValueError):
    """The catalogue cannot be used; the message names the line and what to change."""


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    gtin: str
    marked: str  # product group, "" when not marked
    zone: str
    shop_key: str
    kind: str
    parent: str
    barcode_multi: bool
    side: str

    @property
    def in_shop(self) -> bool:
        return self.side in ("both", "shop-only")

    @property
    def in_warehouse(self) -> bool:
        # A parent holds no stock of its own: the warehouse keeps its offers, never the parent.
        return self.side in ("both", "warehouse-only") and self.kind != "parent"


def default_text() -> str:
    return resources.files(__package__).joinpath("catalogue.csv").read_text(encoding="utf-8")


def load_default() -> list[Item]:
    return parse(default_text(), source="catalogue.csv")


def parse(text: str, *, source: str = "catalogue") -> list[Item]:
    """Rows of a catalogue CSV (header line first; blank lines and lines starting with ``#`` are skipped)."""
    numbered = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        raise CatalogueError(f"{source}: empty; the first line must be the header {','.join(COLUMNS)}")
    reader = csv.reader(io.StringIO("\n".join(line for _, line in numbered)))
    header = [name.strip() for name in next(reader)]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise CatalogueError(f"{source} line {numbered[0][0]}: the header lacks {', '.join(missing)}")
    items = []
    try:
        for cells in reader:
            # line_num counts the joined lines, so it maps back to the file's own numbering.
            number = numbered[reader.line_num - 1][0]
            if len(cells) != len(header):
                raise CatalogueError(
                    f"{source} line {number}: {len(cells)} cells, the header has {len(header)}"
                )
            row = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
            items.append(_item(row, f"{source} line {number}"))
    except csv.Error as error:
        raise CatalogueError(f"{source}: not a CSV file ({error})") from None
    check(items, source=source)
    return items


def _item(row: dict[str, str], where: str) -> Item:
    if not row["sku"]:
        raise CatalogueError(f"{where}: sku is empty")
    for name, allowed in (("kind", KINDS), ("side", SIDES)):
        if row[name] not in allowed:
            raise CatalogueError(f"{where}: {name} {row[name]!r} is not one of {', '.join(allowed)}")
    if row["barcode_multi"] not in ("Y", "N", ""):
        raise CatalogueError(f"{where}: barcode_multi {row['barcode_multi']!r} must be Y, N or empty")
    return Item(
        sku=row["sku"],
        name=row["name"] or row["sku"],
        gtin=row["gtin"],
        marked=row["marked"],
        zone=row["zone"],
        shop_key=row["shop_key"],
        kind=row["kind"],
        parent=row["parent"],
        barcode_multi=row["barcode_multi"] == "Y",
        side=row["side"],
    )


def check(items: Iterable[Item], *, source: str = "catalogue") -> None:
    """What makes rows a catalogue: unique SKUs, offers under a parent row that the shop has."""
    rows = list(items)
    kinds: dict[str, str] = {}
    for item in rows:
        if item.sku in kinds:
            raise CatalogueError(f"{source}: sku {item.sku} appears twice")
        kinds[item.sku] = item.kind
    seen: set[str] = set()
    for item in rows:
        seen.add(item.sku)
        if item.kind == "offer" and kinds.get(item.parent) != "parent":
            raise CatalogueError(f"{source}: offer {item.sku} names {item.parent!r}, which is no parent row")
        # The shop creates rows in the file's order, and an offer links to a product that already exists.
        if item.kind == "offer" and item.parent not in seen:
            raise CatalogueError(f"{source}: offer {item.sku} comes before its parent {item.parent}")
        if item.kind != "offer" and item.parent:
            raise CatalogueError(f"{source}: {item.sku} is a {item.kind} and cannot have a parent")
        if item.kind == "parent" and item.side != "shop-only":
            raise CatalogueError(f"{source}: parent {item.sku} lives in the shop only (side shop-only)")


_NOUNS = ("T-Shirt", "Sneakers", "Jacket", "Perfume", "Cap", "Socks", "Hoodie", "Boots", "Scarf", "Mug")
_ADJECTIVES = ("Red", "Blue", "Classic", "Urban", "Winter", "Sport", "Light", "Night", "Sea", "Steel")


def _gtin14(number: int) -> str:
    body = f"0461{number:09d}"
    total = sum(int(ch) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def generate(size: int, seed: int) -> list[Item]:
    """``size`` simple products present on both sides; a quarter marked, one in a hundred ``barcodeMulti``."""
    if size < 1:
        raise CatalogueError("a generated catalogue needs at least one SKU")
    rng = random.Random(seed)
    items = []
    for number in range(1, size + 1):
        sku = f"GEN-{number:06d}"
        items.append(
            Item(
                sku=sku,
                name=f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} #{number}",
                gtin=_gtin14(number),
                marked=MARKING_GROUPS[(number // 4) % len(MARKING_GROUPS)] if number % 4 == 0 else "",
                zone=ZONES[rng.randrange(len(ZONES))],
                shop_key=sku,
                kind="product",
                parent="",
                barcode_multi=number % 100 == 0,
                side="both",
            )
        )
    return items


def resolve(*, csv_text: str | None = None, size: int | None = None, seed: int = 0) -> tuple[str, list[Item]]:
    """The catalogue a seed asks for, with where it came from: CSV text, a generated one, or the default file."""
    if csv_text is not None and size is not None:
        raise CatalogueError("give either a catalogue file or a catalogue size, not both")
    if csv_text is not None:
        return "csv", parse(csv_text)
    if size is not None:
        return "generated", generate(size, seed)
    return "catalogue.csv", load_default()
