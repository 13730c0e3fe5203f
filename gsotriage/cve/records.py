"""Reading the kernel CNA's CVE JSON 5 records: description, files, and per-branch fix data.

A record of the Linux kernel CNA (``assignerOrgId`` f4215fc3-...) carries the fix
commit's message as its description (often with the crash it fixed), the files
the fix touched (``affected[].programFiles``) and two ``affected`` blocks:

* a ``git`` block: per stable branch, ``version`` = the commit that introduced the
  bug, ``lessThan`` = the commit that fixed it in that branch;
* a ``semver`` block with ``defaultStatus: affected``: ``{version: "5.6", status:
  affected}`` (the release the bug entered), ``{version: "0", lessThan: "5.6",
  status: unaffected}`` (older kernels never had it), ``{version: "6.1.85",
  lessThanOrEqual: "6.1.*", status: unaffected}`` (the 6.1 series is fixed from
  6.1.85 on) and ``{version: "6.9", lessThanOrEqual: "*", versionType:
  original_commit_for_fix}`` (the mainline release of the fix).

Records may also mark stable ranges ``affected`` explicitly (the bug was backported
into a stable series: ``{version: "4.14.189", lessThan: "4.15", status:
affected}``). The bippy generator writes the ``git`` fix commits in the same order
as the fixed releases; :func:`read_record` pairs them only when the counts agree.

Both a checkout of the kernel's vulns repository (``cve/published/YYYY/*.json``)
and of cvelistV5 (``cves/YYYY/NNxxx/*.json``, all CNAs: only kernel records are
kept) are read, as are single files.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "KERNEL_CNA_ORG",
    "AffectedRange",
    "BranchFix",
    "CveRecord",
    "ReadResult",
    "RecordError",
    "VersionData",
    "iter_record_files",
    "parse_record",
    "read_dyad",
    "read_record",
    "read_records",
]

KERNEL_CNA_ORG = "f4215fc3-5b6b-47ff-a258-f7189bd81038"

_CVE_NAME = re.compile(r"^CVE-\d{4}-\d{4,}\.json$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_RELEASE = re.compile(r"^\d+\.\d+(\.\d+)?$")


class RecordError(ValueError):
    """A file that is not a usable CVE JSON 5 record (the message says why)."""


@dataclass(frozen=True)
class BranchFix:
    """The first release of one stable series that carries the fix, and the backport commit."""

    release: str  # "6.1.85"
    commit: Optional[str] = None


@dataclass(frozen=True)
class AffectedRange:
    """A stable range the record marks affected explicitly: ``start <= v < below``."""

    start: str
    below: str


@dataclass(frozen=True)
class VersionData:
    """The semver view of a record's ``affected`` blocks (git ranges turned into commits)."""

    introduced: Tuple[str, ...] = ()  # upstream releases the bug entered in
    fixed_upstream: Optional[str] = None  # mainline release of the fix ("6.9")
    stable: Tuple[BranchFix, ...] = ()  # first fixed release per stable series
    affected_ranges: Tuple[AffectedRange, ...] = ()
    unlisted: str = "unknown"  # affected | unaffected: a release no range names
    fix_commit: Optional[str] = None  # the mainline fix
    introduced_by: Tuple[str, ...] = ()  # commits that introduced the bug (one per branch)
    fixes: Optional[str] = None  # the mainline commit the fix fixes (its Fixes: tag)

    @property
    def complete(self) -> bool:
        """Enough to answer "is my kernel fixed" per branch: a mainline fix release is known."""
        return self.fixed_upstream is not None or bool(self.stable)


@dataclass(frozen=True)
class CveRecord:
    cve: str
    title: str  # the fix commit's subject
    description: str  # the record's description verbatim: the CNA's preamble and the fix commit's message
    program_files: Tuple[str, ...]
    versions: VersionData
    references: Tuple[str, ...] = ()
    path: Optional[str] = None

    @property
    def message(self) -> str:
        """The fix commit's message (the crash it fixed, if its author quoted it)."""
        return _message(self.description)

    @property
    def year(self) -> str:
        return self.cve.split("-")[1]

    @property
    def url(self) -> str:
        """The record in the kernel CNA's own repository."""
        return f"https://git.kernel.org/pub/scm/linux/security/vulns.git/tree/cve/published/{self.year}/{self.cve}.json"

    @property
    def fix_url(self) -> Optional[str]:
        c = self.versions.fix_commit
        return None if c is None else f"https://git.kernel.org/linus/{c}"


def _text(cna: Mapping[str, Any]) -> str:
    for d in cna.get("descriptions") or ():
        if isinstance(d, Mapping) and d.get("lang", "en").startswith("en") and isinstance(d.get("value"), str):
            return str(d["value"])
    return ""


_PREAMBLE = "In the Linux kernel, the following vulnerability has been resolved:"


def _message(description: str) -> str:
    """The commit message proper: the CNA's one-line preamble removed."""
    text = description.strip()
    if text.startswith(_PREAMBLE):
        text = text[len(_PREAMBLE) :].lstrip("\n")
    return text


def _is_release(v: Any) -> bool:
    return isinstance(v, str) and _RELEASE.match(v) is not None


def _vkey(v: str) -> Tuple[int, ...]:
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _same_series(a: str, b: str) -> bool:
    return _vkey(a)[:2] == _vkey(b)[:2]


def _versions(affected: Sequence[Mapping[str, Any]], dyad: Optional[Mapping[str, str]] = None) -> VersionData:
    introduced: List[str] = []
    introduced_by: List[str] = []
    fix_commits: List[str] = []  # git lessThan, in record order, deduplicated
    fixes_of: Dict[str, str] = {}  # fix commit -> the commit it fixes
    fixed_releases: List[str] = []  # the semver fixed releases, in record order
    fixed_upstream: Optional[str] = None
    ranges: List[AffectedRange] = []
    unlisted = "unknown"
    for block in affected:
        entries = [v for v in block.get("versions") or () if isinstance(v, Mapping)]
        semver = [v for v in entries if v.get("versionType") != "git"]
        if semver and block.get("defaultStatus") in ("affected", "unaffected"):
            if unlisted != "affected":
                unlisted = str(block["defaultStatus"])
        for v in entries:
            kind, status, ver = v.get("versionType"), v.get("status"), v.get("version")
            if kind == "git":
                if _SHA.match(str(ver or "")) and ver not in introduced_by and ver != "0" * 40:
                    introduced_by.append(str(ver))
                fix = v.get("lessThan")
                if isinstance(fix, str) and _SHA.match(fix) and fix not in fix_commits:
                    fix_commits.append(fix)
                if isinstance(fix, str) and _SHA.match(str(ver or "")):
                    fixes_of.setdefault(fix, str(ver))
                continue
            if not _is_release(ver) and ver != "0":
                continue
            if kind is None and status == "affected" and _is_release(ver):
                introduced.append(str(ver))
            elif kind == "original_commit_for_fix" and status == "unaffected" and _is_release(ver):
                fixed_upstream = str(ver)
                fixed_releases.append(str(ver))
            elif kind == "semver" and status == "unaffected" and "lessThanOrEqual" in v and _is_release(ver):
                fixed_releases.append(str(ver))
            elif kind == "semver" and status == "unaffected" and ver == "0" and _is_release(v.get("lessThan")):
                if v["lessThan"] not in introduced:
                    introduced.append(str(v["lessThan"]))
            elif kind == "semver" and status == "affected" and _is_release(ver) and _is_release(v.get("lessThan")):
                ranges.append(AffectedRange(str(ver), str(v["lessThan"])))
    # An explicit affected range closed inside its own series names that series' fix.
    for r in ranges:
        if _same_series(r.start, r.below) and r.below not in fixed_releases:
            fixed_releases.append(r.below)
    # bippy writes the git ranges in the order of their fixed releases (the .dyad
    # order), whatever order the semver entries come in.
    fixed_releases.sort(key=_vkey)
    commits: Dict[str, Optional[str]] = {r: None for r in fixed_releases}
    if len(fix_commits) == len(fixed_releases):
        commits = dict(zip(fixed_releases, fix_commits))
    elif dyad:
        commits = {r: dyad.get(r) for r in fixed_releases}
    if fixed_upstream is None and dyad:
        # A bug fixed in the merge window that introduced it: no released kernel was
        # affected upstream, so the record has no semver entry for the mainline fix;
        # the .dyad pairs it with its release ("6.11:<bug>:6.11:<fix>").
        mainline = sorted((r for r in dyad if r.count(".") == 1), key=_vkey)
        if mainline:
            fixed_upstream = mainline[-1]
            commits[fixed_upstream] = dyad[fixed_upstream]
    fix_commit = commits.get(fixed_upstream) if fixed_upstream else None
    stable = sorted(
        (BranchFix(r, commits.get(r)) for r in fixed_releases if r != fixed_upstream), key=lambda b: _vkey(b.release)
    )
    return VersionData(
        introduced=tuple(sorted(set(introduced), key=_vkey)),
        fixed_upstream=fixed_upstream,
        stable=tuple(stable),
        affected_ranges=tuple(ranges),
        unlisted=unlisted,
        fix_commit=fix_commit,
        introduced_by=tuple(introduced_by),
        fixes=fixes_of.get(fix_commit) if fix_commit else None,
    )


def _is_kernel_record(doc: Mapping[str, Any], cna: Mapping[str, Any]) -> bool:
    meta = doc.get("cveMetadata") or {}
    if meta.get("assignerOrgId") == KERNEL_CNA_ORG:
        return True
    prov = cna.get("providerMetadata") or {}
    return bool(prov.get("orgId") == KERNEL_CNA_ORG)


def read_dyad(text: str) -> Dict[str, str]:
    """``fixed release -> fix commit`` from a vulns repository ``.dyad`` file
    (lines ``introduced:commit:fixed:commit``), used when the JSON alone cannot pair them."""
    out: Dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":")
        if line.startswith("#") or len(parts) != 4:
            continue
        if _is_release(parts[2]) and _SHA.match(parts[3]):
            out.setdefault(parts[2], parts[3])
    return out


def _sibling_dyad(path: Optional[str]) -> Optional[Dict[str, str]]:
    if path is None or not path.endswith(".json"):
        return None
    try:
        return read_dyad(Path(path[:-5] + ".dyad").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def parse_record(
    doc: Any, path: Optional[str] = None, *, dyad: Optional[Mapping[str, str]] = None
) -> Optional[CveRecord]:
    """A record from its decoded JSON; None for a record of another CNA or not published.

    ``dyad`` (fixed release -> commit) pairs fix commits with releases when the
    record's own lists do not line up. Raises RecordError when the document is not
    a CVE JSON 5 record at all."""
    if not isinstance(doc, Mapping) or doc.get("dataType") != "CVE_RECORD":
        raise RecordError("not a CVE JSON 5 record (dataType is not CVE_RECORD)")
    meta = doc.get("cveMetadata")
    cna = (doc.get("containers") or {}).get("cna")
    if not isinstance(meta, Mapping) or not isinstance(cna, Mapping) or not isinstance(meta.get("cveId"), str):
        raise RecordError("CVE record without cveMetadata.cveId or containers.cna")
    if meta.get("state") != "PUBLISHED" or not _is_kernel_record(doc, cna):
        return None
    affected = [a for a in cna.get("affected") or () if isinstance(a, Mapping)]
    files: List[str] = []
    for a in affected:
        for f in a.get("programFiles") or ():
            if isinstance(f, str) and f not in files:
                files.append(f)
    description = _text(cna)
    title = cna.get("title") if isinstance(cna.get("title"), str) else _message(description).split("\n", 1)[0]
    refs = tuple(
        str(r["url"]) for r in cna.get("references") or () if isinstance(r, Mapping) and isinstance(r.get("url"), str)
    )
    return CveRecord(
        cve=str(meta["cveId"]),
        title=str(title).strip(),
        description=description,
        program_files=tuple(files),
        versions=_versions(affected, dyad),
        references=refs,
        path=path,
    )


def read_record(path: Union[str, Path]) -> Optional[CveRecord]:
    """Read one record file. Raises RecordError (unreadable, not JSON, not a record)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RecordError(f"cannot read: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"not JSON: {exc}") from exc
    return _parse_with_dyad(doc, str(path))


def _parse_with_dyad(doc: Any, path: str) -> Optional[CveRecord]:
    rec = parse_record(doc, path)
    if rec is not None and rec.versions.fix_commit is None and (rec.versions.complete or rec.versions.affected_ranges):
        dyad = _sibling_dyad(path)
        if dyad:
            rec = parse_record(doc, path, dyad=dyad)
    return rec


_SKIP_DIRS = frozenset({".git", "testing", "rejected", "reserved"})


def iter_record_files(paths: Sequence[Union[str, Path]]) -> Iterator[Tuple[Path, bool]]:
    """(file, named explicitly) for the CVE-*.json files under the given files and
    directories, in a stable order. ``testing``, ``rejected`` and ``reserved``
    folders of the vulns repository are skipped."""
    for p in paths:
        path = Path(p)
        if not path.is_dir():
            yield path, True
            continue
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            for n in sorted(names):
                if _CVE_NAME.match(n):
                    yield Path(root) / n, False


# cvelistV5 holds every CNA's records: a cheap byte test skips the other CNAs'
# files without decoding them.
_ORG_BYTES = KERNEL_CNA_ORG.encode()


@dataclass(frozen=True)
class ReadResult:
    records: Tuple[CveRecord, ...]
    files: int  # record files seen
    other: int  # files of other CNAs or not published
    problems: Tuple[Tuple[str, str], ...]  # (path, message)


def read_records(paths: Sequence[Union[str, Path]]) -> ReadResult:
    """Every kernel record under ``paths``; unreadable files become problems, not exceptions."""
    records: List[CveRecord] = []
    problems: List[Tuple[str, str]] = []
    files = other = 0
    for f, explicit in iter_record_files(paths):
        files += 1
        try:
            raw = f.read_bytes()
        except OSError as exc:
            problems.append((str(f), f"cannot read: {exc.strerror or exc}"))
            continue
        if _ORG_BYTES not in raw and not explicit:
            other += 1
            continue
        try:
            rec = _parse_with_dyad(json.loads(raw), str(f))
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append((str(f), str(exc) if isinstance(exc, RecordError) else f"not JSON: {exc}"))
            continue
        if rec is None:
            other += 1
            if explicit:
                problems.append((str(f), "not a published record of the Linux kernel CNA"))
            continue
        records.append(rec)
    return ReadResult(tuple(records), files, other, tuple(problems))
