"""``gsotriage analyze``: one input, one verdict."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import click

from gsotriage.errors import EXITS, Exit, InputError
from gsotriage.render import FORMATTERS

from .common import DEBUGINFO_OPTION, SIG_OPTION, add_exit_help, checked, err, guard, use_color, warn, write

__all__ = ["analyze"]


@click.command()
@click.argument("path")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATTERS)), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stdout.")
@SIG_OPTION
@click.option(
    "--vmlinux", type=click.Path(exists=True, dir_okay=False), help="vmlinux with debug info matching the dump."
)
@DEBUGINFO_OPTION
@click.option(
    "--debuginfod",
    is_flag=True,
    help="Also ask debuginfod (DEBUGINFOD_URLS) for the vmlinux when no local file matches. Off by default "
    "(GSOTRIAGE_DEBUGINFOD=1 in the environment turns it on too).",
)
@click.option(
    "--no-debuginfo",
    is_flag=True,
    help="Load no DWARF: symbols from kallsyms, types from the kernel's BTF, unwinding from its ORC tables "
    "(automatic when no matching vmlinux is found).",
)
@click.option("-v", "--verbose", is_flag=True, help="List every verdict, generic ones included.")
@click.option("--no-progress", is_flag=True, help="No progress messages on stderr.")
@click.option(
    "--compact",
    is_flag=True,
    help="With --format json: the compact form batch and the history store keep (ruled-out verdicts by id "
    "and first contradiction, prose left to the library).",
)
@click.option(
    "--record/--no-record", default=False, show_default=True, help="Record the result in the crash history database."
)
@click.option(
    "--db",
    metavar="PATH|URL",
    help="History database for --record: an SQLite file or a postgresql:// URL (default: $GSOTRIAGE_DB).",
)
@click.option(
    "--kernel-changelog",
    "changelog_path",
    type=click.Path(dir_okay=False),
    help="The crashed kernel package's changelog (rpm -q --changelog kernel-core-<ver>, or a Debian/Ubuntu "
    "changelog): settles 'is the fix in this kernel' where the version cannot (backporting vendors).",
)
@guard
def analyze(
    path: str,
    fmt: str,
    output: Optional[str],
    sig_paths: Sequence[str],
    vmlinux: Optional[str],
    debuginfo: Sequence[str],
    debuginfod: bool,
    no_debuginfo: bool,
    verbose: bool,
    no_progress: bool,
    compact: bool,
    record: bool = False,
    db: Optional[str] = None,
    changelog_path: Optional[str] = None,
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
    Verdicts: match (every required clause seen), partial (some not seen),
    ambiguous (several specific causes fit: no fix is named, the observables
    that would decide are). Score: the probability of each candidate among those
    not ruled out (docs/scoring.md): confirming a rare fact raises it, a rare fact
    nobody saw lowers it, a kernel that has the fix lowers it.

    \b
    Examples:
      gsotriage analyze /var/crash/127.0.0.1-2026-11-26-03:01:02/
      gsotriage analyze console.log --format markdown -o ticket.md
      rpm -q --changelog kernel-core-$(uname -r) > cl.txt
      gsotriage analyze vmcore-dmesg.txt --kernel-changelog cl.txt
    """
    from gsotriage.analysis import analyze_path, load_library_in_background
    from gsotriage.render import RenderOptions, render

    if debuginfod:
        os.environ["GSOTRIAGE_DEBUGINFOD"] = "1"  # read by gsotriage.collect.settings
    if no_debuginfo:
        os.environ["GSOTRIAGE_NO_DEBUGINFO"] = "1"  # read by gsotriage.collect.settings

    changelog = _changelog(changelog_path) if changelog_path else None
    pending = load_library_in_background([Path(p) for p in sig_paths] if sig_paths else None)
    progress = None if no_progress else (lambda msg: click.echo(f"gsotriage: {msg}", err=True))
    try:
        result = analyze_path(
            path, pending, vmlinux=vmlinux, debuginfo=list(debuginfo), progress=progress, changelog=changelog
        )
    except InputError as exc:
        err(str(exc))
        sys.exit(Exit.BAD_INPUT)
    lib = checked(pending.result())
    if record:
        from gsotriage.batch.keys import record_key
        from gsotriage.history import record_analysis

        key = record_key(path, library_digest=lib.digest)
        record_analysis(result.document, path, db, warn=warn, input_key=key)
    write(output, render(fmt, result, RenderOptions(color=use_color(output), verbose=verbose, compact=compact)))
    sys.exit(result.exit_code)


def _changelog(path: str) -> Any:
    """The parsed changelog; exit 3 with one line when it cannot be read or is not a changelog."""
    from gsotriage.kernel.changelog import parse_changelog

    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_changelog(f.read(), path)
    except OSError as exc:
        err(f"cannot read --kernel-changelog {path}: {exc.strerror or exc}")
    except ValueError as exc:
        err(f"--kernel-changelog {path}: {exc}")
    sys.exit(Exit.BAD_INPUT)


add_exit_help(analyze, EXITS)
