"""GS1 numbers the warehouse prints: GTIN/SSCC check digits and Honest Sign (Chestny ZNAK) marking codes."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

GS = "\x1d"
# GS1 General Specifications, figure 7.11-1: the 82 characters allowed in alphanumeric AIs such as 21/91/92.
GS1_SET_82 = string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_"
# The serial avoids quotes and a few look-alikes so codes survive being pasted into shells and CSVs.
_SERIAL_ALPHABET = string.ascii_letters + string.digits + "!%&*+-._"
_CRYPTO_ALPHABET = string.ascii_letters + string.digits + "+/="
MARKING_GROUPS = ("5408", "5140", "8258")  # shoes, light industry, perfume


def check_digit(body: str) -> str:
    """GS1 mod-10: weights 3,1,3,... from the rightmost digit of the body."""
    total = sum(int(ch) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def has_valid_check_digit(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and check_digit(number[:-1]) == number[-1]


def make_gtin14(item_number: int) -> str:
    """A GTIN-14 in the GS1 Russia range (460...) with a valid check digit."""
    body = f"0460{item_number:09d}"
    return body + check_digit(body)


def make_sscc(company_prefix: str, serial_reference: int, extension_digit: int = 1) -> str:
    body = f"{extension_digit}{company_prefix}{serial_reference:0{16 - len(company_prefix)}d}"
    if len(body) != 17:
        raise ValueError("SSCC serial reference does not fit next to the company prefix")
    return body + check_digit(body)


def random_serial(rng: random.Random) -> str:
    # The first character is the issuing country in Chestny ZNAK rules; 5 = Russia.
    return "5" + "".join(rng.choice(_SERIAL_ALPHABET) for _ in range(12))


SHOES = "5408"


def make_marking_code(gtin: str, serial: str, rng: random.Random, *, group: str | None = None) -> str:
    """A code of the shape Honest Sign prints: shoes carry an 88-character crypto tail, the other groups the
    warehouse stocks (light industry, perfume) 44."""
    key = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(4))
    crypto = "".join(rng.choice(_CRYPTO_ALPHABET) for _ in range(88 if group == SHOES else 44))
    return f"01{gtin}21{serial}{GS}91{key}{GS}92{crypto}"


@dataclass(frozen=True)
class ParsedCode:
    gtin: str
    serial: str

    @property
    def identity(self) -> str:
        """КИ: GTIN + serial identify the unit; the crypto tail does not."""
        return f"01{self.gtin}21{self.serial}"


def parse_marking_code(code: str) -> ParsedCode:
    """Parse a full code with GS separators; raise ValueError with a human-readable reason."""
    if not code.startswith("01") or len(code) < 18 or not code[2:16].isdigit():
        raise ValueError("must start with AI 01 followed by a 14-digit GTIN")
    gtin = code[2:16]
    if not has_valid_check_digit(gtin):
        raise ValueError(f"GTIN {gtin} has a wrong check digit")
    if code[16:18] != "21":
        raise ValueError("AI 21 (serial) must follow the GTIN")
    parts = code[18:].split(GS)
    serial = parts[0]
    if not 1 <= len(serial) <= 20 or any(ch not in GS1_SET_82 for ch in serial):
        raise ValueError("serial must be 1..20 characters of the GS1 set 82, ended by GS (\\u001d)")
    tail = parts[1:]
    if len(tail) == 2 and tail[0].startswith("91") and tail[1].startswith("92"):
        key, crypto = tail[0][2:], tail[1][2:]
        if len(key) != 4 or len(crypto) not in (44, 88):
            raise ValueError("verification part must be 91 + 4 characters and 92 + 44 or 88 characters")
        if any(ch not in GS1_SET_82 for ch in key + crypto):
            raise ValueError("verification part has characters outside the GS1 set 82")
    elif len(tail) == 1 and tail[0].startswith("93"):
        if len(tail[0]) != 6 or any(ch not in GS1_SET_82 for ch in tail[0][2:]):
            raise ValueError("verification part must be 93 + 4 characters")
    else:
        raise ValueError("verification part must be GS 91.. GS 92.. or GS 93.. (GS = \\u001d)")
    return ParsedCode(gtin=gtin, serial=serial)
