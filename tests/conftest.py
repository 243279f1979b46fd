"""Shared fixtures: the packaged MiniLM, a tiny random BART built here, and a small trained detector."""

from __future__ import annotations

from pathlib import Path

import pytest

from mia.models.attention import AttentionModel, load_model
from mia.text.corpus import read_paragraphs
from mia.text.pairs import Pair, generate_pairs
from mia_testkit import build_random_bart


@pytest.fixture(scope="session")
def minilm() -> AttentionModel:
    return load_model("minilm", device="cpu")


@pytest.fixture(scope="session")
def small_pairs() -> list[Pair]:
    """40 shuffled-copy pairs from the packaged corpus."""
    pairs, _ = generate_pairs(read_paragraphs(), seed=0, limit=40)
    return pairs


@pytest.fixture(scope="session")
def tiny_bart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_bart(tmp_path_factory.mktemp("tiny-bart"))


@pytest.fixture(scope="session")
def tiny_bart(tiny_bart_dir: Path) -> AttentionModel:
    return load_model(str(tiny_bart_dir), device="cpu")


@pytest.fixture(scope="session")
def trained_detector_dir(tmp_path_factory: pytest.TempPathFactory, minilm: AttentionModel,
                         small_pairs: list[Pair]) -> Path:
    """A MiniLM detector trained on 40 packaged-corpus pairs, saved to a temporary directory."""
    from mia.models.layout import PAIR_ONLY
    from mia.training.training import TrainOptions
    from mia.workflow import train_detector

    detector = train_detector(minilm, small_pairs, TrainOptions(seed=0, offsets=PAIR_ONLY))
    return detector.save(tmp_path_factory.mktemp("detector") / "minilm-test")
