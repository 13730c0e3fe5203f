"""The core job, without any CLI: one input in, one diagnosis and its JSON document out.

``analyze``, ``batch``, ``regress`` and the signature self-tests all go through
:func:`analyze_path`: the input is detected once (``detect``), read into a
CrashReport (``load``: parsers or the drgn collector), matched against the
signature library, and the JSON document is built once (``document``); the
renderers, the batch writer and the history store consume that document.
"""

from __future__ import annotations

import importlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Union

from gsotriage.errors import Exit, InputError
from gsotriage.model import CrashReport

from .detect import InputKind, detect
from .load import load_report

if TYPE_CHECKING:
    from gsotriage.kernel.changelog import Changelog
    from gsotriage.match.engine import Diagnosis
    from gsotriage.match.loader import Library

# The matcher, the parsers and the renderers are imported lazily (or in the
# background, see load_library_in_background): on a vmcore the main thread goes
# straight to drgn, and everything else overlaps with drgn loading debug info.

__all__ = [
    "Analysis",
    "InputError",
    "InputKind",
    "analyze_path",
    "detect",
    "exit_code_for",
    "load_library_in_background",
    "load_report",
    "read_report",
]


@dataclass(frozen=True)
class Analysis:
    target: str
    kind: InputKind
    diagnosis: Diagnosis
    exit_code: int
    document: Dict[str, Any]  # the JSON contract, built once


def exit_code_for(diag: Diagnosis) -> int:
    if diag.specific_root_cause:
        return int(Exit.ROOT_CAUSE)
    return int(Exit.AMBIGUOUS if diag.ambiguity is not None else Exit.NO_SPECIFIC_CAUSE)


def analyze_path(
    target: str,
    library: Union[Library, Future[Library]],
    *,
    vmlinux: Optional[str] = None,
    debuginfo: Optional[List[str]] = None,
    progress: Optional[Callable[[str], None]] = None,
    changelog: Optional[Changelog] = None,
) -> Analysis:
    """Raises :class:`gsotriage.errors.InputError` for unreadable or unsupported input.

    ``library`` may still be loading (see load_library_in_background): it is only needed
    once the report is read. ``changelog``: the crashed kernel's package changelog, for
    fixes its version cannot settle.
    """
    kind = detect(target)
    report = load_report(kind, vmlinux=vmlinux, debuginfo=debuginfo or [], progress=progress)
    from gsotriage.match.engine import diagnose

    from .document import build_document

    lib = library.result() if isinstance(library, Future) else library
    diag = diagnose(report, lib.signatures, changelog=changelog)
    code = exit_code_for(diag)
    document = build_document(
        diag, lib, input_kind=kind.kind, input_path=None if target == "-" else target, exit_code=code
    )
    return Analysis(target, kind, diag, code, document)


def read_report(
    target: str,
    *,
    vmlinux: Optional[str] = None,
    debuginfo: Optional[List[str]] = None,
) -> CrashReport:
    """Detect ``target`` and read it into a CrashReport, without matching."""
    return load_report(detect(target), vmlinux=vmlinux, debuginfo=debuginfo)


def load_library_in_background(paths: Optional[Sequence[Path]] = None) -> Future[Library]:
    """Load the signature library (and import the parsers and matcher) in a thread.

    drgn releases the GIL while it loads debug info, so on a vmcore this work
    overlaps with it and costs nothing.
    """

    def work() -> Library:
        # Warm-up imports: the collector parses the dump's dmesg, the core builds the document.
        for module in ("gsotriage.parse", "gsotriage.analysis.document"):
            importlib.import_module(module)
        from gsotriage.match.loader import load_library

        return load_library(paths)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gsotriage-signatures")
    future = pool.submit(work)
    pool.shutdown(wait=False)
    return future
