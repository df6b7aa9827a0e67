"""Run the planted breaks of ``tests/mutations.py``: each must make one of its tests fail.

    python tests/mutate.py            # all of them
    python tests/mutate.py NAME ...   # some of them
    python tests/mutate.py --list

The project (without the virtualenv and caches) is copied once to a temporary
directory; each mutation is written into that copy, its tests run there with this
interpreter (the copy comes first on ``sys.path``, ahead of the editable install),
and the file is put back. The working tree is never touched, so an interrupted run
leaves nothing broken behind. Only the SQLite variants run (a break of these
functions is not specific to one database, and PostgreSQL would double the time),
and the browser tests only for breaks in what the browser runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mutations import MUTATIONS, Mutation  # noqa: E402

SKIP = shutil.ignore_patterns(
    ".venv",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "test-output",
    "node_modules",
)
PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]


def apply(source: str, mutation: Mutation) -> str:
    """The source with the planted break; the original text must occur exactly once."""
    found = source.count(mutation.old)
    if found != 1:
        raise ValueError(f"{mutation.name}: the text to replace occurs {found} times in {mutation.path}")
    return source.replace(mutation.old, mutation.new)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("KUMPPANI_CONVERGENCE_EXAMPLES", "10")
    return env


def _check_copy_is_imported(copy: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import server, boards, auth; print(server.__file__, boards.__file__, auth.__file__)"],
        cwd=copy,
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    ).stdout.split()
    outside = [path for path in found if not Path(path).resolve().is_relative_to(copy.resolve())]
    if outside:
        raise SystemExit(f"the copy is not what the tests import: {outside}")


def run(mutations: list[Mutation]) -> int:
    survived = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kumppani-mutate-") as tmp:
        copy = Path(tmp) / "project"
        shutil.copytree(ROOT, copy, ignore=SKIP)
        _check_copy_is_imported(copy)
        for mutation in mutations:
            target = copy / mutation.path
            original = target.read_text(encoding="utf-8")
            target.write_text(apply(original, mutation), encoding="utf-8")
            began = time.monotonic()
            try:
                result = subprocess.run(
                    [sys.executable, *PYTEST, "-m", mutation.markers, *mutation.tests],
                    cwd=copy,
                    env=_env(),
                    capture_output=True,
                    text=True,
                )
            finally:
                target.write_text(original, encoding="utf-8")
            took = time.monotonic() - began
            # pytest exits 1 when a test failed; 0 is a survivor; anything else (no tests found,
            # a usage error, an import error) means the check itself is broken.
            verdict = {0: "SURVIVED", 1: "caught"}.get(result.returncode, f"ERROR (pytest exit {result.returncode})")
            print(f"{verdict:>8}  {mutation.name:<40} {took:5.1f} s  {mutation.why}", flush=True)
            if result.returncode != 1:
                survived.append(mutation.name)
                print(result.stdout[-3000:], result.stderr[-2000:], sep="\n")
    print(f"{len(mutations) - len(survived)} of {len(mutations)} caught in {time.monotonic() - started:.0f} s")
    if survived:
        print("not caught: " + ", ".join(survived))
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    args = parser.parse_args()
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:<40} {m.why}")
        return 0
    by_name = {m.name: m for m in MUTATIONS}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        parser.error(f"no such mutation: {', '.join(unknown)}")
    return run([by_name[n] for n in args.names] if args.names else list(MUTATIONS))


if __name__ == "__main__":
    sys.exit(main())
