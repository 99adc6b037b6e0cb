"""What the offline commands share: run a parser's chosen handler and map usage errors to exit
status 2 (``verify`` and ``audit-verify`` both end here)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from credentials.key_source import UsageError


def run_parser(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    stdout: TextIO | None,
    stderr: TextIO | None,
    stdin: TextIO | None,
) -> int:
    """Parse ``argv`` and run the ``handler`` the parser set; the exit code (2: usage)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports usage errors with exit status 2
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[..., int] = args.handler
    try:
        return handler(args, stdout=out, stdin=stdin)
    except UsageError as exc:
        err.write(f"error: {exc}\n")
        return 2
