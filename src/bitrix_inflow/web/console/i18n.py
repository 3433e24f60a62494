"""The console speaks Russian and English: each person's choice, else the browser's, else the shop's language.

The English texts are the source (the templates' and code's ``_()`` strings); ``locale/ru/LC_MESSAGES/console.po``
holds their Russian, read with Babel at start (no compiled ``.mo`` kept in the repository). ``make messages`` takes
new strings out of the templates and code into the catalog; a test fails while any has no Russian.
"""

from __future__ import annotations

import datetime as dt
import gettext
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Literal

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

Language = Literal["ru", "en"]
LANGUAGES: tuple[Language, ...] = ("ru", "en")
LOCALE_DIR = Path(__file__).parent / "locale"
CATALOG = "console"


def N_(text: str) -> str:
    return text


@cache
def translations(language: Language) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{CATALOG}.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(accept_language: str | None, *, default: Language) -> Language:
    """The first of the browser's languages (by q) the console speaks; ``default`` when none is."""
    preferred: list[tuple[float, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        if not tag or tag == "*":
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        preferred.append((-quality + position * 1e-6, tag.strip().replace("_", "-")))
    chosen = negotiate_locale([tag for _, tag in sorted(preferred)], list(LANGUAGES), sep="-")
    if chosen is None:
        # "ru-RU" and "en-GB" negotiate by their language alone.
        for _, tag in sorted(preferred):
            base = tag.split("-")[0].lower()
            if base in LANGUAGES:
                return language_or(base, default)
        return default
    return language_or(chosen, default)


def language_or(value: str | None, default: Language) -> Language:
    return next((known for known in LANGUAGES if known == value), default)


def when(moment: dt.datetime | None, language: Language) -> str:
    """A moment as the person's locale writes it, in UTC (the service's clock; the page says so)."""
    if moment is None:
        return "—"
    try:
        locale = Locale.parse(language)
    except UnknownLocaleError:  # pragma: no cover - both are Babel's own
        locale = Locale.parse("en")
    return format_datetime(moment.astimezone(dt.UTC), "yyyy-MM-dd HH:mm:ss", locale=locale)
