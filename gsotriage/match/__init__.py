"""Signature engine: strict loading, clause evaluation, verdict ranking."""

from gsotriage.match.engine import Diagnosis, Verdict, diagnose
from gsotriage.match.loader import Library, SignatureError, load_library

__all__ = ["Diagnosis", "Library", "SignatureError", "Verdict", "diagnose", "load_library"]
