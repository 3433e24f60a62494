"""camelCase -> UPPER_SNAKE as the sale/catalog REST internalizer converts keys.

The conversion is mechanical, which is why an upper-case ``ID`` becomes ``I_D`` and is then silently dropped.
"""

from __future__ import annotations

import functools
import re

_BOUNDARY = re.compile(r"(.)([A-Z])")


@functools.lru_cache(maxsize=8192)  # keys repeat on every row of every answer
def camel_to_snake(name: str) -> str:
    return _BOUNDARY.sub(r"\1_\2", name).upper()
