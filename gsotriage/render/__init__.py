"""Formatters: one analysis in, text out. Apart from the core: nothing below
imports this package.

Every formatter has the same interface (:data:`Formatter`): it takes the
:class:`~gsotriage.analysis.Analysis` (whose JSON document the core built once)
and :class:`RenderOptions`. ``FORMATTERS`` is the name -> formatter table the
CLI's ``--format`` choices come from; each formatter module is imported only
when used (rich is not loaded for JSON).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Optional

if TYPE_CHECKING:
    from gsotriage.analysis import Analysis

__all__ = ["FORMATTERS", "Formatter", "RenderOptions", "render"]


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    verbose: bool = False  # list every verdict, generic ones included
    compact: bool = False  # JSON: the compact stored form (analysis.document.compact_document)
    width: Optional[int] = None


Formatter = Callable[["Analysis", RenderOptions], str]

# name -> "module:function" of a Formatter.
FORMATTERS: Dict[str, str] = {
    "text": "gsotriage.render.text:format_analysis",
    "json": "gsotriage.render.json:format_analysis",
    "markdown": "gsotriage.render.markdown:format_analysis",
}


def formatter(name: str) -> Formatter:
    module, func = FORMATTERS[name].split(":")
    fn: Formatter = getattr(importlib.import_module(module), func)
    return fn


def render(name: str, analysis: Analysis, options: Optional[RenderOptions] = None) -> str:
    """Render ``analysis`` with the formatter called ``name`` (a key of FORMATTERS)."""
    return formatter(name)(analysis, options or RenderOptions())
