"""Run every benchmark script of this folder (each writes its own section of docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    """Run each ``bench/*.py`` but this one; the exit code is the first failure's."""
    status = 0
    for script in sorted(HERE.glob("*.py")):
        if script.name in ("run_all.py", "__init__.py"):
            continue
        print(f"== {script.name}", flush=True)
        code = subprocess.call([sys.executable, str(script)])
        status = status or code
    return status


if __name__ == "__main__":
    raise SystemExit(main())
