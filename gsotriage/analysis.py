"""The core job, without any CLI: one input in, one diagnosis (and its JSON document) out.

``gsotriage analyze`` and ``gsotriage batch`` both call :func:`analyze_path`, so a
batch result line is exactly the document ``analyze --format json`` prints.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Union

from gsotriage.inputs import InputKind, detect, load_report
from gsotriage.match.engine import Diagnosis, diagnose
from gsotriage.match.loader import Library
from gsotriage.render.json import diagnosis_to_dict

__all__ = ["Analysis", "analyze_path", "exit_code_for"]

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

    ``library`` may still be loading (see load_library_async): it is only needed
    once the report is read.
    """
    kind = detect(target)
    report = load_report(target, vmlinux=vmlinux, debuginfo=debuginfo or [], progress=progress)
    lib = library.result() if isinstance(library, Future) else library
    diag = diagnose(report, lib.signatures)
    return Analysis(target, kind, diag, exit_code_for(diag))
