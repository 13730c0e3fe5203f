"""``gsotriage signatures``: list, show, lint, test, schema, docs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

import click

from gsotriage.errors import Exit

from .common import SIG_OPTION, err, guard, library, use_color, write

__all__ = ["signatures"]


@click.group()
def signatures() -> None:
    """List, show, lint and test crash signatures."""


@signatures.command("list")
@SIG_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False))
@guard
def sig_list(sig_paths: Sequence[str], fmt: str, output: Optional[str]) -> None:
    """List the signatures in the library."""
    import json

    from gsotriage.cve.counting import class_counts, counted

    lib = library(sig_paths)
    counts = class_counts(lib.signatures)
    if fmt == "json":
        rows = [
            {
                "id": s.id,
                "title": s.title,
                "maturity": s.maturity,
                "severity": s.severity,
                "tags": list(s.tags),
                "fixed_by": [f.commit for f in s.fixed_by],
                "counted": counted(s),
            }
            for s in lib.signatures
        ]
        doc = {"digest": lib.digest, "signatures": rows, "counts": counts.to_dict()}
        write(output, json.dumps(doc, indent=2) + "\n")
        return
    lines = [f"{s.id:58} {s.maturity:12} {','.join(s.tags)}" for s in lib.signatures]
    lines.append(
        f"{len(lib.signatures)} signatures, library {lib.digest}; {counts.counted} counted GSO/GRO/offload classes "
        f"(fix commit, per-branch fix data, real positive case) of {counts.classes} specific"
    )
    write(output, "\n".join(lines) + "\n")


@signatures.command("show")
@click.argument("sig_id")
@SIG_OPTION
@click.option("-o", "--output", type=click.Path(dir_okay=False))
@guard
def sig_show(sig_id: str, sig_paths: Sequence[str], output: Optional[str]) -> None:
    """Show one signature as a readable page (mechanism, evidence, fix, workaround, references)."""
    from gsotriage.render.sigdoc import signature_page

    lib = library(sig_paths)
    sig = lib.get(sig_id)
    if sig is None:
        err(f"no signature {sig_id!r}; 'gsotriage signatures list' shows the ids")
        sys.exit(Exit.USAGE)
    page = signature_page(sig)
    if not output and use_color(output):
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(page))
    else:
        write(output, page)


@signatures.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@guard
def sig_lint(paths: Sequence[str]) -> None:
    """Validate signature files against the schema (default: the built-in library); errors as file:line."""
    from gsotriage.match.lint import lint_library
    from gsotriage.match.loader import load_library

    lib = load_library([Path(p) for p in paths] if paths else None)
    issues = lint_library(lib.signatures)
    for e in lib.errors:
        click.echo(str(e), err=True)
    for issue in issues:
        click.echo(str(issue), err=True)
    errors = len(lib.errors) + sum(i.severity == "error" for i in issues)
    warnings = sum(i.severity == "warning" for i in issues)
    if errors:
        err(f"{errors} error(s), {warnings} warning(s) in {len(lib.signatures)} signatures")
        sys.exit(Exit.BAD_SIGNATURES)
    click.echo(f"{len(lib.signatures)} signatures OK ({warnings} warning(s))")


@signatures.command("test")
@SIG_OPTION
@click.argument("ids", nargs=-1)
@guard
def sig_test(sig_paths: Sequence[str], ids: Sequence[str]) -> None:
    """Run every signature's positive and negative test cases."""
    from gsotriage.analysis.selftest import run_signature_tests

    lib = library(sig_paths)
    results = run_signature_tests(lib.signatures, ids or None)
    failed = [r for r in results if not r.ok]
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        click.echo(f"{mark} {r.signature} :: {r.case} expect {r.expect}, got {r.got} ({r.provenance}; {r.detail})")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(Exit.SELFTEST_FAILED if failed else 0)


@signatures.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False))
def sig_schema(output: Optional[str]) -> None:
    """Print the JSON Schema of signature files (for editors and CI)."""
    from gsotriage.match.loader import schema_json

    write(output, schema_json())


@signatures.command("docs")
@SIG_OPTION
@click.option(
    "-o", "--output", "out_dir", type=click.Path(file_okay=False), default="docs/signatures", show_default=True
)
@guard
def sig_docs(sig_paths: Sequence[str], out_dir: str) -> None:
    """Generate one Markdown page per signature plus an index."""
    from gsotriage.render.sigdoc import signature_page

    lib = library(sig_paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = ["# Signature library", "", "Generated by `gsotriage signatures docs`; do not edit by hand.", ""]
    index += ["| id | title | maturity | tags |", "|---|---|---|---|"]
    for sig in lib.signatures:
        (out / f"{sig.id}.md").write_text(signature_page(sig), encoding="utf-8")
        index.append(f"| [`{sig.id}`]({sig.id}.md) | {sig.title} | {sig.maturity} | {', '.join(sig.tags)} |")
    (out / "README.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    click.echo(f"wrote {len(lib.signatures) + 1} pages to {out}")


@signatures.command("import-cve")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--into",
    "into",
    type=click.Path(file_okay=False),
    help="Signature directory to write into (default: the built-in library of a source checkout).",
)
@click.option("--dry-run", is_flag=True, help="Build and check everything, write nothing; list what would change.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="One line per in-scope record: what became of it.")
@guard
def sig_import_cve(paths: Sequence[str], into: Optional[str], dry_run: bool, fmt: str, verbose: bool) -> None:
    """Propose signatures from the kernel CNA's CVE records (JSON 5).

    \b
    PATH: a checkout of the kernel's vulns repository (cve/published/), of
    cvelistV5 (cves/), or single CVE-*.json files. Records whose fix is in the
    GSO/GRO/offload/checksum/tunnel paths and that quote a crash become
    signatures (maturity 'mined') with the record's trace as a positive case and
    the record's per-branch fix data; a person's signature with the same fix
    commit gets the record's fix data instead. Re-running on a newer checkout
    refreshes fix data and never overwrites a file a person edited.

    \b
    Example:
      git clone https://git.kernel.org/pub/scm/linux/security/vulns.git
      gsotriage signatures import-cve vulns/cve/published
    """
    import json

    from gsotriage.cve.importer import ImportFailed, run_import
    from gsotriage.cve.summary import format_summary
    from gsotriage.match.loader import builtin_signature_dir

    target = Path(into) if into else builtin_signature_dir()
    try:
        summary = run_import(list(paths), target, dry_run=dry_run)
    except ImportFailed as exc:
        err(str(exc))
        sys.exit(Exit.BAD_SIGNATURES if "library" in str(exc) else Exit.BAD_INPUT)
    if fmt == "json":
        write(None, json.dumps(summary.to_dict(), indent=2) + "\n")
    else:
        write(None, format_summary(summary, verbose=verbose))
