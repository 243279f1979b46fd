"""Is detecting a second relation as fast as the first? ``detect`` with each shipped detector on the same pairs.

    python benchmarks/relation_speed.py --pairs data/mtref-dev.jsonl --limit 200 --runs 3 --results relation-speed

The pair file is made by ``python -m mia import-alignments --multimwa ../shared/corpora/multimwa/mtref-dev.tsv --out
data/mtref-dev.jsonl``. Its first ``--limit`` pairs are written to a temporary file, and each run times ``python -m
mia detect --detector D --pairs FILE --format jsonl --out /dev/null`` as a process of its own (the model load
included, as a user meets it) for every detector, in alternating order from run to run so that drift in the
machine's speed hits both alike. Printed and written: each detector's median wall seconds and range, its peak
resident memory, and the median over runs of each run's ratio to the first detector.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import record, shipped_detector_files, write  # noqa: E402

MEASURES = ["mia/models", "mia/alignment", "mia/detector", "mia/text", "mia/cli", "benchmarks/relation_speed.py",
            *shipped_detector_files(["minilm-reuse", "minilm-align"])]


def timed_detect(detector: str, pairs: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one ``detect`` process (its progress goes to a file, read on failure)."""
    command = [sys.executable, "-m", "mia", "detect", "--detector", detector, "--pairs", str(pairs), "--format",
               "jsonl", "--out", os.devnull]
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command)} failed: {errors.read()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="data/mtref-dev.jsonl", help="a pair file (see above)")
    parser.add_argument("--limit", type=int, default=200, help="its first N pairs (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="runs of every detector (default 3)")
    parser.add_argument("--detectors", default="minilm-reuse,minilm-align", help="comma-separated; the first is the "
                        "reference of the ratios")
    parser.add_argument("--results", metavar="NAME",
                        help="also write docs/results/NAME.json for the documentation (stamped)")
    args = parser.parse_args()
    detectors = args.detectors.split(",")
    lines = Path(args.pairs).read_text(encoding="utf-8").splitlines(keepends=True)[: args.limit]
    seconds: dict[str, list[float]] = {name: [] for name in detectors}
    peaks: dict[str, list[float]] = {name: [] for name in detectors}
    with tempfile.TemporaryDirectory() as folder:
        pairs = Path(folder) / "pairs.jsonl"
        pairs.write_text("".join(lines), encoding="utf-8")
        for run in range(args.runs):
            for name in (detectors if run % 2 == 0 else detectors[::-1]):
                wall, peak = timed_detect(name, pairs)
                seconds[name].append(wall)
                peaks[name].append(peak)
                print(f"run {run + 1}: {name} {wall:.2f} s, {peak:.0f} MB", flush=True)
    reference = detectors[0]
    rows = []
    for name in detectors:
        ratios = [mine / theirs for mine, theirs in zip(seconds[name], seconds[reference])]
        rows.append([f"`{name}`", f"{statistics.median(seconds[name]):.2f}",
                     f"{min(seconds[name]):.2f}-{max(seconds[name]):.2f}", f"{max(peaks[name]):.0f}",
                     f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"])
        print(rows[-1], flush=True)
    if args.results:
        made = record("relation-speed", measures=MEASURES, data={"pairs": len(lines), "seconds": seconds,
                                                                  "peak_mb": peaks}, tables={"speed": {
            "columns": ["detector", "median wall s", "range", "peak MB", f"ratio to `{reference}` (range)"],
            "rows": rows,
            "note": f"`python -m mia detect` on the first {len(lines)} pairs of {Path(args.pairs).name}, a process "
                    f"each (model load included), {args.runs} runs in alternating order"}})
        print(f"wrote {write(args.results, made)}")


if __name__ == "__main__":
    main()
