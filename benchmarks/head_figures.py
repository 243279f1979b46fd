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

from benchmarks.results import record, write  # noqa: E402
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
    align = Path("minilm-align")  # a shipped detector, by name
    sections.append("## Stability of head rankings\n\nDetectors trained with default options on 300 generated "
                    f"pairs each (`train --limit 300`): the packaged Python reference with seed 0 and 1, and "
                    f"`{Path(args.corpus).name}` with seed 0.\n")
    for first, second in ((reference, other), (reference, reference_1)):
        command = f"compare-heads {first.name} {second.name}"
        sections.append(fenced(command, run(["compare-heads", str(first), str(second)])))

    sections.append("## The shipped default detector's heads\n")
    sections.append(fenced("heads --top 12", run(["heads", "--top", "12"])))

    png = ROOT / "docs" / "ablation.png"
    ablation_file = work / "ablation.json"
    run(["ablate", "--plot", str(png), "--format", "json", "--out", str(ablation_file)])
    ablation = json.loads(ablation_file.read_text())
    sections.append("## Ablation (shipped default detector, its own test pairs)\n")
    table = head_record({}, {"heads": []}, ablation)["tables"]["ablation"]
    sections.append(fenced("ablate --plot docs/ablation.png --format json  (as a table)",
                           "\n".join(" | ".join(str(c) for c in row) for row in [table["columns"], *table["rows"]])))
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
    comparisons = {f"{first.name} vs {second.name}": json.loads(run(["compare-heads", str(first), str(second),
                                                                      "--format", "json"]))
                   for first, second in ((reference, other), (reference, reference_1), (reference, align))}
    heads = json.loads(run(["heads", "--top", "12", "--format", "json"]))
    print(f"wrote {write('heads', head_record(comparisons, heads, ablation))}")
    return 0


MEASURES = [*(f"mia/heads/{name}.py" for name in ("ranking", "stability", "ablation", "bootstrap", "description",
                                                   "probe")),
            "mia/models", "mia/training", "mia/detector", "mia/evaluate", "mia/text", "mia/workflow.py",
            *(f"mia/data/detectors/{name}/{file}" for name in ("minilm-reuse", "minilm-align")
              for file in ("detector.json", "weights.npz"))]


def interval(pair: list[float] | None, digits: int = 3) -> str:
    return "–" if pair is None else f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"


def head_record(comparisons: dict, heads: dict, ablation: dict) -> dict:
    """The documentation's results record of the heads page: stability, the default detector's heads, ablation."""
    stability = [[name, row["ranking"], row["items"], f"{row['spearman']:.3f}", row["top10_common"]]
                 for name, found in comparisons.items() for row in found["rankings"]]
    rows = [[h["rank"], h["head"], f"{h['auc']:.3f}", interval(h["auc_interval"]),
             "–" if h["auc_top10_share"] is None else f"{h['auc_top10_share']:.0%}", f"{h['weight']:.2f}",
             interval(h["weight_interval"], 2) + (" 0" if h["weight_crosses_zero"] else ""),
             "–" if h["weight_top10_share"] is None else f"{h['weight_top10_share']:.0%}",
             " / ".join(dict.fromkeys(h["dominant_type"].values())) or "–"] for h in heads["heads"]]
    curves = list(ablation["curves"])
    ablated = [[k, *("–" if ablation["curves"][c][i] is None else f"{ablation['curves'][c][i]:.4f}" for c in curves)]
               for i, k in enumerate(ablation["ks"])]
    return record("heads", measures=MEASURES, tables={
        "stability": {"columns": ["detectors compared", "ranking", "items", "Spearman", "top 10 in common"],
                      "rows": stability,
                      "note": "reference: the packaged corpus; other: --corpus; each trained with default options on "
                              "300 generated pairs (seed 0, reference also seed 1); minilm-align: the shipped "
                              "paraphrase detector"},
        "heads": {"columns": ["rank", "head", "own AUC", "interval", "top 10", "summed weight", "interval",
                              "top 10", "dominant type"], "rows": rows,
                  "note": "the shipped default detector, minilm-reuse; 0: the weight interval holds 0"},
        "ablation": {"columns": ["k heads", *curves], "rows": ablated,
                     "note": f"average precision on {ablation['pairs']['eval']} eval pairs' sampled token pairs; "
                             f"detector as trained {ablation['detector']:.4f}; refits on {ablation['pairs']['fit']} "
                             "other pairs; " + ", ".join(f"{n} {v:.4f}" for n, v in ablation["baselines"].items())},
    }, data={"comparisons": comparisons, "ablation": ablation})


if __name__ == "__main__":
    raise SystemExit(main())
