"""How much the heads' summed weights depend on where the regression's solver stops.

    python benchmarks/weight_convergence.py [--refits 1] [--procedures 15]
                                            [--out benchmarks/results/weight_convergence.json]

Trains the default detector's regression as `mia train` does (`fit_detector`: packaged corpus, mixed copies, seed 0;
lbfgs stopped at scikit-learn's default tolerance 1e-4), then continues the same fit to a tolerance of 1e-6, and
compares each head's summed standardised weight (the number `heads --by weight` shows) between the two. Then, for
``--refits`` bootstrap resamples of the training pairs (drawn as `mia train`'s refits draw them, on all rows, no
thinning), a refit stopped at 1e-4 (warm-started at the main fit, as `mia train`'s refits are) and one run to 1e-6
(warm-started at the converged fit): how far each moves from its start. The heads' AUC ranking involves no fit and is
not measured here.

Then the refit procedure behind the weight intervals, on ``--procedures`` resamples each
(`mia.heads.bootstrap.bootstrap_coefficients`): `train`'s refits (started at the main fit's weights, on at most
50,000 rows of the resample), the same from zero, and the reference, refits that repeat the main fit exactly (from
zero, every row of the resample). For each: the median over heads of the spread (standard deviation) of the summed
weight, its ratio to the reference's, and how far the refits' median moves the five largest weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--refits", type=int, default=1, help="bootstrap resamples refitted both ways (default 1)")
    parser.add_argument("--procedures", type=int, default=15,
                        help="resamples refitted by each refit procedure (default 15; 0 skips the comparison)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "weight_convergence.json"))
    parser.add_argument("--results", metavar="NAME",
                        help="also write the documentation's stamped record docs/results/NAME.json (Heads page)")
    args = parser.parse_args(argv)

    from scipy.stats import spearmanr
    from sklearn.base import clone

    from mia.heads.bootstrap import pair_counts
    from mia.heads.description import pair_index
    from mia.models.attention import load_model
    from mia.text.noise import TRAINING_NOISE
    from mia.training.data import generated_data
    from mia.training.training import TrainOptions, fit_detector

    model = load_model("minilm", device="cpu")
    data = generated_data(None, seed=0, copies="mixed", noise=TRAINING_NOISE)
    started = time.perf_counter()
    run = fit_detector(model, data, TrainOptions(seed=0))
    fit_seconds = time.perf_counter() - started
    regression = run.pipeline[-1]
    rows, labels, weights = run.train.features, run.train.labels, run.train.weights
    layout = run.detector.layout

    def heads(coef: np.ndarray) -> np.ndarray:
        return layout.by_head(np.asarray(coef, np.float64)).sum((-3, -2))

    def continued(start: Any, sample_weight: np.ndarray, tol: float) -> tuple[Any, float]:
        fit = clone(regression).set_params(warm_start=True, tol=tol, max_iter=20_000)
        fit.coef_, fit.intercept_ = start.coef_.copy(), start.intercept_.copy()
        began = time.perf_counter()
        fit.fit(rows, labels, sample_weight=sample_weight)
        return fit, time.perf_counter() - began

    converged, converged_seconds = continued(regression, weights, 1e-6)
    early_heads, converged_heads = heads(regression.coef_[0]), heads(converged.coef_[0])
    moved = np.abs(converged_heads - early_heads)
    top = 10
    result: dict[str, Any] = {
        "rows": list(rows.shape),
        "main_fit": {
            "iterations_at_1e-4": int(regression.n_iter_[0]), "fit_detector_seconds": round(fit_seconds, 1),
            "iterations_to_1e-6": int(converged.n_iter_[0]), "seconds_to_1e-6": round(converged_seconds, 1),
            "head_weight_change_max": round(float(moved.max()), 3),
            "head_weight_change_median": round(float(np.median(moved)), 3),
            "spearman_head_weights": round(float(spearmanr(early_heads, converged_heads).statistic), 3),
            f"top{top}_in_common": len(set(np.argsort(-early_heads)[:top]) & set(np.argsort(-converged_heads)[:top])),
            "top_heads_at_1e-4": np.round(np.sort(early_heads)[::-1][:5], 2).tolist(),
            "top_heads_at_1e-6": np.round(np.sort(converged_heads)[::-1][:5], 2).tolist(),
        },
        "refits": [],
    }
    rng = np.random.default_rng([0, 3])
    for _ in range(args.refits):
        counts = pair_counts(pair_index(run.train), rng)
        resampled = (weights * counts).astype(np.float32)
        early, early_seconds = continued(regression, resampled, 1e-4)
        full, full_seconds = continued(converged, resampled, 1e-6)
        early_move = float(np.abs(heads(early.coef_[0]) - early_heads).max())
        full_move = float(np.abs(heads(full.coef_[0]) - converged_heads).max())
        result["refits"].append({
            "stopped_at_1e-4": {"iterations": int(early.n_iter_[0]), "seconds": round(early_seconds, 1),
                                "head_weight_move_max": round(early_move, 3)},
            "run_to_1e-6": {"iterations": int(full.n_iter_[0]), "seconds": round(full_seconds, 1),
                            "head_weight_move_max": round(full_move, 3)},
        })
    if args.procedures:
        result["refit_procedures"] = compare_procedures(run, heads, early_heads, args.procedures)
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.results:
        from benchmarks.results import record, write

        made = record("weight-convergence", measures=MEASURES, tables=tables(result), data=result)
        print(f"wrote {write(args.results, made)}")
    return 0


MEASURES = ["mia/training", "mia/heads/bootstrap.py", "mia/heads/description.py", "mia/models", "mia/text",
            "mia/workflow.py", "benchmarks/weight_convergence.py"]


def tables(result: dict[str, Any]) -> dict[str, Any]:
    """The Heads page's tables: where the solver stops, and the refit procedures behind the weight intervals."""
    main = result["main_fit"]
    solver = [
        ["lbfgs iterations", main["iterations_at_1e-4"], main["iterations_to_1e-6"]],
        ["seconds", main["fit_detector_seconds"], main["seconds_to_1e-6"]],
        ["the five largest summed head weights", ", ".join(f"{w:.2f}" for w in main["top_heads_at_1e-4"]),
         ", ".join(f"{w:.2f}" for w in main["top_heads_at_1e-6"])],
        ["heads' summed weights moved: max / median", "", f"{main['head_weight_change_max']:.2f} / "
                                                        f"{main['head_weight_change_median']:.2f}"],
        ["order by weight against the stopped fit: Spearman, top 10 in common", "",
         f"{main['spearman_head_weights']:.2f}, {main['top10_in_common']}"],
    ]
    for n, refit in enumerate(result["refits"], start=1):
        solver.append([f"resample {n} refitted on all rows: largest move of a head's weight",
                       f"{refit['stopped_at_1e-4']['head_weight_move_max']:.2f} (from the stopped fit)",
                       f"{refit['run_to_1e-6']['head_weight_move_max']:.2f} (from the converged fit)"])
    made = {"solver": {"columns": ["the default's regression", "stopped at tol 1e-4 (what train uses)",
                                   "continued to tol 1e-6"], "rows": solver,
                       "note": f"{result['rows'][0]:,} rows x {result['rows'][1]:,} columns, packaged corpus, "
                               "seed 0, as python -m mia train fits them"}}
    procedures = result.get("refit_procedures")
    if procedures:
        made["procedures"] = {
            "columns": ["refit procedure", "median head's spread (sd of its summed weight)",
                        "median ratio to the reference, per head", "median shift of the 5 largest weights",
                        "seconds"],
            "rows": [[name, f"{entry['head_spread_median']:.3f}", f"{entry['spread_ratio_to_reference_median']:.2f}",
                      ", ".join(f"{v:+.2f}" for v in entry["median_shift_of_largest_heads"]), entry["seconds"]]
                     for name, entry in procedures.items() if isinstance(entry, dict)],
            "note": f"{procedures['resamples']} resamples of the training pairs each; the 5 largest weights of the "
                    f"main fit: {', '.join(f'{w:.2f}' for w in procedures['largest_heads_weights'])}"}
    return made


def compare_procedures(run: Any, heads: Any, main_heads: np.ndarray, resamples: int) -> dict[str, Any]:
    """Each refit procedure's spread of the heads' summed weights on ``resamples`` resamples of the training pairs
    (the first two on the same resamples), against refits that repeat the main fit on every row."""
    from mia.heads.bootstrap import bootstrap_coefficients
    from mia.heads.description import pair_index

    rows = run.train.features
    procedures = {
        "train's refits: from the main fit's weights, <= 50,000 rows": (False, 50_000),
        "from zero, <= 50,000 rows": (True, 50_000),
        "reference: from zero, every row of the resample": (True, len(rows)),
    }
    largest = np.argsort(-np.abs(main_heads))[:5]
    measured: dict[str, Any] = {}
    for name, (from_zero, max_rows) in procedures.items():
        began = time.perf_counter()
        draws = heads(bootstrap_coefficients(
            rows, run.train.labels, run.train.weights, pair_index(run.train), run.pipeline,
            transform=run.detector.transform, refits=resamples, rng=np.random.default_rng([0, 4]),
            standardised=run.train.standardised, from_zero=from_zero, max_rows=max_rows))
        spread = draws.std(0, ddof=1)
        measured[name] = {"seconds": round(time.perf_counter() - began, 1), "spread": spread,
                          "median_shift_of_largest": np.round(np.median(draws, 0)[largest] - main_heads[largest], 2)}
    reference = next(iter(reversed(measured.values())))["spread"]
    return {
        "resamples": resamples,
        "largest_heads_weights": np.round(main_heads[largest], 2).tolist(),
        **{name: {"seconds": entry["seconds"],
                  "head_spread_median": round(float(np.median(entry["spread"])), 3),
                  "spread_ratio_to_reference_median": round(float(np.median(entry["spread"] / reference)), 2),
                  "median_shift_of_largest_heads": entry["median_shift_of_largest"].tolist()}
           for name, entry in measured.items()},
    }


if __name__ == "__main__":
    raise SystemExit(main())
