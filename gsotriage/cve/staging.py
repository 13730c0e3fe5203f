"""A scratch copy of a signature directory that an import edits, then syncs back."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import List, Union

__all__ = ["Staging"]


class Staging:
    """A copy of the signature directory that the import edits; ``sync`` copies new or
    changed files back (never deletes) and ``close`` removes the copy."""

    def __init__(self, source: Path, cases: Path) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="gsotriage-import-")
        self.root = Path(self._tmp.name) / "signatures"
        if source.is_dir():
            shutil.copytree(source, self.root)
        else:
            self.root.mkdir(parents=True)
        (self.root / cases).mkdir(parents=True, exist_ok=True)
        self.source = source
        self._removed: List[Path] = []

    def remove(self, rel: Union[str, Path]) -> None:
        """Remove a file (and, on sync, its original)."""
        p = self.root / rel
        if p.exists():
            p.unlink()
        self._removed.append(Path(rel))

    def write(self, rel: Union[str, Path], text: str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")

    def sync(self, dry_run: bool, owned: Union[str, Path, None] = None) -> List[str]:
        """Copy new or changed files back; the list of them (what would be written on a
        dry run). Under ``owned`` (a folder only the import writes) files the staging
        copy no longer has are removed too."""
        changed: List[str] = []
        for rel in self._removed:
            dest = self.source / rel
            if dest.is_file():
                changed.append(f"{dest} (removed)")
                if not dry_run:
                    dest.unlink()
        if owned is not None and (self.source / owned).is_dir():
            for dest in sorted((self.source / owned).rglob("*")):
                if dest.is_file() and not (self.root / dest.relative_to(self.source)).exists():
                    changed.append(f"{dest} (removed)")
                    if not dry_run:
                        dest.unlink()
        for p in sorted(self.root.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(self.root)
            dest = self.source / rel
            data = p.read_bytes()
            if dest.is_file() and dest.read_bytes() == data:
                continue
            changed.append(str(dest))
            if not dry_run:
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        return changed

    def close(self) -> None:
        self._tmp.cleanup()
