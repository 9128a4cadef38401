"""The fault-injection and fuzz suite (tests/test_faults.py) with a larger corpus; writes the tallies as JSON.

Usage: python benchmarks/faults.py [--scale 10]

Runs ``pytest tests/test_faults.py`` with ``JAXRG_FAULTS_EXAMPLES=scale`` (each hypothesis test tries ``scale`` times
its usual number of inputs) and writes benchmarks/results/faults-<host>.json: how many damaged files were detected or
read back intact (a flip in bytes that carry no data), how many fuzzed inputs exited 0 or 2 or passed validation, the
number of failures (a traceback or a silent corruption fails the test), the wall time and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0, help="multiple of the test suite's example counts")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tally_path = os.path.join(tmp, "tally.json")
        env = dict(os.environ, JAXRG_FAULTS_EXAMPLES=str(args.scale), JAXRG_FAULTS_TALLY=tally_path)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               os.path.join(ROOT, "tests", "test_faults.py")], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        tally = json.load(open(tally_path)) if os.path.exists(tally_path) else {}
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    result = {
        "scale": args.scale, "wall_s": round(wall, 1), "pytest_exit_code": proc.returncode, "pytest_summary": summary,
        "inputs_tried": sum(tally.values()), "tally": tally,
        "tracebacks_or_silent_corruptions": "none" if proc.returncode == 0 else "see pytest output (test failures)",
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "host": socket.gethostname(),
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", f"faults-{socket.gethostname()}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    if proc.returncode != 0:
        print(proc.stdout[-5000:], file=sys.stderr)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
