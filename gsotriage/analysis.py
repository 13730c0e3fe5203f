"""The core job, without any CLI: one input in, one diagnosis (and its JSON document) out.

``gsotriage analyze`` and ``gsotriage batch`` both call :func:`analyze_path`, so a
batch result line is exactly the document ``analyze --format json`` prints.
"""

from __future__ import annotations

import importlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Union

from gsotriage.inputs import InputKind, detect, load_report

if TYPE_CHECKING:
    from gsotriage.match.engine import Diagnosis
    from gsotriage.match.loader import Library

# The matcher, the parsers and the renderers are imported lazily (or in the
# background, see load_library_in_background): on a vmcore the main thread goes
# straight to drgn, and everything else overlaps with drgn loading debug info.

__all__ = ["Analysis", "analyze_path", "exit_code_for", "load_library_in_background"]

# Mirrors gsotriage.cli.Exit for the two analysis outcomes.
ROOT_CAUSE = 0
NO_SPECIFIC_CAUSE = 1


@dataclass(frozen=True)
class Analysis:
    target: str
    kind: InputKind
    diagnosis: Diagnosis
    exit_code: int

    def document(self, library: Library) -> Dict[str, Any]:
        from gsotriage.render.json import diagnosis_to_dict

        return diagnosis_to_dict(
            self.diagnosis,
            library,
            input_kind=self.kind.kind,
            input_path=None if self.target == "-" else self.target,
            exit_code=self.exit_code,
        )


def exit_code_for(diag: Diagnosis) -> int:
    return ROOT_CAUSE if diag.specific_root_cause else NO_SPECIFIC_CAUSE


def analyze_path(
    target: str,
    library: Union[Library, Future[Library]],
    *,
    vmlinux: Optional[str] = None,
    debuginfo: Optional[List[str]] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> Analysis:
    """Raises gsotriage.inputs.InputError for unreadable or unsupported input.

    ``library`` may still be loading (see load_library_in_background): it is only needed
    once the report is read.
    """
    kind = detect(target)
    report = load_report(target, vmlinux=vmlinux, debuginfo=debuginfo or [], progress=progress)
    from gsotriage.match.engine import diagnose

    lib = library.result() if isinstance(library, Future) else library
    diag = diagnose(report, lib.signatures)
    return Analysis(target, kind, diag, exit_code_for(diag))


def load_library_in_background(paths: Optional[Sequence[Path]] = None) -> Future[Library]:
    """Load the signature library (and import the parsers and matcher) in a thread.

    drgn releases the GIL while it loads debug info, so on a vmcore this work
    overlaps with it and costs nothing.
    """

    def work() -> Library:
        # Warm-up imports: the collector parses the dump's dmesg, the CLI renders JSON.
        for module in ("gsotriage.parse", "gsotriage.render.json"):
            importlib.import_module(module)
        from gsotriage.match.loader import load_library

        return load_library(paths)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gsotriage-signatures")
    future = pool.submit(work)
    pool.shutdown(wait=False)
    return future
