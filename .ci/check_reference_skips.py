"""CI check: the tests that read the reference files (``../shared/specs``) skip, saying why, in a
clone with nothing beside it, and really run in a checkout that has them.

usage: check_reference_skips.py MAIN_JUNIT BARE_JUNIT TEST_FILE...

MAIN_JUNIT is the JUnit XML of the full suite in the checkout, BARE_JUNIT that of TEST_FILEs run
in a bare clone. Fails (exit 1) when the bare run failed anywhere, when it skipped nothing for a
missing reference file (the check would pass vacuously), when one of TEST_FILEs reached no
reference file at all, or when a test skipped in the bare clone did not pass in the main run
while the reference files were there. Standard library only.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ABSENT = "reference file absent"  # tests/reference.py's skip reason starts with it


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, message) with outcome passed, skipped, failed or error."""
    found: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).iter("testcase"):  # noqa: S314 (pytest's report of this run)
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error"}.get(child.tag, "skipped")
                message = child.get("message") or ""
                break
        found[test_id] = (outcome, message)
    return found


def module_of(test_file: str) -> str:
    return test_file.removesuffix(".py").replace("/", ".")


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    main_run, bare_run = outcomes(Path(argv[0])), outcomes(Path(argv[1]))
    files = argv[2:]
    problems: list[str] = []

    broken = sorted(t for t, (outcome, _) in bare_run.items() if outcome in ("failed", "error"))
    problems += [f"bare clone: {t} {bare_run[t][0]}" for t in broken]
    absent = {t for t, (outcome, msg) in bare_run.items() if outcome == "skipped" and ABSENT in msg}
    if not absent:
        problems.append(f"bare clone: no test was skipped for '{ABSENT}' (a vacuous pass)")
    for test_file in files:
        if not any(t.startswith(module_of(test_file) + "::") for t in absent):
            problems.append(f"bare clone: nothing in {test_file} skipped for '{ABSENT}'")

    specs_here = (Path.cwd().parent / "shared" / "specs").is_dir()
    if specs_here:
        for test_id in sorted(absent):
            outcome, message = main_run.get(test_id, ("missing", ""))
            if outcome != "passed":
                problems.append(
                    f"main run (reference files present): {test_id} {outcome} {message}".strip()
                )
    else:
        print(
            f"warning: {Path.cwd().parent / 'shared' / 'specs'} is absent here, so the main run "
            "could not show that these tests run when their files are present"
        )

    passed = sum(1 for outcome, _ in bare_run.values() if outcome == "passed")
    print(
        f"bare clone: {len(bare_run)} tests in {len(files)} files: {passed} passed, "
        f"{len(absent)} skipped for an absent reference file"
        + (", each of which passed in the main run" if specs_here and not problems else "")
    )
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
