"""Run every benchmark module and print ``BENCH <name> <value> <unit>`` lines.

Each ``benchmarks/bench_*.py`` defines ``run() -> Iterable[tuple[str, float, str]]``.
``python -m benchmarks [substring ...]`` runs only the modules whose name contains a substring.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback

import benchmarks


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    failed = 0
    for name in names:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            for metric, value, unit in module.run():
                text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
                print(f"BENCH {metric} {text} {unit}", flush=True)
        except Exception:
            failed += 1
            print(f"# {name} failed:", file=sys.stderr)
            traceback.print_exc()
        print(f"# {name} took {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
