"""Vendor kernel changelogs: did this kernel's package pick up a fix?

A backporting vendor's version number says nothing about which upstream fixes
it carries (gsotriage.kernel.versions answers "unknown"), but its package
changelog does: ``rpm -q --changelog kernel-core-<ver>`` (RHEL and rebuilds,
Fedora, SUSE) lists each backport by its upstream subject, RHEL's with
``{CVE-...}``; a Debian or Ubuntu ``changelog.Debian`` lists upstream stable
updates by subject and security fixes under ``* CVE-...`` headers.

:func:`parse_changelog` reads either format into entries of logical items
(wrapped lines joined); :func:`changelog_status` finds a fix by CVE id or by its
exact subject in the entries at and below the crashed kernel's own entry, and
says which line it relied on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from gsotriage.kernel.versions import FixStatus
from gsotriage.model import Kernel

__all__ = ["Changelog", "Entry", "Item", "changelog_status", "parse_changelog"]


@dataclass(frozen=True)
class Item:
    text: str  # the logical line, continuation lines joined
    line: int  # 1-based line number of its first physical line


@dataclass(frozen=True)
class Entry:
    version: Optional[str]  # "5.14.0-427.1.1.el9_4", "6.1.85-1", "5.15.0-102.112"; None if the header has none
    header: str
    line: int
    items: Tuple[Item, ...]


@dataclass(frozen=True)
class Changelog:
    format: str  # rpm | debian
    entries: Tuple[Entry, ...]
    path: Optional[str] = None

    def entry_index(self, kernel: Kernel) -> Optional[int]:
        """The index of the kernel's own entry (its package version), or None."""
        wanted = package_versions(kernel)
        for i, e in enumerate(self.entries):
            if e.version and any(e.version == w or e.version.startswith(w + "~") for w in wanted):
                return i
        return None


# "* Mon Mar 04 2024 Name <mail> [5.14.0-427.1.1.el9_4]" or "... - 6.8.4-200.fc39"
_RPM_HEAD = re.compile(r"^\* (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} +\d{1,2} \d{4} (.*)$")
_RPM_VERSION = re.compile(r"\[([^\]\s]+)\]\s*$|\s-\s*(\d\S*)\s*$")
# "linux (6.1.85-1) bookworm-security; urgency=high"
_DEB_HEAD = re.compile(r"^([a-z0-9][a-z0-9.+-]*) \(([^)\s]+)\) [^;]+; ?urgency=")
_DEB_TRAILER = re.compile(r"^ -- ")
_BULLET = re.compile(r"^(\s*)([-*+]) ")


def parse_changelog(text: str, path: Optional[str] = None) -> Changelog:
    """Parse an RPM or Debian changelog. Raises ValueError when the text is neither."""
    lines = text.replace("\r\n", "\n").split("\n")
    rpm = sum(1 for ln in lines[:2000] if _RPM_HEAD.match(ln))
    deb = sum(1 for ln in lines[:2000] if _DEB_HEAD.match(ln))
    if not rpm and not deb:
        raise ValueError(
            "not a kernel changelog: no '* <date> <name> [<version>]' (rpm -q --changelog) or "
            "'linux (<version>) <dist>; urgency=' (Debian/Ubuntu) entry headers"
        )
    fmt = "rpm" if rpm >= deb else "debian"
    head = _RPM_HEAD if fmt == "rpm" else _DEB_HEAD
    entries: List[Entry] = []
    cur: Optional[Tuple[str, Optional[str], int]] = None
    items: List[Item] = []
    indent = -1  # indentation of the current item's bullet
    for n, ln in enumerate(lines, start=1):
        if head.match(ln):
            if cur is not None:
                entries.append(Entry(cur[1], cur[0], cur[2], tuple(items)))
            cur, items, indent = (ln, _version(fmt, ln), n), [], -1
            continue
        if cur is None or not ln.strip() or _DEB_TRAILER.match(ln):
            indent = -1 if not ln.strip() or _DEB_TRAILER.match(ln) else indent
            continue
        bullet = _BULLET.match(ln)
        lead = len(ln) - len(ln.lstrip())
        if bullet is None and items and indent >= 0 and lead > indent:
            # A wrapped line: part of the item above.
            items[-1] = Item(items[-1].text + " " + ln.strip(), items[-1].line)
            continue
        items.append(Item(ln.strip(), n))
        indent = len(bullet.group(1)) if bullet else -1
    if cur is not None:
        entries.append(Entry(cur[1], cur[0], cur[2], tuple(items)))
    return Changelog(fmt, tuple(entries), path)


def _version(fmt: str, header: str) -> Optional[str]:
    if fmt == "debian":
        m = _DEB_HEAD.match(header)
        return m.group(2) if m else None
    m = _RPM_VERSION.search(header)
    if not m:
        return None
    return m.group(1) or m.group(2)


_ARCH = re.compile(r"\.(x86_64|aarch64|ppc64le|s390x|i686|noarch|armv7hl)(\+\w+)?$")
_UBUNTU_UPLOAD = re.compile(r"#(\d+)(?:~\S+)?-Ubuntu")
_DEBIAN_PKG = re.compile(r"Debian (\d+\.\d+\.\d+-\S+)")


def package_versions(kernel: Kernel) -> List[str]:
    """The package versions the crashed kernel's own changelog entry may carry."""
    out: List[str] = []
    rel = kernel.release or ""
    text = " ".join(x for x in (kernel.version, kernel.distro_version) if x)
    m = _DEBIAN_PKG.search(text)
    if m:
        out.append(m.group(1))
    m = _UBUNTU_UPLOAD.search(text)
    r = re.match(r"^(\d+\.\d+\.\d+-\d+)", rel)
    if m and r:
        out.append(f"{r.group(1)}.{m.group(1)}")  # 5.15.0-102-generic + #112-Ubuntu -> 5.15.0-102.112
    if rel:
        out.append(_ARCH.sub("", rel))  # RHEL/Fedora: the package release is uname -r less the arch
    return [v for v in out if v]


def _squash(text: str) -> str:
    """Case and all whitespace dropped: wrapped lines and re-indented subjects compare equal."""
    return re.sub(r"\s+", "", text).lower().rstrip(".")


def _hit(entries: Tuple[Entry, ...], cve: Optional[str], subject: Optional[str]) -> Optional[Tuple[Entry, Item, str]]:
    cve_rx = re.compile(rf"(?<![\w-]){re.escape(cve)}(?!\d)", re.I) if cve else None
    subj = _squash(subject) if subject and len(subject) >= 12 else None
    for e in entries:
        for item in e.items:
            if cve_rx is not None and cve_rx.search(item.text):
                return e, item, cve or ""
            if subj is not None and subj in _squash(item.text):
                return e, item, "the fix's subject"
    return None


def changelog_status(changelog: Changelog, kernel: Kernel, cve: Optional[str], subject: Optional[str]) -> FixStatus:
    """Fixed / not-fixed / unknown for one fix, from the kernel package's changelog,
    with the line relied on."""
    where = changelog.path or "the kernel changelog"
    top = changelog.entries[0].version if changelog.entries else None
    i = changelog.entry_index(kernel)
    if i is None:
        if kernel.release:
            return FixStatus(
                "unknown",
                f"{where} has no entry for {kernel.release} (its newest entry is {top or 'unversioned'}): "
                "it is not this kernel's changelog",
            )
        i = 0
    own = changelog.entries[i]
    found = _hit(changelog.entries[i:], cve, subject)
    if found is not None:
        entry, item, by = found
        return FixStatus(
            "fixed",
            f"{where} line {item.line} (entry {entry.version or entry.header.strip()}) names {by}: {item.text[:200]}",
        )
    if not kernel.release:
        return FixStatus("unknown", f"{where}: the crashed kernel's release is not known, so its entry cannot be found")
    named = [x for x in (cve, f"'{subject}'" if subject else None) if x]
    what = f"neither {named[0]} nor {named[1]}" if len(named) == 2 else (named[0] if named else "the fix")
    return FixStatus(
        "not-fixed",
        f"{where} from this kernel's entry {own.version} (line {own.line}) down does not name {what}".replace(
            "does not name neither", "names neither"
        ),
    )
