"""``--format json``: the analysis document, as the core built it, serialised."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:
    from gsotriage.analysis import Analysis
    from gsotriage.render import RenderOptions

__all__ = ["format_analysis", "render_json"]


def render_json(document: Dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def format_analysis(analysis: Analysis, options: RenderOptions) -> str:
    if options.compact:
        from gsotriage.analysis.document import compact_document

        return render_json(compact_document(analysis.document))
    return render_json(analysis.document)
