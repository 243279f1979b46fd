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

from benchmarks.results import record, shipped_detector_files, write  # noqa: E402
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
    """A detector trained by ``mia train --limit 300 EXTRA`` in ``work``; one trained earlier is used again only
    when it was trained by the code this run measures (the hash of :data:`MEASURES` is kept beside it)."""
    import shutil

    from benchmarks.results import source_hash

    folder, stamp = work / name, work / f"{name}.source-hash"
    current = source_hash(MEASURES)
    if (folder / "detector.json").exists() and stamp.is_file() and stamp.read_text() == current:
        return folder
    if folder.exists() and not stamp.is_file():
        raise SystemExit(f"{folder} was not trained by this script (no {stamp.name} beside it): remove it or give "
                         "another --work")
    if folder.exists():
        shutil.rmtree(folder)  # trained by this script with other code (its stamp says so)
    started = time.perf_counter()
    run(["train", "--limit", "300", "--out", str(folder), *extra])
    stamp.write_text(current)
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
                   for first, second in ((reference, other), (reference, reference_1), (reference, align),
                                         (Path("minilm-reuse"), align))}
    heads = json.loads(run(["heads", "--top", "12", "--format", "json"]))
    print(f"wrote {write('heads', head_record(comparisons, heads, ablation))}")
    return 0


MEASURES = [*(f"mia/heads/{name}.py" for name in ("ranking", "stability", "ablation", "bootstrap", "description",
                                                   "probe")),
            "mia/models", "mia/training", "mia/detector", "mia/evaluate", "mia/text", "mia/workflow.py",
            *shipped_detector_files(["minilm-reuse", "minilm-align"])]


def interval(pair: list[float] | None, digits: int = 3) -> str:
    return "–" if pair is None else f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"


def head_record(comparisons: dict, heads: dict, ablation: dict) -> dict:
    """The documentation's results record of the heads page: stability, the default detector's heads, ablation."""
    def agreement_rows(relations: bool) -> list[list]:
        return [[name, row["ranking"], row["items"], f"{row['spearman']:.3f}", interval(row.get("spearman_interval")),
                 row["top10_common"], interval(row.get("top10_common_interval"), 0)]
                for name, found in comparisons.items() if name.endswith("minilm-align") == relations
                for row in found["rankings"]]

    columns = ["detectors compared", "ranking", "items", "Spearman", "95% interval", "top 10 in common",
               "95% interval"]
    intervals = ("intervals: 2.5th to 97.5th percentile over paired resamples of the two detectors' test pairs "
                 "(own held-out AUC only; none where a detector records no resampled AUCs)")
    relations = comparisons.get("minilm-reuse vs minilm-align", {}).get("specific_heads") or {}
    specific = [[side, ", ".join(f"{d['layer']}:{d['head']}" for d in relations.get(side, [])) or "none"]
                for side in ("first", "second") if relations]
    rows = [[h["rank"], h["head"], f"{h['auc']:.3f}", interval(h["auc_interval"]),
             "–" if h["auc_top10_share"] is None else f"{h['auc_top10_share']:.0%}", f"{h['weight']:.2f}",
             interval(h["weight_interval"], 2) + (" 0" if h["weight_crosses_zero"] else ""),
             "–" if h["weight_top10_share"] is None else f"{h['weight_top10_share']:.0%}",
             " / ".join(dict.fromkeys(h["dominant_type"].values())) or "–"] for h in heads["heads"]]
    curves = list(ablation["curves"])
    ablated = [[k, *("–" if ablation["curves"][c][i] is None else f"{ablation['curves'][c][i]:.4f}" for c in curves)]
               for i, k in enumerate(ablation["ks"])]
    return record("heads", measures=MEASURES, tables={
        "stability": {"columns": columns, "rows": agreement_rows(False),
                      "note": "reference: the packaged corpus; other: --corpus; each trained with default options on "
                              f"300 generated pairs (seed 0, reference also seed 1); {intervals}"},
        "relations": {"columns": columns, "rows": agreement_rows(True),
                      "note": "minilm-reuse and minilm-align: the shipped detectors (minilm-reuse, trained by an "
                              "earlier version, records no resampled AUCs); reference-seed0: the packaged corpus, "
                              f"default options, 300 generated pairs, trained by this run; {intervals}"},
        "specific": {"columns": ["heads specific to", "heads (layer:head)"],
                     "rows": [["minilm-reuse" if side == "first" else "minilm-align", heads]
                              for side, heads in specific],
                     "note": relations.get("rule", "not measured")},
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
