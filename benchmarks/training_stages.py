"""Where the default `mia train` spends its time and memory: each stage of `workflow.train_detector` timed in-process.

    python benchmarks/training_stages.py      # about 2 minutes here; prints one line per stage

The same data, model and options as `python -m mia train` with every default (packaged corpus, mixed copies,
seed 0, 30 bootstrap refits). Each line: seconds since the start, the peak RSS so far (``ru_maxrss``), the RSS now,
the stage and its own seconds. Nothing is written.
"""

from __future__ import annotations

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


def report(message: str) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{time.perf_counter() - STARTED:7.1f} s  peak {peak:6.0f} MB  now {resident_mb():6.0f} MB  {message}",
          flush=True)


def timed(module: Any, name: str) -> None:
    """Replace ``module.name`` by a wrapper that reports its own seconds."""
    function = getattr(module, name)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        result = function(*args, **kwargs)
        report(f"{name}: {time.perf_counter() - began:.1f} s")
        return result

    setattr(module, name, wrapper)


def main() -> int:
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
