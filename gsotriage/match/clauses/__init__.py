"""Match clauses: small predicates over a CrashReport that answer TRUE, FALSE or UNKNOWN.

One module per subject: ``frames`` (where it crashed), ``panic`` (kind, headline,
fault address, BUG file, registers), ``skb`` (the subject skb and its shared
info), ``environment`` (version and configuration), ``logic`` (combinators);
``base`` holds the protocol and ``registry`` the table of kinds.
"""

from .base import CLAUSES, COMMON_KEYS, Clause, Result, Tri, build_clause
from .frames import FramePattern, FramesClause
from .registry import clause_kinds_schema, kinds_with_role

__all__ = [
    "CLAUSES",
    "COMMON_KEYS",
    "Clause",
    "FramePattern",
    "FramesClause",
    "Result",
    "Tri",
    "build_clause",
    "clause_kinds_schema",
    "kinds_with_role",
]
