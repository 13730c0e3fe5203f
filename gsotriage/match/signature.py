"""Signatures as typed data, and the JSON Schema that validates their YAML files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from gsotriage.match.clauses import COMMON_KEYS, Clause, clause_kinds_schema

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "ClauseSpec",
    "Fix",
    "Reference",
    "Remediation",
    "Signature",
    "SignatureTest",
    "Workaround",
    "signature_schema",
]

# "mined": proposed by `signatures import-cve` from a CVE record, not yet reviewed by a person.
MATURITIES = ("experimental", "test", "stable", "mined")
SEVERITIES = ("critical", "high", "medium", "low", "info")
TEST_EXPECT = ("match", "partial", "ruled-out", "match-or-partial", "not-top")
POSITIVE = ("match", "partial", "match-or-partial")  # test expectations that show the class
NEGATIVE = ("ruled-out", "not-top")  # test expectations that show a look-alike


@dataclass(frozen=True)
class Reference:
    url: str
    title: Optional[str] = None


@dataclass(frozen=True)
class Fix:
    commit: str
    subject: str
    first_release: Optional[str] = None  # upstream tag, e.g. "v6.16"
    fixes: Optional[str] = None  # the commit this one fixes
    cve: Optional[str] = None
    stable: Tuple[str, ...] = ()  # stable releases carrying the backport
    verified_by: Tuple[str, ...] = ()  # URLs of the primary sources checked
    # Per-branch data from the CVE record (gsotriage signatures import-cve):
    introduced: Tuple[str, ...] = ()  # upstream releases the bug entered in
    stable_commits: Tuple[Tuple[str, str], ...] = ()  # (stable release, backport commit)
    affected_ranges: Tuple[Tuple[str, str], ...] = ()  # stable ranges (start, below) marked affected
    unlisted: Optional[str] = None  # affected | unaffected: a stable series the record does not name


@dataclass(frozen=True)
class Workaround:
    command: str
    cost: str
    note: Optional[str] = None


@dataclass(frozen=True)
class Remediation:
    upgrade: Optional[str] = None
    workarounds: Tuple[Workaround, ...] = ()


@dataclass(frozen=True)
class ClauseSpec:
    clause: Clause
    required: bool
    weight: float
    why: Optional[str]
    line: Optional[int]


@dataclass(frozen=True)
class SignatureTest:
    name: str
    expect: str  # one of TEST_EXPECT
    provenance: str  # real | reconstructed | factory
    input: Optional[str] = None  # path relative to the signature file
    report: Optional[Mapping[str, Any]] = None  # inline (partial) CrashReport JSON
    source: Optional[str] = None
    top: bool = False  # must also be the top verdict
    line: Optional[int] = None


@dataclass(frozen=True)
class Signature:
    id: str
    title: str
    summary: str
    mechanism: str
    maturity: str
    severity: str
    tags: Tuple[str, ...]
    clauses: Tuple[ClauseSpec, ...]
    references: Tuple[Reference, ...] = ()
    fixed_by: Tuple[Fix, ...] = ()
    remediation: Remediation = field(default_factory=Remediation)
    unverified: Tuple[str, ...] = ()
    confirm_with_vmcore: Optional[str] = None
    # The id of the crash-mechanism signature this one explains further (an origin).
    refines: Optional[str] = None
    tests: Tuple[SignatureTest, ...] = ()
    path: Optional[str] = None

    @property
    def generic(self) -> bool:
        return "generic" in self.tags


def _clause_list() -> Dict[str, Any]:
    return {"type": "array", "items": {"$ref": "#/$defs/clause"}}


def signature_schema() -> Dict[str, Any]:
    """JSON Schema (2020-12) of a signature file; generated so clause kinds stay in one place."""
    string = {"type": "string", "minLength": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gsotriage.invalid/schemas/signature.schema.json",
        "title": "gsotriage crash signature",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "summary", "mechanism", "maturity", "severity", "tags", "match", "tests"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*[a-z0-9]$"},
            "title": string,
            "summary": string,
            "mechanism": string,
            "maturity": {"enum": list(MATURITIES)},
            "severity": {"enum": list(SEVERITIES)},
            "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9-]+$"}, "minItems": 1},
            "references": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["url"],
                    "properties": {"url": string, "title": string},
                },
            },
            "fixed_by": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["commit", "subject", "verified_by"],
                    "properties": {
                        "commit": {"type": "string", "pattern": "^[0-9a-f]{12,40}$"},
                        "subject": string,
                        "first_release": {"type": "string", "pattern": r"^v\d+\.\d+$"},
                        "fixes": {"type": "string", "pattern": "^[0-9a-f]{12,40}$"},
                        "cve": {"type": "string", "pattern": r"^CVE-\d{4}-\d{4,}$"},
                        "stable": {"type": "array", "items": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"}},
                        "verified_by": {"type": "array", "items": string, "minItems": 1},
                        "introduced": {
                            "type": "array",
                            "items": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+)?$"},
                            "description": "upstream releases the bug entered in (CVE record)",
                        },
                        "stable_commits": {
                            "type": "object",
                            "description": "stable release -> the backport commit that fixed that series",
                            "propertyNames": {"pattern": r"^\d+\.\d+(\.\d+)?$"},
                            "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{12,40}$"},
                        },
                        "affected_ranges": {
                            "type": "array",
                            "description": "stable ranges the CVE record marks affected (a backported bug)",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["from", "below"],
                                "properties": {
                                    "from": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+)?$"},
                                    "below": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+)?$"},
                                },
                            },
                        },
                        "unlisted": {
                            "enum": ["affected", "unaffected"],
                            "description": "what a stable series the CVE record does not name is",
                        },
                    },
                },
            },
            "remediation": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "upgrade": string,
                    "workarounds": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["command", "cost"],
                            "properties": {"command": string, "cost": string, "note": string},
                        },
                    },
                },
            },
            "unverified": {"type": "array", "items": string},
            "confirm_with_vmcore": string,
            "refines": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*[a-z0-9]$"},
            "match": {
                "type": "object",
                "additionalProperties": False,
                "required": ["required"],
                "properties": {"required": {**_clause_list(), "minItems": 1}, "supporting": _clause_list()},
            },
            "tests": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "expect", "provenance"],
                    "properties": {
                        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                        "expect": {"enum": list(TEST_EXPECT)},
                        "top": {"type": "boolean"},
                        "provenance": {"enum": ["real", "reconstructed", "factory"]},
                        "source": string,
                        "input": string,
                        "report": {"type": "object"},
                    },
                    "oneOf": [{"required": ["input"]}, {"required": ["report"]}],
                },
            },
        },
        "$defs": {"clause": clause_kinds_schema(), "common": {"properties": dict(COMMON_KEYS)}},
    }
