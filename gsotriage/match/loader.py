"""Strict loading of signature YAML files, with errors that carry file:line.

PyYAML silently keeps the last of two duplicate keys; we refuse them. Every
file is validated against the JSON Schema before it becomes a Signature, and a
file that fails never drops silently out of the library: the caller gets its
errors and decides (the CLI exits 4).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from gsotriage.match.clauses import build_clause
from gsotriage.match.regex import PatternError
from gsotriage.match.signature import (
    ClauseSpec,
    Fix,
    Reference,
    Remediation,
    Signature,
    SignatureTest,
    Workaround,
    signature_schema,
)
from gsotriage.match.untrusted import LibraryBound, check_node_graph, confine_input, read_file

__all__ = [
    "Library",
    "SignatureError",
    "builtin_signature_dir",
    "load_library",
    "load_signature_file",
    "parse_signature",
]


@dataclass(frozen=True)
class SignatureError:
    path: str
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class _LineDict(Dict[str, Any]):
    line: int = 0
    key_lines: Dict[str, int]


class _LineList(List[Any]):
    line: int = 0
    item_lines: List[int]


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


# libyaml's C parser when PyYAML was built with it (3x faster on the library).
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[misc]
    """Safe loader that records line numbers and refuses duplicate keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> _LineDict:
    # Duplicates are checked among the keys written in this mapping; keys that
    # a YAML merge (<<: *anchor) brings in may be overridden, as YAML intends.
    first_line: Dict[str, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = str(key_node.value)
        if key in first_line:
            raise _DuplicateKey(
                None, None, f"duplicate key {key!r} (first at line {first_line[key]})", key_node.start_mark
            )
        first_line[key] = key_node.start_mark.line + 1
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _StrictLoader, node: yaml.SequenceNode) -> _LineList:
    out = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _line_of(doc: Any, path: Sequence[Any]) -> Optional[int]:
    """Line of the deepest node on ``path`` that we can locate."""
    line = getattr(doc, "line", None)
    node = doc
    for part in path:
        if isinstance(node, _LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, _LineList) and isinstance(part, int) and part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def _error_line(doc: Any, err: Any) -> Optional[int]:
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict) and isinstance(err.schema, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            path.append(extra[0])
    return _line_of(doc, path)


_VALIDATOR: Any = None


def _validator() -> Any:
    """The schema validator, built (and jsonschema imported) only when a library needs validating."""
    global _VALIDATOR
    if _VALIDATOR is None:
        import jsonschema

        _VALIDATOR = jsonschema.Draft202012Validator(
            signature_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
    return _VALIDATOR


def _best_message(err: Any) -> Any:
    # oneOf errors are unreadable; descend to the most specific sub-error.
    import jsonschema

    best = jsonschema.exceptions.best_match([err])
    return best if best is not None else err


def _clauses(
    section: Sequence[Mapping[str, Any]], required: bool, path: str
) -> Tuple[List[ClauseSpec], List[SignatureError]]:
    specs: List[ClauseSpec] = []
    problems: List[SignatureError] = []
    for raw in section:
        line = getattr(raw, "line", None)
        try:
            clause = build_clause(raw)
        except (ValueError, TypeError, KeyError, PatternError) as exc:
            problems.append(SignatureError(path, line, str(exc)))
            continue
        default_weight = 2.0 if required else 1.0
        specs.append(ClauseSpec(clause, required, float(raw.get("weight", default_weight)), raw.get("why"), line))
    return specs, problems


def _compose(text: str) -> Any:
    """Parse YAML with the strict loader, refusing alias bombs and deep nesting before constructing."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        check_node_graph(node)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def load_signature_file(path: Path, *, validate: bool = True) -> Tuple[Optional[Signature], List[SignatureError]]:
    try:
        data = read_file(path)
    except LibraryBound as exc:
        return None, [SignatureError(str(path), exc.line, str(exc))]
    return parse_signature(path, data, validate=validate)


def parse_signature(
    path: Path, data: bytes, *, validate: bool = True
) -> Tuple[Optional[Signature], List[SignatureError]]:
    """A signature from the bytes of its file (``path`` names it and anchors its test inputs)."""
    name = str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [SignatureError(name, None, f"cannot read: {exc}")]
    try:
        doc = _compose(text)
    except LibraryBound as exc:
        return None, [SignatureError(name, exc.line, str(exc))]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        return None, [SignatureError(name, line, f"YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [SignatureError(name, None, f"YAML: {exc}")]
    if not isinstance(doc, dict):
        return None, [SignatureError(name, 1, "a signature file must be a YAML mapping")]
    errors = (
        [
            SignatureError(name, _error_line(doc, e), _format_schema_error(e))
            for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        ]
        if validate
        else []
    )
    if errors:
        return None, errors
    clauses: List[ClauseSpec] = []
    problems: List[SignatureError] = []
    for section, required in (("required", True), ("supporting", False)):
        specs, probs = _clauses(doc["match"].get(section, []), required, name)
        clauses += specs
        problems += probs
    if problems:
        return None, problems
    confined = [
        SignatureError(name, getattr(t, "line", None), why)
        for t in doc["tests"]
        if isinstance(t, dict) and (why := confine_input(path, t.get("input"))) is not None
    ]
    if confined:
        return None, confined
    if path.stem != doc["id"]:
        id_line = doc.key_lines.get("id") if isinstance(doc, _LineDict) else None
        return None, [SignatureError(name, id_line, f"id {doc['id']!r} must equal the file name {path.stem!r}")]
    sig = Signature(
        id=doc["id"],
        title=doc["title"],
        summary=doc["summary"],
        mechanism=doc["mechanism"],
        maturity=doc["maturity"],
        severity=doc["severity"],
        tags=tuple(doc["tags"]),
        clauses=tuple(clauses),
        references=tuple(Reference(r["url"], r.get("title")) for r in doc.get("references", [])),
        fixed_by=tuple(
            Fix(
                commit=f["commit"],
                subject=f["subject"],
                first_release=f.get("first_release"),
                fixes=f.get("fixes"),
                cve=f.get("cve"),
                stable=tuple(f.get("stable", [])),
                verified_by=tuple(f["verified_by"]),
                introduced=tuple(f.get("introduced", [])),
                stable_commits=tuple((str(k), str(v)) for k, v in f.get("stable_commits", {}).items()),
                affected_ranges=tuple((r["from"], r["below"]) for r in f.get("affected_ranges", [])),
                unlisted=f.get("unlisted"),
            )
            for f in doc.get("fixed_by", [])
        ),
        remediation=Remediation(
            upgrade=doc.get("remediation", {}).get("upgrade"),
            workarounds=tuple(
                Workaround(w["command"], w["cost"], w.get("note"))
                for w in doc.get("remediation", {}).get("workarounds", [])
            ),
        ),
        unverified=tuple(doc.get("unverified", [])),
        confirm_with_vmcore=doc.get("confirm_with_vmcore"),
        refines=doc.get("refines"),
        tests=tuple(
            SignatureTest(
                name=t["name"],
                expect=t["expect"],
                provenance=t["provenance"],
                input=t.get("input"),
                report=t.get("report"),
                source=t.get("source"),
                top=bool(t.get("top", False)),
                line=getattr(t, "line", None),
            )
            for t in doc["tests"]
        ),
        path=name,
    )
    return sig, []


def _format_schema_error(err: Any) -> str:
    err = _best_message(err)
    where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
    msg = err.message
    if err.validator == "additionalProperties":
        msg = msg.replace("Additional properties are not allowed", "unknown key(s)")
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return f"{where}: {msg}"


@dataclass(frozen=True)
class Library:
    signatures: Tuple[Signature, ...]
    errors: Tuple[SignatureError, ...]
    digest: str
    paths: Tuple[str, ...]

    def get(self, sig_id: str) -> Optional[Signature]:
        return next((s for s in self.signatures if s.id == sig_id), None)


def builtin_signature_dir() -> Path:
    """The signatures shipped with the package (wheel) or beside it (source checkout)."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_signatures"
    if packaged.is_dir():
        return packaged
    return here.parent / "signatures"


def _files(paths: Iterable[Path]) -> List[Path]:
    out: List[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.glob("*.y*ml") if q.suffix in (".yaml", ".yml"))
        else:
            out.append(p)
    return out


def _validated_marker(digest: str) -> Optional[Path]:
    """Where we remember that a library with this exact content passed the schema."""
    from gsotriage import __version__

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha256(f"{digest}\0{__version__}\0{schema_json()}".encode()).hexdigest()[:24]
    return Path(base) / "gsotriage" / "validated-signatures" / key


# The modules whose objects a parsed library holds: a cached library is only reused by the
# code that wrote it (the version number does not change between commits).
_PICKLED_CODE = ("match", "kernel", "model.py", "errors.py")


def _code_digest() -> str:
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for part in _PICKLED_CODE:
        path = root / part
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _parsed_cache(digest: str, files: Sequence[Path]) -> Optional[Path]:
    """Where the parsed library of this exact content, these paths and this code is kept.

    Parsing 80-odd YAML files costs more than matching them against a crash (~100 ms of a
    0.5 s vmcore triage), so the parsed library is pickled beside the validation marker.
    ``GSOTRIAGE_LIBRARY_CACHE=0`` turns it off."""
    if os.environ.get("GSOTRIAGE_LIBRARY_CACHE", "1") == "0" or not files:
        return None
    from gsotriage import __version__

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        code = _code_digest()
    except OSError:
        return None
    key = hashlib.sha256(
        "\0".join([digest, __version__, code, schema_json(), *(str(f) for f in files)]).encode()
    ).hexdigest()[:24]
    return Path(base) / "gsotriage" / "parsed-signatures" / f"{key}.pickle"


def _private(path: Path) -> bool:
    """The file and its directory belong to this user and nobody else can write them: a
    pickle runs code when loaded, so one another user could have written is never read."""
    for p in (path, path.parent):
        st = p.stat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return False
    return True


def _read_parsed(path: Optional[Path], digest: str) -> Optional[Library]:
    if path is None:
        return None
    try:
        if not _private(path):
            return None
        with open(path, "rb") as f:
            lib = pickle.load(f)  # noqa: S301 - our own file, private to this user (_private)
    except Exception:  # absent, unreadable, truncated or from other code: parse again
        return None
    return lib if isinstance(lib, Library) and lib.digest == digest and not lib.errors else None


# Parsed libraries kept: each edit of a library directory makes a new one.
_PARSED_KEPT = 8


def _write_parsed(path: Optional[Path], lib: Library) -> None:
    if path is None or lib.errors:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".parsed-")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(lib, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        kept = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[_PARSED_KEPT:]:
            old.unlink()
    except Exception:  # noqa: S110 - a read-only or full cache only costs the parse next run
        pass


def load_library(paths: Optional[Sequence[Path]] = None) -> Library:
    """Load and validate a signature library.

    Validating 40-odd files against the JSON Schema costs more than the rest of a
    text triage, so a library whose exact bytes (and this tool version and schema)
    already passed is not validated again; any change to any file re-validates.
    A library that loaded without errors is kept parsed (see ``_parsed_cache``).
    """
    files = _files(paths if paths else [builtin_signature_dir()])
    h = hashlib.sha256()
    contents: Dict[Path, Any] = {}
    for f in files:
        try:
            contents[f] = read_file(f)
        except LibraryBound as exc:
            contents[f] = exc
        data = contents[f] if isinstance(contents[f], bytes) else b"unreadable"
        h.update(f.name.encode() + b"\0" + data + b"\0")
    digest = "sha256:" + h.hexdigest()[:16]
    parsed = _parsed_cache(digest, files)
    cached = _read_parsed(parsed, digest)
    if cached is not None:
        return cached
    marker = _validated_marker(digest) if files else None
    try:
        validate = marker is None or not marker.exists()
    except OSError:  # an unreadable cache directory only costs the validation
        validate = True
    sigs: List[Signature] = []
    errors: List[SignatureError] = []
    seen: Dict[str, str] = {}
    for f in files:
        content = contents[f]
        if isinstance(content, LibraryBound):
            errors.append(SignatureError(str(f), content.line, str(content)))
            continue
        sig, errs = parse_signature(f, content, validate=validate)
        errors += errs
        if sig is None:
            continue
        if sig.id in seen:
            errors.append(SignatureError(str(f), None, f"duplicate signature id {sig.id!r} (also in {seen[sig.id]})"))
            continue
        seen[sig.id] = str(f)
        sigs.append(sig)
    for sig in sigs:
        if sig.refines is not None and sig.refines not in seen:
            errors.append(SignatureError(seen[sig.id], None, f"refines unknown signature {sig.refines!r}"))
    if not files:
        errors.append(
            SignatureError(", ".join(str(p) for p in (paths or [])) or "signatures", None, "no signature files found")
        )
    if validate and not errors and marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # a read-only home only costs the validation time next run
    lib = Library(tuple(sigs), tuple(errors), digest, tuple(str(f) for f in files))
    _write_parsed(parsed, lib)
    return lib


def schema_json() -> str:
    return json.dumps(signature_schema(), indent=2, sort_keys=False) + "\n"
