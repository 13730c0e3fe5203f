"""The table of clause kinds and the JSON Schema generated from it.

Every clause class registers itself (gsotriage.match.clauses.base) when its
module is imported; importing the subject modules here fills the table. A new
kind is one class in the module of its subject.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet

from . import environment, frames, logic, panic, skb  # noqa: F401  (each registers its clause kinds)
from .base import CLAUSES, COMMON_KEYS

__all__ = ["clause_kinds_schema", "kinds_with_role"]


def clause_kinds_schema() -> Dict[str, Any]:
    """The JSON Schema of one clause (used under $defs/clause of the signature schema)."""
    variants = []
    for kind, cls in sorted(CLAUSES.items()):  # sorted: independent of import order
        variants.append(
            {
                "type": "object",
                "description": cls.description,
                "additionalProperties": False,
                "required": [kind],
                "properties": {kind: cls.schema, **COMMON_KEYS},
            }
        )
    return {"oneOf": variants}


def kinds_with_role(*roles: str) -> FrozenSet[str]:
    """The clause kinds whose ``role`` is one of ``roles``."""
    return frozenset(kind for kind, cls in CLAUSES.items() if cls.role in roles)
