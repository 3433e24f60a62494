"""Honest Sign (Chestny ZNAK) marking codes and SSCCs: normalising what a scanner or a warehouse sends, parsing and
validating a code by its product group, and the unit's identity. Pure; parsing is biip's (GS1 element strings),
never python-stdnum's ``gs1_128``, which drops ``(`` and ``)`` from crypto tails.

Words: the **full code** ("код маркировки") is what the fiscal receipt carries, crypto tail and GS separators
included, exactly as normalised (never rebuilt from its parts); the **identity** ("код идентификации") is ``01`` +
GTIN + ``21`` + serial, the key a unit is known by (a code is sold once). A rejection names what is wrong
(``MarkingError.problem``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from biip import ParseConfig, ParseError
from biip.gs1_messages import GS1Message
from biip.sscc import Sscc

GS = "\x1d"
# GS1 General Specifications, figure 7.11-1: the characters of alphanumeric AIs such as 21, 91, 92, 93.
_SET_82 = re.compile(r"^[A-Za-z0-9!\"%&'()*+,\-./:;<=>?_]+$")
# Symbology identifiers a scanner may put first: GS1 DataMatrix, GS1-128, GS1 QR.
_SYMBOLOGY = ("]d2", "]C1", "]Q3")
# How scanners and systems spell the group separator when they cannot send byte 29 (each becomes GS).
_GS_SPELLINGS = ("<GS>", "{GS}", "[GS]", "\\u001d", "\\u001D", "\\x1d", "\\x1D", "^]", "\u241d")
_FNC1 = ("<FNC1>", "\xe8")


class Group(enum.StrEnum):
    """Product groups with the shape of their codes (``wms-and-marking.md`` §2.2)."""

    SHOES = "shoes"
    TEXTILE = "textile"  # light industry
    TYRES = "tyres"
    PERFUME = "perfume"
    MEDICINES = "medicines"
    WATER = "water"
    DAIRY = "dairy"
    TOBACCO_PACK = "tobacco_pack"
    TOBACCO_BLOCK = "tobacco_block"


@dataclass(frozen=True)
class _Shape:
    serial: tuple[int, int]  # allowed serial lengths (min, max)
    verification: tuple[tuple[str, int], ...]  # the AIs after the serial, with their value lengths, in order
    optional: frozenset[str] = (
        frozenset()
    )  # AIs a code of the group may carry besides (batch, expiry, weight)


_SHAPES: dict[Group, _Shape] = {
    Group.SHOES: _Shape((13, 13), (("91", 4), ("92", 88))),
    Group.TEXTILE: _Shape((13, 13), (("91", 4), ("92", 44))),
    Group.TYRES: _Shape((13, 13), (("91", 4), ("92", 44))),
    Group.PERFUME: _Shape((13, 13), (("91", 4), ("92", 44))),
    Group.MEDICINES: _Shape((13, 13), (("91", 4), ("92", 44)), frozenset({"10", "17"})),
    Group.WATER: _Shape((13, 13), (("93", 4),)),
    Group.DAIRY: _Shape((6, 13), (("93", 4),), frozenset({"3103"})),
    Group.TOBACCO_BLOCK: _Shape((7, 7), (("8005", 6), ("93", 4))),
}
_TOBACCO_PACK = re.compile(r"^(?P<gtin>\d{14})(?P<serial>.{7})(?P<mrp>.{4})(?P<check>.{4})$")


class MarkingError(ValueError):
    """A code or an SSCC that cannot be used; ``problem`` says what is wrong with it."""

    def __init__(self, code: str, problem: str) -> None:
        super().__init__(f"{problem}: {code!r}")
        self.code = code
        self.problem = problem


class ForeignCodeError(MarkingError):
    """A valid code of another product (its GTIN is not the product's)."""


@dataclass(frozen=True)
class MarkingCode:
    full: str  # as normalised: what the receipt carries
    group: Group
    gtin: str
    serial: str
    verification: tuple[tuple[str, str], ...]  # (AI, value) of the crypto part: 91/92, 93 or 8005/93

    @property
    def identity(self) -> str:
        """The identification code: the unit's key (a code is sold once); the crypto tail is not part of it."""
        return f"01{self.gtin}21{self.serial}"


def normalize(raw: str) -> str:
    """What a scanner or a warehouse sent, as the receipt needs it: without symbology identifier, FNC1, line ends
    and surrounding blanks, every spelling of the group separator made byte 29. Normalising twice changes nothing
    (the steps repeat until none changes anything)."""
    code = raw
    for _ in range(len(raw) + 1):
        step = _normalize_once(code)
        if step == code:
            break
        code = step
    return code


def _normalize_once(code: str) -> str:
    for spelling in _GS_SPELLINGS:
        code = code.replace(spelling, GS)
    code = code.strip(" \t\r\n" + GS)
    for prefix in (*_SYMBOLOGY, *_FNC1):
        if code.startswith(prefix):
            code = code[len(prefix) :]
    for fnc1 in _FNC1:  # an FNC1 inside a code is a separator, as in GS1-128
        code = code.replace(fnc1, GS)
    return code


def parse(raw: str, group: Group) -> MarkingCode:
    """The code, normalised and checked against its group's shape: GTIN check digit, serial length and
    characters, every verification AI with its length. A code without GS separators gets them back from the
    group's lengths (never by looking for "91"/"93" in the text, which serials and tails may contain)."""
    code = normalize(raw)
    if group is Group.TOBACCO_PACK:
        return _tobacco_pack(code)
    shape = _SHAPES[group]
    if GS not in code:
        code = _with_separators(code, shape)
    try:
        message = GS1Message.parse(code, config=ParseConfig(separator_chars=[GS]))
    except ParseError as exc:
        raise MarkingError(raw, f"not a GS1 code: {exc}") from None
    values = [(element.ai.ai, element.value) for element in message.element_strings]
    found = dict(values)
    if [ai for ai, _ in values[:2]] != ["01", "21"]:
        raise MarkingError(raw, "a code starts with 01 (GTIN) and 21 (serial)")
    gtin, serial = found["01"], found["21"]
    _check_gtin(raw, gtin)
    low, high = shape.serial
    if not low <= len(serial) <= high:
        wanted = str(low) if low == high else f"{low}-{high}"
        raise MarkingError(raw, f"the serial has {len(serial)} characters, {group} codes have {wanted}")
    if not _SET_82.match(serial):
        raise MarkingError(raw, "the serial has characters outside the GS1 set")
    verification = []
    for ai, length in shape.verification:
        value = found.get(ai)
        if value is None:
            raise MarkingError(raw, f"the crypto part lacks AI {ai}: a {group} code needs it")
        if len(value) != length:
            raise MarkingError(raw, f"AI {ai} has {len(value)} characters, a {group} code has {length}")
        verification.append((ai, value))
    extra = set(found) - {"01", "21"} - {ai for ai, _ in shape.verification} - shape.optional
    if extra:
        raise MarkingError(raw, f"AIs {', '.join(sorted(extra))} do not belong in a {group} code")
    return MarkingCode(code, group, gtin, serial, tuple(verification))


def check_gtin(code: MarkingCode, product_gtin: str) -> None:
    """The code must be of the product it is shipped as (GTIN-8/12/13 written as GTIN-14 compare equal)."""
    if code.gtin.lstrip("0") != product_gtin.strip().lstrip("0"):
        raise ForeignCodeError(code.full, f"the code is of GTIN {code.gtin}, the product's is {product_gtin}")


def parse_sscc(raw: str) -> str:
    """An SSCC (18 digits, its check digit right), from ``(00)…``, ``00…`` or the bare number."""
    text = normalize(raw).replace(" ", "")
    for prefix in ("(00)", "00"):
        if text.startswith(prefix) and len(text) == 18 + len(prefix):
            text = text[len(prefix) :]
            break
    try:
        return Sscc.parse(text).value
    except ParseError as exc:
        raise MarkingError(raw, f"not an SSCC: {exc}") from None


def _check_gtin(raw: str, gtin: str) -> None:
    digits = [int(d) for d in gtin]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    if (10 - total % 10) % 10 != digits[-1]:
        raise MarkingError(raw, f"GTIN {gtin} has a wrong check digit")


def _with_separators(code: str, shape: _Shape) -> str:
    """GS put back where the group's fixed lengths say (a scanner that dropped them)."""
    if not code.startswith("01") or len(code) < 18 or code[16:18] != "21":
        return code  # the parser says what is wrong
    low, high = shape.serial
    if low != high:
        return code  # a serial of varying length cannot be told from what follows it: left to the parser
    parts = [code[: 18 + low]]
    rest = code[18 + low :]
    for ai, length in shape.verification[:-1]:
        if not rest.startswith(ai):
            return code
        parts.append(rest[: len(ai) + length])
        rest = rest[len(ai) + length :]
    parts.append(rest)
    return GS.join(parts)


def _tobacco_pack(code: str) -> MarkingCode:
    """A cigarette pack's 29 characters: no AIs, GTIN 14 + serial 7 + maximum retail price 4 + check 4."""
    found = _TOBACCO_PACK.match(code)
    if found is None:
        raise MarkingError(
            code, f"a tobacco pack code has 29 characters (GTIN, serial, price, check), not {len(code)}"
        )
    _check_gtin(code, found["gtin"])
    if not _SET_82.match(found["serial"]):
        raise MarkingError(code, "the serial has characters outside the GS1 set")
    verification = (("mrp", found["mrp"]), ("check", found["check"]))
    return MarkingCode(code, Group.TOBACCO_PACK, found["gtin"], found["serial"], verification)


@dataclass(frozen=True)
class Problem:
    """Something wrong with the codes of a shipped line: ``kind`` is missing, surplus, duplicate, invalid or
    foreign (another product's GTIN); ``code`` the code it is about (None for a count)."""

    kind: str
    code: str | None
    detail: str


@dataclass(frozen=True)
class LineCodes:
    codes: tuple[MarkingCode, ...]  # the good ones, one per unit, in the order the warehouse sent them
    problems: tuple[Problem, ...]

    @property
    def complete(self) -> bool:
        return not self.problems


def check_shipped(raw_codes: Sequence[str], *, qty: int, group: Group, gtin: str) -> LineCodes:
    """The codes the warehouse used for a line of ``qty`` units of one product: each a valid code of the group
    with its crypto tail and the product's GTIN, no unit twice, exactly one per unit. Whether a code was sold on
    another order is the ledger's to say."""
    good: list[MarkingCode] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for raw in raw_codes:
        try:
            code = parse(raw, group)
            check_gtin(code, gtin)
        except MarkingError as exc:
            kind = "foreign" if isinstance(exc, ForeignCodeError) else "invalid"
            problems.append(Problem(kind, raw, exc.problem))
            continue
        if code.identity in seen:
            problems.append(Problem("duplicate", code.full, f"unit {code.identity} is in the line twice"))
            continue
        seen.add(code.identity)
        good.append(code)
    if len(good) < qty:
        problems.append(Problem("missing", None, f"{qty - len(good)} of {qty} units have no valid code"))
    elif len(good) > qty:
        problems.append(Problem("surplus", None, f"{len(good)} codes for {qty} units"))
    return LineCodes(tuple(good), tuple(problems))


# How shops name the product groups (the catalog's marking group, as 1C and Bitrix exchange it, or in words), to the
# groups whose code shapes are known here. An installation adds its own names in ``[marking] groups``.
DEFAULT_GROUP_NAMES: Mapping[str, str] = {
    "5408": "shoes",
    "shoes": "shoes",
    "5140": "textile",
    "textile": "textile",
    "clothes": "textile",
    "8258": "perfume",
    "perfume": "perfume",
    "8721": "tyres",
    "tyres": "tyres",
    "tires": "tyres",
    "05": "tobacco_pack",
    "tobacco": "tobacco_pack",
}


def group_of(name: str, names: Mapping[str, str]) -> Group | None:
    """The group a shop's marking-group name stands for (None: not known here; "" is not marked at all)."""
    found = names.get(name.strip().lower())
    return Group(found) if found is not None and found in Group._value2member_map_ else None


def gtins_of(barcodes: Sequence[str]) -> tuple[str, ...]:
    """The GTIN-14s a product's barcodes stand for (EAN-13, UPC-A, EAN-8 padded with zeros; other barcodes, such as
    internal ones, left out)."""
    found: list[str] = []
    for barcode in barcodes:
        digits = barcode.strip()
        if digits.isdigit() and len(digits) in (8, 12, 13, 14):
            found.append(digits.rjust(14, "0"))
    return tuple(dict.fromkeys(found))
