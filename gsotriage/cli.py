"""Command line. The core (inputs, match, render) knows nothing of click.

Exit codes (also in --help and README):
  0  a specific (non-generic) root cause was named (match or partial)
  1  analysed, nothing specific named (only generic classes, or nothing)
  2  usage error
  3  unreadable or unsupported input
  4  invalid signature library
  5  signature self-tests failed (signatures test)
  70 internal error (a bug in gsotriage; the message says where)
"""

from __future__ import annotations

import enum
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, TypeVar

import click

from gsotriage import __version__

F = TypeVar("F", bound=Callable[..., Any])


class Exit(enum.IntEnum):
    ROOT_CAUSE = 0
    NO_SPECIFIC_CAUSE = 1
    USAGE = 2
    BAD_INPUT = 3
    BAD_SIGNATURES = 4
    SELFTEST_FAILED = 5
    INTERNAL = 70


EXIT_HELP = """\b
Exit codes:
  0  a specific root cause was named (match or partial)
  1  analysed, but nothing specific named (generic class or none)
  2  usage error
  3  unreadable or unsupported input
  4  invalid signature library
  5  signature self-tests failed
  70 internal error
"""


def _err(msg: str) -> None:
    click.echo(f"gsotriage: error: {msg}", err=True)


def _library(paths: Sequence[str]) -> Any:
    from gsotriage.match.loader import load_library

    return _checked(load_library([Path(p) for p in paths] if paths else None))


def _checked(lib: Any) -> Any:
    """Exit 4 on a library with errors: a broken file never silently drops out."""
    if lib.errors:
        for e in lib.errors:
            _err(str(e))
        _err(f"signature library invalid ({len(lib.errors)} error(s)); no verdict was produced")
        sys.exit(Exit.BAD_SIGNATURES)
    return lib


def _write(output: Optional[str], text: str) -> None:
    if output and output != "-":
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            _err(f"cannot write {output}: {exc.strerror}")
            sys.exit(Exit.BAD_INPUT)
    else:
        # Not click.echo: it strips ANSI codes when stdout is not a TTY, even under FORCE_COLOR.
        sys.stdout.write(text)
        sys.stdout.flush()


def _color(output: Optional[str]) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return not output and sys.stdout.isatty()


def _guard(fn: F) -> F:
    """Turn unexpected exceptions into one line and exit 70: never a traceback for users."""

    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            sys.exit(0)
        except Exception as exc:  # the promise: no tracebacks
            tb = traceback.extract_tb(exc.__traceback__)
            where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
            _err(f"internal error: {type(exc).__name__}: {exc} (at {where}); please report it with the input")
            if os.environ.get("GSOTRIAGE_DEBUG"):
                traceback.print_exc()
            sys.exit(Exit.INTERNAL)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="gsotriage")
def main() -> None:
    """Name the root cause of a kernel crash in the GSO/GRO sk_buff paths.

    \b
    Examples:
      gsotriage analyze /var/crash/202611260301/           # kdump crash directory
      gsotriage analyze vmcore --vmlinux vmlinux-6.1.0-56-cloud-amd64
      gsotriage analyze console.log --format json -o verdict.json
      journalctl -k -b -1 | gsotriage analyze -
      gsotriage signatures show gso-tunnel-tcp-metadata-geometry-mismatch
    """


@main.command()
@click.argument("path")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stdout.")
@click.option(
    "--signatures",
    "sig_paths",
    multiple=True,
    type=click.Path(exists=True),
    help="Signature file or directory (repeatable); default: the built-in library.",
)
@click.option(
    "--vmlinux", type=click.Path(exists=True, dir_okay=False), help="vmlinux with debug info matching the dump."
)
@click.option(
    "--debuginfo",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Directory searched for vmlinux/modules by build-id and release (repeatable).",
)
@click.option(
    "--debuginfod",
    is_flag=True,
    help="Also ask debuginfod (DEBUGINFOD_URLS) for the vmlinux when no local file matches. Off by default.",
)
@click.option("-v", "--verbose", is_flag=True, help="List every verdict, generic ones included.")
@click.option("--no-progress", is_flag=True, help="No progress messages on stderr.")
@click.option(
    "--record/--no-record", default=False, show_default=True, help="Record the result in the crash history database."
)
@click.option("--db", type=click.Path(dir_okay=False), help="History database for --record (default: $GSOTRIAGE_DB).")
@_guard
def analyze(
    path: str,
    fmt: str,
    output: Optional[str],
    sig_paths: Sequence[str],
    vmlinux: Optional[str],
    debuginfo: Sequence[str],
    debuginfod: bool,
    verbose: bool,
    no_progress: bool,
    record: bool = False,
    db: Optional[str] = None,
) -> None:
    """Analyse a vmcore, a kdump crash directory, a console log, a dmesg file or a crash(8) transcript.

    \b
    PATH may be:
      a vmcore (ELF, kdump-compressed, makedumpfile flattened), a kdump crash
      directory (vmcore + vmcore-dmesg.txt, dump.<stamp> + dmesg.<stamp>),
      /proc/kcore (the live kernel, root only), qmp:/path/to/qmp.sock,
      a text file (console/netconsole/serial log, journalctl -k, dmesg,
      crash(8) session; also gzip/xz/bzip2 compressed), or - for standard input.

    \b
    Examples:
      gsotriage analyze /var/crash/127.0.0.1-2026-11-26-03:01:02/
      gsotriage analyze console.log --format markdown -o ticket.md
    """
    from gsotriage.analysis import analyze_path, load_library_in_background
    from gsotriage.inputs import InputError

    if debuginfod:
        os.environ["GSOTRIAGE_DEBUGINFOD"] = "1"  # read by gsotriage.collect.program

    pending = load_library_in_background([Path(p) for p in sig_paths] if sig_paths else None)
    progress = None if no_progress else (lambda msg: click.echo(f"gsotriage: {msg}", err=True))
    try:
        result = analyze_path(path, pending, vmlinux=vmlinux, debuginfo=list(debuginfo), progress=progress)
    except InputError as exc:
        _err(str(exc))
        sys.exit(Exit.BAD_INPUT)
    lib = _checked(pending.result())
    diag = result.diagnosis
    code = Exit(result.exit_code)
    if record:
        from gsotriage.batch.commands import record_analysis

        record_analysis(result.document(lib), path, db)
    if fmt == "json":
        from gsotriage.render.json import render_json

        text = render_json(result.document(lib))
    elif fmt == "markdown":
        from gsotriage.render.markdown import render_markdown

        text = render_markdown(diag)
    else:
        from gsotriage.render.text import render_text

        text = render_text(diag, color=_color(output), verbose=verbose)
    _write(output, text)
    sys.exit(code)


analyze.help = (analyze.help or "") + "\n\n" + EXIT_HELP  # type: ignore[operator]


@main.group()
def signatures() -> None:
    """List, show, lint and test crash signatures."""


_SIG_OPTION = click.option(
    "--signatures",
    "sig_paths",
    multiple=True,
    type=click.Path(exists=True),
    help="Signature file or directory (repeatable); default: the built-in library.",
)


@signatures.command("list")
@_SIG_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False))
@_guard
def sig_list(sig_paths: Sequence[str], fmt: str, output: Optional[str]) -> None:
    """List the signatures in the library."""
    import json

    lib = _library(sig_paths)
    if fmt == "json":
        rows = [
            {
                "id": s.id,
                "title": s.title,
                "maturity": s.maturity,
                "severity": s.severity,
                "tags": list(s.tags),
                "fixed_by": [f.commit for f in s.fixed_by],
            }
            for s in lib.signatures
        ]
        _write(output, json.dumps({"digest": lib.digest, "signatures": rows}, indent=2) + "\n")
        return
    lines = [f"{s.id:58} {s.maturity:12} {','.join(s.tags)}" for s in lib.signatures]
    lines.append(f"{len(lib.signatures)} signatures, library {lib.digest}")
    _write(output, "\n".join(lines) + "\n")


@signatures.command("show")
@click.argument("sig_id")
@_SIG_OPTION
@click.option("-o", "--output", type=click.Path(dir_okay=False))
@_guard
def sig_show(sig_id: str, sig_paths: Sequence[str], output: Optional[str]) -> None:
    """Show one signature as a readable page (mechanism, evidence, fix, workaround, references)."""
    from gsotriage.render.sigdoc import signature_page

    lib = _library(sig_paths)
    sig = lib.get(sig_id)
    if sig is None:
        _err(f"no signature {sig_id!r}; 'gsotriage signatures list' shows the ids")
        sys.exit(Exit.USAGE)
    page = signature_page(sig)
    if not output and _color(output):
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(page))
    else:
        _write(output, page)


@signatures.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@_guard
def sig_lint(paths: Sequence[str]) -> None:
    """Validate signature files against the schema (default: the built-in library); errors as file:line."""
    from gsotriage.match.lint import lint_library
    from gsotriage.match.loader import load_library

    lib = load_library([Path(p) for p in paths] if paths else None)
    problems = [str(e) for e in lib.errors] + [str(w) for w in lint_library(lib.signatures)]
    for p in problems:
        click.echo(p, err=True)
    if lib.errors:
        sys.exit(Exit.BAD_SIGNATURES)
    click.echo(f"{len(lib.signatures)} signatures OK ({len(problems)} warning(s))")


@signatures.command("test")
@_SIG_OPTION
@click.argument("ids", nargs=-1)
@_guard
def sig_test(sig_paths: Sequence[str], ids: Sequence[str]) -> None:
    """Run every signature's positive and negative test cases."""
    from gsotriage.match.selftest import run_signature_tests

    lib = _library(sig_paths)
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

    _write(output, schema_json())


@signatures.command("docs")
@_SIG_OPTION
@click.option(
    "-o", "--output", "out_dir", type=click.Path(file_okay=False), default="docs/signatures", show_default=True
)
@_guard
def sig_docs(sig_paths: Sequence[str], out_dir: str) -> None:
    """Generate one Markdown page per signature plus an index."""
    from gsotriage.render.sigdoc import signature_page

    lib = _library(sig_paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = ["# Signature library", "", "Generated by `gsotriage signatures docs`; do not edit by hand.", ""]
    index += ["| id | title | maturity | tags |", "|---|---|---|---|"]
    for sig in lib.signatures:
        (out / f"{sig.id}.md").write_text(signature_page(sig), encoding="utf-8")
        index.append(f"| [`{sig.id}`]({sig.id}.md) | {sig.title} | {sig.maturity} | {', '.join(sig.tags)} |")
    (out / "README.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    click.echo(f"wrote {len(lib.signatures) + 1} pages to {out}")


def _add_batch_commands() -> None:
    # batch, regress, history live in gsotriage/batch/commands.py (they import this module's helpers).
    from gsotriage.batch.commands import batch, history, regress

    for cmd in (batch, regress, history):
        main.add_command(cmd)


_add_batch_commands()


def run(argv: Optional[List[str]] = None) -> int:
    """Run the CLI in-process and return the exit code (tests use this)."""
    try:
        main.main(args=argv, prog_name="gsotriage", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


def entry() -> None:
    """The console script. After ``analyze`` it leaves with os._exit: tearing down
    a loaded drgn Program (hundreds of MB of indexed debug info) takes longer than
    an SRE should wait, and nothing is left to clean up (output flushed, the
    signature thread done, no child processes)."""
    argv = sys.argv[1:]
    code = run(argv)
    if argv[:1] == ["analyze"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
