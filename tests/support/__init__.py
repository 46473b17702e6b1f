"""Helpers shared by unit and integration tests."""
from __future__ import annotations

from typing import Any

DELETE = object()


def set_path(doc: dict, dotted: str, value: Any, sep: str = ".") -> dict:
    """Set (or, with DELETE, remove) ``a.b.c`` in a nested dict; returns the dict."""
    *parents, last = dotted.split(sep)
    node = doc
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc
