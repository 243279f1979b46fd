"""The detector artifact: a standardised logistic regression over attention heads, saved without pickle.

A detector directory holds ``detector.json`` (model, feature layout, transform, threshold, seed, training
data, metrics, mia version) and ``weights.npz`` (``mean``, ``scale``, ``coef``, ``intercept``: plain arrays,
loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mia import __version__
from mia.attention import AttentionModel, EncodedPair, FeatureLayout, PairFeatures, load_model
from mia.errors import MiaError
from mia.pairs import Pair

METADATA_FILE = "detector.json"
WEIGHTS_FILE = "weights.npz"
FORMAT_VERSION = 1
FeatureTransform = Literal["log", "none"]
LOG_EPSILON = 1e-4
_CHUNK = 16  # heads per step when scoring attention blocks


def transform_features(features: np.ndarray, transform: FeatureTransform) -> np.ndarray:
    """Map attention weights ``[..., F]`` to the regression's inputs (float32): ``log(w + 1e-4)`` or as is."""
    if transform == "log":
        return np.log(features.astype(np.float32, copy=False) + np.float32(LOG_EPSILON))
    if transform == "none":
        return features.astype(np.float32)  # always a new array: the fit scales it in place
    raise MiaError(f"unknown feature transform {transform!r}: use 'log' or 'none'")


@dataclass(frozen=True)
class TokenLink:
    """A linked token pair: character spans in A and B and the detector's probability."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    probability: float
    a_index: int
    b_index: int

    def to_list(self) -> list[float | int]:
        return [self.a_start, self.a_end, self.b_start, self.b_end, round(self.probability, 4)]


@dataclass(frozen=True)
class Phrase:
    """A maximal run of consecutive linked token pairs ``(i, j), (i+1, j+1), ...``, merged into spans."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    a_text: str
    b_text: str
    tokens: int
    score: float  # mean probability of the run's token pairs

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": [self.a_start, self.a_end],
            "b": [self.b_start, self.b_end],
            "a_text": self.a_text,
            "b_text": self.b_text,
            "tokens": self.tokens,
            "score": round(self.score, 4),
        }


@dataclass
class Detection:
    """What a detector found in one pair: the linked token pairs and the phrases they form."""

    pair: Pair
    links: list[TokenLink]
    phrases: list[Phrase]
    probabilities: np.ndarray  # float32 [n_a, n_b], every token pair
    token_spans: tuple[np.ndarray, np.ndarray]  # character spans of A's and B's tokens, [n_a, 2] and [n_b, 2]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pair.id,
            "links": [link.to_list() for link in self.links],
            "phrases": [phrase.to_dict() for phrase in self.phrases],
        }


@dataclass
class Detector:
    """Logistic regression over standardised attention-head features.

    ``mean``, ``scale``, ``coef``: float64 ``[F]`` (the fitted ``StandardScaler`` and ``LogisticRegression``
    of the training pipeline); ``coef`` are the standardised per-head weights.
    """

    model_name: str
    model_type: str
    model_fingerprint: str
    layout: FeatureLayout
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    transform: FeatureTransform = "log"
    model_revision: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    # --- scoring ------------------------------------------------------------------------------------------

    @property
    def raw_weights(self) -> np.ndarray:
        """Weights on the transformed (unstandardised) features: ``coef / scale``, float64 ``[F]``."""
        return self.coef / self.scale

    @property
    def raw_intercept(self) -> float:
        """Intercept on the transformed (unstandardised) features."""
        return float(self.intercept - np.dot(self.coef, self.mean / self.scale))

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """Log-odds of a link for features ``[..., F]``; returns float32 ``[...]``."""
        if features.shape[-1] != self.layout.n_features:
            raise MiaError(
                f"features have {features.shape[-1]} columns but the detector expects {self.layout.n_features}"
            )
        weights = self.raw_weights.astype(np.float32)
        return transform_features(features, self.transform) @ weights + np.float32(self.raw_intercept)

    def head_weights(self, device: Any = "cpu") -> Any:
        """The regression's weights on the transformed attention, float32 torch ``[offsets, heads_per_offset]``."""
        import torch

        per_offset = self.layout.heads_per_offset
        return torch.as_tensor(
            self.raw_weights.reshape(len(self.layout.offsets), per_offset), dtype=torch.float32,
            device=device,
        )

    def probabilities(self, pair_features: PairFeatures) -> np.ndarray:
        """Probability of a link for every token pair of one pair: float32 ``[n_a, n_b]``.

        Computed in torch on the head-major attention blocks, on the model's device.
        """
        import torch

        blocks = pair_features.blocks
        if blocks.shape[0] != self.layout.heads_per_offset:
            raise MiaError(
                f"features have {blocks.shape[0]} heads but the detector expects {self.layout.heads_per_offset}"
            )
        weights = self.head_weights(blocks.device)
        sums = torch.zeros((weights.shape[0], *blocks.shape[1:]), dtype=torch.float32, device=blocks.device)
        # a few heads at a time: small temporaries stay in cache (one big log(x) costs page faults)
        buffer = torch.empty((_CHUNK, *blocks.shape[1:]), dtype=torch.float32, device=blocks.device)
        for start in range(0, blocks.shape[0], _CHUNK):
            part = blocks[start : start + _CHUNK]
            values = buffer[: len(part)]
            if self.transform == "log":
                torch.add(part, LOG_EPSILON, out=values).log_()
            else:
                values.copy_(part)
            sums += torch.tensordot(weights[:, start : start + len(part)], values, dims=1)
        return self.probabilities_from_sums(sums)

    def probabilities_from_sums(self, sums: Any) -> np.ndarray:
        """Probabilities ``[n_a, n_b]`` from per-offset head sums ``[offsets, n_a, n_b]`` (see ``head_weights``).

        The logit of token pair (i, j) adds, for each offset o, ``sums[o]`` at (i + o, j + o); off the texts a
        head's value is the transform of 0.
        """
        import torch

        n_a, n_b = sums.shape[1:]
        logits = sums[0] + self.raw_intercept
        outside = float(np.log(LOG_EPSILON)) if self.transform == "log" else 0.0
        per_offset = self.layout.heads_per_offset
        for k, shift in enumerate(self.layout.offsets[1:], start=1):
            weight_sum = float(self.raw_weights[k * per_offset : (k + 1) * per_offset].sum())
            shifted = torch.full((n_a, n_b), outside * weight_sum, device=sums.device)
            rows_to, rows_from = _shift_slices(n_a, shift)
            cols_to, cols_from = _shift_slices(n_b, shift)
            shifted[rows_to, cols_to] = sums[k][rows_from, cols_from]
            logits += shifted
        return torch.sigmoid(logits).cpu().numpy()

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probability of a link for features ``[..., F]``; float32 ``[...]``."""
        z = self.decision_function(features)
        return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)

    # --- detection ----------------------------------------------------------------------------------------

    def check_model(self, model: AttentionModel) -> None:
        """Raise :class:`MiaError` unless ``model`` is the model this detector was trained on."""
        same = (
            model.model_type == self.model_type
            and model.layout == self.layout.base()
            and model.fingerprint == self.model_fingerprint
        )
        if not same:
            raise MiaError(
                f"this detector was trained on model {self.model_name!r} ({self.model_type}, "
                f"{self.layout.layers} layers x {self.layout.heads} heads) but the model given is "
                f"{model.name!r} ({model.model_type}, {model.layout.layers} layers x {model.layout.heads} "
                f"heads{', other weights' if model.layout == self.layout.base() else ''}); use --model "
                f"{self.model_name} or train a detector for this model"
            )

    def load_model(self, *, device: str = "auto") -> AttentionModel:
        """Load the model this detector was trained on and check it."""
        model = load_model(self.model_name, device=device)
        self.check_model(model)
        return model

    def detect_features(
        self, pair_features: PairFeatures, *, threshold: float | None = None, min_phrase_tokens: int = 1
    ) -> Detection:
        """Detect links in one pair whose attention features are already extracted."""
        return detection_from_probabilities(
            pair_features.pair, pair_features.a_spans, pair_features.b_spans, self.probabilities(pair_features),
            threshold=self.threshold if threshold is None else threshold, min_phrase_tokens=min_phrase_tokens,
        )

    def iter_detect(
        self,
        model: AttentionModel,
        pairs: Sequence[Pair | EncodedPair],
        *,
        threshold: float | None = None,
        min_phrase_tokens: int = 1,
        batch_size: int = 1,
    ) -> Iterator[Detection]:
        """Detect links in each pair. The detector's sums over heads are taken while the model runs, so the
        feature tensor of a pair is never built (the fast path for detection)."""
        self.check_model(model)
        threshold = self.threshold if threshold is None else threshold
        weights = self.head_weights(model.device)
        epsilon = LOG_EPSILON if self.transform == "log" else None
        for item, sums in model.iter_head_sums(pairs, weights, log_epsilon=epsilon, batch_size=batch_size):
            yield detection_from_probabilities(
                item.pair, item.a_spans, item.b_spans, self.probabilities_from_sums(sums),
                threshold=threshold, min_phrase_tokens=min_phrase_tokens,
            )

    def detect(
        self,
        model: AttentionModel,
        a: str,
        b: str,
        *,
        threshold: float | None = None,
        min_phrase_tokens: int = 1,
        pair_id: str = "0",
    ) -> Detection:
        """Detect which tokens of ``a`` and ``b`` are the same piece of text."""
        pair = Pair(id=pair_id, a=a, b=b)
        return next(self.iter_detect(model, [pair], threshold=threshold, min_phrase_tokens=min_phrase_tokens))

    # --- persistence --------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "mia_version": __version__,
            "model": {
                "name": self.model_name,
                "type": self.model_type,
                "revision": self.model_revision,
                "fingerprint": self.model_fingerprint,
            },
            "features": {
                **self.layout.to_dict(),
                "count": self.layout.n_features,
                "order": "offset, direction, layer, head (feature k: offset k // (directions*layers*heads), "
                "then direction, layer, head within it); offset o: the head's attention at (i + o, j + o)",
                "dtype": "float16 attention weights",
                "transform": self.transform,
                "pipeline": f"{'log(w + 1e-4)' if self.transform == 'log' else 'w'}, standardise (weights.npz "
                "mean, scale), logistic regression (coef, intercept)",
            },
            "threshold": self.threshold,
            **self.metadata,
        }

    def save(self, directory: str | Path) -> Path:
        """Write the detector directory atomically (a temporary directory renamed into place)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        try:
            np.savez(
                tmp / WEIGHTS_FILE,
                mean=self.mean, scale=self.scale, coef=self.coef, intercept=np.array([self.intercept]),
            )
            (tmp / METADATA_FILE).write_text(json.dumps(jsonable(self.to_dict()), indent=2) + "\n")
            if directory.exists():
                check_detector_destination(directory)
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Detector:
        """Load a detector directory (never unpickles)."""
        directory = Path(directory)
        meta_path, weights_path = directory / METADATA_FILE, directory / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise MiaError(
                f"{directory} is not a detector directory (it needs {METADATA_FILE} and {WEIGHTS_FILE}); "
                "train one with `python -m mia train` or pass --detector"
            )
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(weights_path, allow_pickle=False) as weights:
                arrays = {key: weights[key].astype(np.float64) for key in ("mean", "scale", "coef", "intercept")}
            model, features = meta["model"], meta["features"]
            layout = FeatureLayout.from_dict(features)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise MiaError(f"{directory}: unreadable detector ({type(error).__name__}: {error})") from None
        if meta.get("format") != FORMAT_VERSION:
            raise MiaError(f"{directory}: detector format {meta.get('format')} is not {FORMAT_VERSION}")
        if not all(len(arrays[key]) == layout.n_features for key in ("mean", "scale", "coef")):
            raise MiaError(f"{directory}: weights do not match the feature layout in {METADATA_FILE}")
        known = {"format", "mia_version", "model", "features", "threshold"}
        return cls(
            model_name=model["name"],
            model_type=model["type"],
            model_fingerprint=model["fingerprint"],
            model_revision=model.get("revision"),
            layout=layout,
            mean=arrays["mean"],
            scale=arrays["scale"],
            coef=arrays["coef"],
            intercept=float(arrays["intercept"][0]),
            threshold=float(meta["threshold"]),
            transform=features.get("transform", "none"),
            metadata={k: v for k, v in meta.items() if k not in known},
        )


def check_detector_destination(directory: str | Path) -> None:
    """Refuse to replace a directory that exists and is not a detector (it may hold the user's files)."""
    directory = Path(directory)
    if directory.exists() and not (directory / METADATA_FILE).exists() and any(directory.iterdir()):
        raise MiaError(f"{directory} exists and is not a detector directory; choose another --out")


def _shift_slices(length: int, shift: int) -> tuple[slice, slice]:
    """Target and source slices so that ``target[i] = source[i + shift]`` where ``i + shift`` is in range."""
    if shift >= 0:
        return slice(0, max(length - shift, 0)), slice(shift, length)
    return slice(-shift, length), slice(0, max(length + shift, 0))


def detection_from_probabilities(
    pair: Pair,
    a_spans: np.ndarray,
    b_spans: np.ndarray,
    probabilities: np.ndarray,
    *,
    threshold: float,
    min_phrase_tokens: int = 1,
) -> Detection:
    """Links (token pairs with probability >= threshold) and the phrases they form.

    ``a_spans`` ``[n_a, 2]``, ``b_spans`` ``[n_b, 2]``: the tokens' character spans; ``probabilities`` ``[n_a, n_b]``.
    """
    linked = probabilities >= threshold
    rows, cols = np.nonzero(linked)
    links = [
        TokenLink(a0, a1, b0, b1, p, i, j)
        for (a0, a1), (b0, b1), p, i, j in zip(
            a_spans[rows].tolist(), b_spans[cols].tolist(), probabilities[rows, cols].tolist(),
            rows.tolist(), cols.tolist(),
        )
    ]
    phrases = []
    for run in diagonal_runs(linked):
        if len(run) < min_phrase_tokens:
            continue
        (i0, j0), (i1, j1) = run[0], run[-1]
        a_start, a_end = int(a_spans[i0, 0]), int(a_spans[i1, 1])
        b_start, b_end = int(b_spans[j0, 0]), int(b_spans[j1, 1])
        phrases.append(Phrase(
            a_start, a_end, b_start, b_end, pair.a[a_start:a_end], pair.b[b_start:b_end], len(run),
            float(probabilities[[i for i, _ in run], [j for _, j in run]].mean()),
        ))
    phrases.sort(key=lambda p: (p.a_start, p.b_start))
    return Detection(pair=pair, links=links, phrases=phrases, probabilities=probabilities,
                     token_spans=(a_spans, b_spans))


def diagonal_runs(linked: np.ndarray) -> list[list[tuple[int, int]]]:
    """Maximal runs ``(i, j), (i+1, j+1), ...`` of True cells of a bool ``[n_a, n_b]`` matrix."""
    cells = set(zip(*(index.tolist() for index in np.nonzero(linked))))
    runs = []
    for i, j in sorted(cells):
        if (i - 1, j - 1) in cells:
            continue  # not the start of a run
        run = [(i, j)]
        while (run[-1][0] + 1, run[-1][1] + 1) in cells:
            run.append((run[-1][0] + 1, run[-1][1] + 1))
        runs.append(run)
    return runs


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN as None, ready for ``json.dumps``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
