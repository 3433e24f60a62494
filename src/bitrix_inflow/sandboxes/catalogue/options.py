"""What both sandbox commands accept for their catalogue: the file option and the rule of one source at most."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CatalogueFile = Annotated[
    Path | None,
    typer.Option(
        "--catalogue",
        exists=True,
        dir_okay=False,
        help="Catalogue CSV (default: the sandbox catalogue, which both sandboxes load).",
    ),
]


def catalogue_text(generated: tuple[str, int | None], catalogue: Path | None, size: int | None) -> str | None:
    """The catalogue file's text (None without one); more than one source of products is a usage error.

    ``generated`` is the command's own generator option, e.g. ``("--skus", 200)``.
    """
    given = [
        name
        for name, value in (generated, ("--catalogue", catalogue), ("--catalogue-size", size))
        if value is not None
    ]
    if len(given) > 1:
        raise typer.BadParameter(
            f"give one of {generated[0]}, --catalogue, --catalogue-size (got {', '.join(given)})"
        )
    if catalogue is None:
        return None
    try:
        return catalogue.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise typer.BadParameter(
            f"{catalogue} is not UTF-8 text ({error})", param_hint="--catalogue"
        ) from None
