"""How far the causal head ranking of `mia patch` holds: the default run against another corpus, another seed and the
other corruption scheme (Spearman over every head and top-10 overlap, as for the weight ranking).

    python benchmarks/patch_stability.py --corpus ../shared/corpora/gatsby.txt --out patch-stability.json

Runs (output part only, as the ranking is made on it): the detector's own test pairs (seed 0, other-text); pairs
generated from ``--corpus``; seed 1 (other donors and random sets); the random-tokens corruption. Each writes its
JSON beside ``--out``; the agreements of each with the first go to ``--out`` and are printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mia.cli import main as mia
from mia.heads.stability import agreement


def necessity(path: Path) -> dict[str, float]:
    return {h["name"]: h["necessity"] for h in json.loads(path.read_text())["heads"]}


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default="minilm-reuse")
    parser.add_argument("--corpus", required=True, help="another corpus (text or JSONL)")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--out", required=True, help="JSON of the agreements; each run's JSON goes beside it")
    args = parser.parse_args()
    out = Path(args.out)
    variants = {
        "default": [],
        "other corpus": ["--corpus", args.corpus],
        "seed 1": ["--seed", "1"],
        "random-tokens corruption": ["--corruption", "random-tokens"],
    }
    files, seconds = {}, {}
    for name, extra in variants.items():
        files[name] = out.with_name(f"{out.stem}-{name.replace(' ', '-')}.json")
        start = time.perf_counter()
        code = mia(["patch", "--detector", args.detector, "--parts", "output", "--limit", str(args.limit),
                    "--format", "json", "--out", str(files[name]), *extra])
        if code:
            raise SystemExit(code)
        seconds[name] = round(time.perf_counter() - start, 1)
    base = necessity(files["default"])
    heads = sorted(base)
    # the last layer's outputs reach nothing the detector reads: 0 in every run, ties that would flatter Spearman
    last = max(int(h[1:].split("H")[0]) for h in heads)
    earlier = [h for h in heads if int(h[1:].split("H")[0]) < last]
    rows = []
    for name in list(variants)[1:]:
        other = necessity(files[name])
        found = agreement(name, np.array([base[h] for h in heads]), np.array([other[h] for h in heads]))
        before_last = agreement(name, np.array([base[h] for h in earlier]), np.array([other[h] for h in earlier]))
        rows.append({**found.to_dict(), "spearman_before_last_layer": round(before_last.spearman, 4),
                     "file": files[name].name})
        print(f"default vs {name:<26} Spearman {found.spearman:.3f} (heads before the last layer "
              f"{before_last.spearman:.3f})  top-10 in common {found.top10_common}")
    summary = {"detector": args.detector, "corpus": args.corpus, "limit": args.limit, "seconds": seconds,
               "ranking": "output necessity, every head", "agreements": rows,
               "pairs": {name: json.loads(files[name].read_text())["pairs"] for name in variants},
               "top_k_noising": {name: json.loads(files[name].read_text())["top_k_noising"] for name in variants}}
    out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    run()
