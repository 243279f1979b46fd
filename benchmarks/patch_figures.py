"""Every activation-patching figure of the documentation, from one command (writes docs/results/patch.json):

    python benchmarks/patch_figures.py --corpus ../shared/corpora/gatsby.txt

Five runs of ``mia patch`` on the shipped default detector, each a process of its own (wall time and peak memory
measured per run): its own test pairs with every part (output, pattern, value; seed 0, other-text corruption); 100
pairs generated from ``--corpus`` (the default, output part: the ranking is made on it); seed 1 and the
random-tokens corruption on the test pairs; and 100 ``--corpus`` pairs again with every part, for its time. The
causal ranking (output necessity of every head) of each of the middle three is compared with the first's
(Spearman over all heads and over the heads before the last layer, whose outputs reach nothing the detector
reads; top-10 overlap). Each run's JSON goes to ``--work``, never into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import record, shipped_detector_files, write  # noqa: E402
from mia.heads.stability import agreement  # noqa: E402

MEASURES = ["mia/heads/patching.py", "mia/heads/corruption.py", "mia/models", "mia/detector/scoring.py",
            "mia/detector/detector.py", *shipped_detector_files(["minilm-reuse"])]


def patch(argv: list[str], out: Path) -> dict:
    """Run ``python -m mia patch`` in its own process; its JSON with the wall seconds and peak memory added."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "mia", "patch", *argv, "--format", "json", "--out", str(out)],
                             cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"mia patch {' '.join(argv)} failed with exit code {child.returncode}")
    result = json.loads(out.read_text())
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    result["peak_mb"] = round(usage.ru_maxrss / 1024)
    return result


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def heads_table(run: dict, top: int = 12) -> dict:
    rows = []
    for h in run["heads"][:top]:
        rows.append([h["name"], f"{fmt(h['necessity'])} [{fmt(h['necessity_interval'][0])}, "
                                f"{fmt(h['necessity_interval'][1])}]",
                     f"{fmt(h['sufficiency'])} [{fmt(h['sufficiency_interval'][0])}, "
                     f"{fmt(h['sufficiency_interval'][1])}]",
                     fmt(h.get("pattern_necessity")), fmt(h.get("value_necessity")), fmt(h["readout_weight"], 2),
                     h["role"], " / ".join(dict.fromkeys(h["dominant_type"].values())) or "–"])
    return {"columns": ["head", "necessity (output) [95%]", "sufficiency (output) [95%]", "pattern necessity",
                        "value necessity", "readout weight", "role", "dominant type"], "rows": rows}


def layers_table(run: dict) -> dict:
    layers = sorted({h["layer"] for h in run["heads"]})
    rows = []
    for layer in layers:
        heads = [h for h in run["heads"] if h["layer"] == layer]
        roles = Counter(h["role"] for h in heads)
        rows.append([f"L{layer}", fmt(sum(h["necessity"] for h in heads)), fmt(sum(h["sufficiency"] for h in heads)),
                     fmt(sum(h["pattern_necessity"] for h in heads)), fmt(sum(h["value_necessity"] for h in heads)),
                     roles["reads"] + roles["both"], roles["computes"] + roles["both"]])
    return {"columns": ["layer", "output necessity (sum of its heads)", "output sufficiency (sum)",
                        "pattern necessity (sum)", "value necessity (sum)", "readers", "computers"], "rows": rows,
            "note": run["roles"]}


def run_figures() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default="minilm-reuse")
    parser.add_argument("--corpus", required=True, help="another corpus (text or JSONL), e.g. Gatsby")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--work", default="/tmp/mia-patch-figures", help="where each run's JSON goes")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    base = ["--detector", args.detector, "--limit", str(args.limit)]
    every = ["--parts", "output,pattern,value"]
    corpus = Path(args.corpus).stem
    variants = {  # the first is the reference of the comparisons; the last measures every part's time on 100 pairs
        "test pairs, every part": [*base, *every],
        f"{corpus} pairs": [*base, "--corpus", args.corpus],
        "test pairs, seed 1": [*base, "--seed", "1"],
        "test pairs, random-tokens corruption": [*base, "--corruption", "random-tokens"],
        f"{corpus} pairs, every part": [*base, "--corpus", args.corpus, *every],
    }
    runs = {name: patch(argv, work / f"{index}.json") for index, (name, argv) in enumerate(variants.items())}
    first_name, first = next(iter(runs.items()))
    necessity = {name: {h["name"]: h["necessity"] for h in run["heads"]} for name, run in runs.items()}
    names = sorted(necessity[first_name])
    last = max(int(n[1:].split("H")[0]) for n in names)
    earlier = [n for n in names if int(n[1:].split("H")[0]) < last]
    stability = []
    for name in list(runs)[1:-1]:
        whole = agreement(name, *(np.array([necessity[r][n] for n in names]) for r in (first_name, name)))
        before = agreement(name, *(np.array([necessity[r][n] for n in earlier]) for r in (first_name, name)))
        stability.append([f"{first_name} vs {name}", f"{whole.spearman:.3f}", f"{before.spearman:.3f}",
                          str(whole.top10_common)])
    checks = []
    for name, run in runs.items():
        check = run["top_k_noising"]
        checks.append([name, check["k"], fmt(check["top"]), fmt(check["sum_of_single"]), fmt(check["random_median"]),
                       f"[{fmt(check['random_interval'][0])}, {fmt(check['random_interval'][1])}]",
                       fmt(check["ratio"], 1), fmt(check.get("all_heads"))])
    timing = [[name, run["pairs"]["used"], ", ".join(run["options"]["parts"]), run["wall_seconds"], run["peak_mb"]]
              for name, run in runs.items()]
    tables = {
        "heads": heads_table(first),
        "layers": layers_table(first),
        "top_k": {"columns": ["run", "k", "top k noised together", "sum of their single effects",
                              "random k: median", "random k: 95% of draws", "ratio", "every head at once"],
                  "rows": checks},
        "stability": {"columns": ["rankings compared (output necessity)", "Spearman, all heads",
                                  "Spearman, heads before the last layer", "top 10 in common"], "rows": stability},
        "runs": {"columns": ["run", "pairs used", "parts", "wall seconds", "peak MB"], "rows": timing},
    }
    data = {"signal": {name: run["signal_means"] for name, run in runs.items()},
            "pairs": {name: run["pairs"] for name, run in runs.items()},
            "heads": first["heads"], "corruption": first["corruption"], "roles": first["roles"]}
    path = write("patch", record("patch", measures=MEASURES, tables=tables, data=data))
    for table in ("stability", "top_k", "runs"):
        print(table, json.dumps(tables[table]["rows"]))
    print(f"wrote {path}")


if __name__ == "__main__":
    run_figures()
