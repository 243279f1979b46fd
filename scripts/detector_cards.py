"""Regenerate the held-out card (``metrics`` in ``detector.json``) of each shipped detector, weights unchanged.

    python scripts/detector_cards.py [NAME ...]

For each shipped detector: its own test pairs are made again from its recorded data (checked by hash, as
``mia ablate`` does), ``evaluate`` measures it on them (word-level P/R/F1 of its decoded links beside the string
baselines, then token level), and the card replaces ``metrics``. The weights, the threshold, the split and the heads
are left as trained; the weights' hash is checked before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mia.cli.common import progress  # noqa: E402
from mia.detector.detector import Detector  # noqa: E402
from mia.detector.folder import shipped_detectors, shipped_folder  # noqa: E402
from mia.evaluate.evaluation import evaluate_detector  # noqa: E402
from mia.io import jsonable, write_bytes_atomic  # noqa: E402
from mia.training.data import held_out_pairs  # noqa: E402


def refresh(name: str) -> str:
    folder = shipped_folder() / name
    detector = Detector.load(folder)
    weights = hashlib.sha256((folder / "weights.npz").read_bytes()).hexdigest()
    pairs = held_out_pairs(detector.metadata)
    model = detector.load_model(device="cpu")
    evaluation = evaluate_detector(detector, model, pairs, decode=detector.decode, progress=progress)
    record = json.loads((folder / "detector.json").read_text())
    if record["weights_sha256"] != weights:
        raise SystemExit(f"{name}: weights.npz does not match its detector.json; not touched")
    record["metrics"] = jsonable(evaluation.card())
    write_bytes_atomic((json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode(), folder / "detector.json")
    Detector.load(folder)  # still validates, with the same weights
    return evaluation.headline()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="shipped detectors (default: all)")
    names = parser.parse_args().names or shipped_detectors()
    for name in names:
        print(f"{name}: {refresh(name)}")


if __name__ == "__main__":
    main()
