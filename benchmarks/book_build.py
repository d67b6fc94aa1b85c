"""How long `make book` takes: every chapter executed in a profile, then the site built.

The book's target: in the ``paper`` profile it builds from committed results (no training,
``ACTFN_NO_TRAIN=1``) in at most 10 minutes on 2 CPU cores. This script runs the same two
steps as ``make book`` (``python -m helpers.book execute`` and ``build``), prints the seconds
of each chapter and of the site build, and saves them, with the machine, its load average
and the commit, to ``benchmarks/results/book_build_<profile>.json``.

    .venv/bin/python benchmarks/book_build.py            # paper profile
    .venv/bin/python benchmarks/book_build.py --profile quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.runtime import device_name, git_commit  # noqa: E402

TARGET_S = {"paper": 600.0}


def run(profile: str) -> dict:
    env = os.environ | {"ACTFN_PROFILE": profile}
    if profile == "paper":
        env["ACTFN_NO_TRAIN"] = "1"
    timings = ROOT / "_build" / "timings.json"
    timings.unlink(missing_ok=True)
    load_before = os.getloadavg()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "helpers.book", "execute", "--profile", profile],
                   cwd=ROOT, env=env, check=True)
    executed = time.perf_counter()
    subprocess.run([sys.executable, "-m", "helpers.book", "build"], cwd=ROOT, env=env,
                   check=True)
    end = time.perf_counter()
    chapters = json.loads(timings.read_text())[profile]
    return {
        "profile": profile, "chapters_s": chapters, "execute_s": round(executed - start, 1),
        "build_s": round(end - executed, 1), "total_s": round(end - start, 1),
        "target_s": TARGET_S.get(profile), "machine": device_name("cpu"),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "commit": git_commit(),
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("paper", "quick"), default="paper")
    args = parser.parse_args(argv)
    result = run(args.profile)
    for chapter, s in result["chapters_s"].items():
        print(f"{s:7.1f} s  {chapter}")
    print(f"{result['build_s']:7.1f} s  site build")
    print(f"{result['total_s']:7.1f} s  total ({args.profile}; target "
          f"{result['target_s'] or '-'} s; load average before {result['load_average_before']})")
    out = ROOT / "benchmarks" / "results" / f"book_build_{args.profile}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"saved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
