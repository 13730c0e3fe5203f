"""Regular expressions from signature files, run in linear time.

A signature library is input like any other: a pattern such as ``^(a+)+$``
takes Python's backtracking ``re`` 34 s on 30 characters. Every pattern a
clause holds is compiled here by RE2 (google-re2), whose matching time is
linear in the text whatever the pattern; what RE2 cannot run (backreferences,
lookaround) is refused when the library loads, with the file and line.
"""

from __future__ import annotations

from typing import Any, Callable

import re2

__all__ = ["Pattern", "PatternError"]


class PatternError(ValueError):
    """A pattern RE2 cannot compile (the message says why)."""


def _searcher(text: str) -> Callable[[str], bool]:
    # The binding's public search() builds match objects (~10 us a call); the
    # compiled RE2 object answers "is there a match" in under 1 us.
    low: Any = getattr(re2, "_re2", None)
    options = re2.Options()
    if low is not None and hasattr(low, "RE2"):
        compiled = low.RE2(text.encode("utf-8"), options)
        if not compiled.ok():
            raise PatternError(compiled.error())
        anchor = low.RE2.Anchor.UNANCHORED
        none = (-1, -1)

        def search(s: str) -> bool:
            b = s.encode("utf-8", "surrogatepass")
            return bool(compiled.Match(anchor, b, 0, len(b))[0] != none)

        return search
    try:
        public = re2.compile(text, options)
    except re2.error as exc:
        raise PatternError(str(exc)) from None
    return lambda s: public.search(s) is not None


class Pattern:
    """A compiled signature pattern: ``search(text)`` says whether it occurs in ``text``."""

    __slots__ = ("_search", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise PatternError(f"a pattern must be a string, not {type(text).__name__}")
        self.text = text
        try:
            self._search = _searcher(text)
        except PatternError as exc:
            raise PatternError(
                f"pattern /{text}/ is not supported by the linear-time regex engine (RE2: {exc}); "
                "backreferences and lookaround are not allowed in signatures"
            ) from None

    def search(self, s: str) -> bool:
        return self._search(s)

    def __reduce__(self) -> Any:
        # Pickled (the parsed-library cache) as its text; compiled again when loaded.
        return (Pattern, (self.text,))

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"
