"""Where the default `mia train` spends its time and memory: each stage of `workflow.train_detector` timed in-process.

    python benchmarks/training_stages.py      # about 2 minutes here; prints one line per stage
    python benchmarks/training_stages.py --results training-stages   # also the Performance page's table

The same data, model and options as `python -m mia train` with every default (packaged corpus, mixed copies,
seed 0, 30 bootstrap refits). Each line: seconds since the start, the peak RSS so far (``ru_maxrss``), the RSS now,
the stage and its own seconds. With ``--results NAME`` the lines are also written as the documentation's stamped
record ``docs/results/NAME.json``.
"""

from __future__ import annotations

import argparse
import functools
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mia_testkit import resident_mb  # noqa: E402

STARTED = time.perf_counter()
LINES: list[list[object]] = []  # [seconds since the start, peak MB, RSS now MB, stage, its own seconds or ""]


def report(message: str, own: float | None = None) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    since, now = time.perf_counter() - STARTED, resident_mb()
    LINES.append([round(since, 1), round(peak), round(now), message, "" if own is None else round(own, 1)])
    own_text = "" if own is None else f": {own:.1f} s"
    print(f"{since:7.1f} s  peak {peak:6.0f} MB  now {now:6.0f} MB  {message}{own_text}", flush=True)


def timed(module: Any, name: str) -> None:
    """Replace ``module.name`` by a wrapper that reports its own seconds."""
    function = getattr(module, name)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        result = function(*args, **kwargs)
        report(name, time.perf_counter() - began)
        return result

    setattr(module, name, wrapper)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", metavar="NAME",
                        help="also write the documentation's stamped record docs/results/NAME.json (Performance page)")
    args = parser.parse_args(argv)
    import mia.heads.description as description
    import mia.training.training as training
    import mia.workflow as workflow
    from mia.models.attention import load_model
    from mia.text.noise import TRAINING_NOISE
    from mia.training.data import generated_data

    for module, name in [(training, "sampled_features"), (training, "fit_pipeline"), (workflow, "fit_detector"),
                         (workflow, "evaluate_detector"), (workflow, "describe_heads"),
                         (description, "sampled_features"), (description, "head_auc"),
                         (description, "bootstrap_coefficients"), (description, "bootstrap_auc")]:
        timed(module, name)
    data = generated_data(None, seed=0, copies="mixed", noise=TRAINING_NOISE)
    report("pairs generated")
    model = load_model("minilm", device="cpu")
    report("model loaded")
    workflow.train_detector(model, data, training.TrainOptions(seed=0), description.DescribeOptions(seed=0))
    report("done")
    if args.results:
        from benchmarks.results import record, write

        made = record("training-stages", measures=MEASURES, data=LINES, tables={"stages": {
            "columns": ["s since the start", "peak RSS MB so far", "RSS now MB", "stage (function of mia)",
                        "its own s"], "rows": LINES,
            "note": "python -m mia train with every default, in one process (in-process: the peak differs from a "
                    "whole-process run by tens of MB); MB are 2^20 bytes"}})
        print(f"wrote {write(args.results, made)}")
    return 0


MEASURES = ["mia/models", "mia/training", "mia/heads/description.py", "mia/heads/bootstrap.py", "mia/workflow.py",
            "mia/text", "mia/evaluate", "mia/detector", "benchmarks/training_stages.py"]


if __name__ == "__main__":
    raise SystemExit(main())
