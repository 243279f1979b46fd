"""Every head figure in the README, from one command: stability, ablation, probe beside the detector's heads.

    python benchmarks/head_figures.py [--corpus ../shared/corpora/gatsby.txt] [--work /tmp/mia-head-figures]

1. Stability (issue protocol): detectors trained with default options on 300 generated pairs, seed 0, from the
   packaged Python reference and from another corpus (and the reference again with seed 1); `compare-heads`.
2. The shipped default detector's heads (`heads`, intervals and head types).
3. Ablation of the shipped default detector on its own test pairs (`ablate`), with docs/ablation.png.
4. The repeated-random-words probe on MiniLM (`probe`), its duplicate heads beside the detector's top heads.

Writes docs/heads-figures.md (and prints it). Detectors trained here go to --work, never into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mia.cli import main as mia  # noqa: E402


def run(argv: list[str]) -> str:
    """Run a mia command, return what it printed; stop on failure."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = mia(argv)
    if code != 0:
        raise SystemExit(f"mia {' '.join(argv)} failed with exit code {code}")
    return out.getvalue()


def train(work: Path, name: str, extra: list[str]) -> Path:
    folder = work / name
    if not (folder / "detector.json").exists():
        started = time.perf_counter()
        run(["train", "--limit", "300", "--out", str(folder), *extra])
        print(f"trained {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return folder


def fenced(command: str, output: str) -> str:
    return f"```\n$ python -m mia {command}\n{output.rstrip()}\n```\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpora" / "gatsby.txt"),
                        help="the other corpus for the stability figure (default ../shared/corpora/gatsby.txt)")
    parser.add_argument("--work", default="/tmp/mia-head-figures", help="where the compared detectors are trained")
    parser.add_argument("--out", default=str(ROOT / "docs" / "heads-figures.md"))
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sections = ["# Head figures\n",
                "Made by `python benchmarks/head_figures.py` (MiniLM, CPU). Every number below is printed by the "
                "mia command shown.\n"]

    reference = train(work, "reference-seed0", [])
    reference_1 = train(work, "reference-seed1", ["--seed", "1"])
    other = train(work, "other-seed0", ["--corpus", args.corpus])
    sections.append("## Stability of head rankings\n\nDetectors trained with default options on 300 generated "
                    f"pairs each (`train --limit 300`): the packaged Python reference with seed 0 and 1, and "
                    f"`{Path(args.corpus).name}` with seed 0.\n")
    for first, second in ((reference, other), (reference, reference_1)):
        command = f"compare-heads {first.name} {second.name}"
        sections.append(fenced(command, run(["compare-heads", str(first), str(second)])))

    sections.append("## The shipped default detector's heads\n")
    sections.append(fenced("heads --top 12", run(["heads", "--top", "12"])))

    png = ROOT / "docs" / "ablation.png"
    ablation = run(["ablate", "--plot", str(png)])
    sections.append("## Ablation (shipped default detector, its own test pairs)\n")
    sections.append(fenced("ablate --plot docs/ablation.png", ablation))
    sections.append("![ablation curves](ablation.png)\n")

    probe = run(["probe", "--top", "4"])
    top = json.loads(run(["heads", "--top", "6", "--format", "json"]))["heads"]
    sections.append("## Probe: repeated random words\n")
    sections.append(fenced("probe --top 4", probe))
    sections.append("The detector's top heads by its primary ranking: "
                    + ", ".join(f"{h['head']} (AUC {h['auc']:.3f})" for h in top) + ".\n")

    text = "\n".join(sections)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
