"""What every command shares: options, output, colour, the library loader, the
exception guard. Exit codes and their meanings live in gsotriage.errors."""

from __future__ import annotations

import errno
import functools
import inspect
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Optional, Sequence, TypeVar

import click

from gsotriage.errors import Exit, exit_help

__all__ = [
    "DEBUGINFO_OPTION",
    "SIG_OPTION",
    "add_exit_help",
    "checked",
    "err",
    "guard",
    "library",
    "output_failed",
    "use_color",
    "warn",
    "write",
]

F = TypeVar("F", bound=Callable[..., Any])

SIG_OPTION = click.option(
    "--signatures",
    "sig_paths",
    multiple=True,
    type=click.Path(exists=True),
    help="Signature file or directory (repeatable); default: the built-in library.",
)

DEBUGINFO_OPTION = click.option(
    "--debuginfo",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Directory searched for vmlinux/modules by build-id and release (repeatable).",
)


def add_exit_help(command: click.Command, table: Mapping[Any, str]) -> None:
    """Append the command's exit-code table (from gsotriage.errors) to its --help."""
    # Dedent first: click cleans a docstring's indentation only when it is all one text.
    command.help = inspect.cleandoc(command.help or "") + "\n\n" + exit_help(table)


def err(msg: str) -> None:
    """A diagnostic on stderr (data goes to stdout)."""
    click.echo(f"gsotriage: error: {msg}", err=True)


def warn(msg: str) -> None:
    click.echo(f"gsotriage: warning: {msg}", err=True)


def library(paths: Sequence[str]) -> Any:
    """The signature library (built-in, or ``--signatures`` paths); exit 4 when it has errors."""
    from gsotriage.match.loader import load_library

    return checked(load_library([Path(p) for p in paths] if paths else None))


def checked(lib: Any) -> Any:
    """Exit 4 on a library with errors: a broken file never silently drops out."""
    if lib.errors:
        for e in lib.errors:
            err(str(e))
        err(f"signature library invalid ({len(lib.errors)} error(s)); no verdict was produced")
        sys.exit(Exit.BAD_SIGNATURES)
    return lib


def write(output: Optional[str], text: str) -> None:
    """Data to ``output`` (a file), or to stdout when it is None or '-'."""
    if output and output != "-":
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            err(f"cannot write {output}: {exc.strerror}")
            sys.exit(Exit.BAD_INPUT)
    else:
        # Not click.echo: it strips ANSI codes when stdout is not a TTY, even under FORCE_COLOR.
        sys.stdout.write(text)
        sys.stdout.flush()


def use_color(output: Optional[str]) -> bool:
    """NO_COLOR wins, FORCE_COLOR forces, else colour only on a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return not output and sys.stdout is not None and sys.stdout.isatty()


# What writing to a closed, full or abandoned output raises: the run cannot deliver
# its result, which is not a bug (exit 74, one line, never a traceback).
OUTPUT_ERRNOS = frozenset({errno.EPIPE, errno.EBADF, errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG})


def is_output_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in OUTPUT_ERRNOS


def output_failed(exc: OSError) -> NoReturn:
    """Leave quietly with Exit.OUTPUT: one line on stderr, none for a reader that stopped reading."""
    # Python flushes stdout again at exit; point it at /dev/null so that cannot fail loudly.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass
    if not isinstance(exc, BrokenPipeError):
        try:
            err(f"cannot write the output: {exc.strerror or exc}")
        except OSError:
            pass
    sys.exit(Exit.OUTPUT)


class ClosedStdout:
    """Stands in for sys.stdout when file descriptor 1 was closed before we started
    (``>&-``): every write fails as writing to a closed descriptor does."""

    encoding = "utf-8"

    @property
    def buffer(self) -> ClosedStdout:
        return self

    def _fail(self, *_a: Any, **_k: Any) -> Any:
        raise OSError(errno.EBADF, "standard output is closed")

    write = flush = _fail

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fail()


def guard(fn: F) -> F:
    """Turn unexpected exceptions into one line and exit 70: never a traceback for users."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except OSError as exc:
            if not is_output_error(exc):
                _internal(exc)
            output_failed(exc)
        except Exception as exc:  # the promise: no tracebacks
            _internal(exc)

    return wrapper  # type: ignore[return-value]


def _internal(exc: Exception) -> NoReturn:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
    err(f"internal error: {type(exc).__name__}: {exc} (at {where}); please report it with the input")
    if os.environ.get("GSOTRIAGE_DEBUG"):
        traceback.print_exc()
    sys.exit(Exit.INTERNAL)
