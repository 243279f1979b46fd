"""The detector artifact: a standardised logistic regression over attention heads, saved without pickle.

A detector directory holds ``detector.json`` (model, feature layout, transform, threshold, seed, training
data, metrics, mia version) and ``weights.npz`` (``mean``, ``scale``, ``coef``, ``intercept``: plain arrays,
loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mia.detector.folder import (
    DetectorRecord,
    FeatureTransform,
    LayoutRecord,
    ModelRecord,
    read_detector_folder,
    resolve_detector,
    weights_bytes,
    write_detector_folder,
)
from mia.errors import MiaError
from mia.models.attention import AttentionModel, EncodedPair, FeatureLayout, PairFeatures, load_model
from mia.text.pairs import Pair

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
        if same:
            return
        if model.model_type == self.model_type and model.layout == self.layout.base():
            raise MiaError(
                f"this detector was trained on model {self.model_name!r} but the model given ({model.name!r}) has "
                f"other weights (fingerprint {model.fingerprint}, the detector's is {self.model_fingerprint}): "
                "another checkpoint or version of the same architecture; train a detector for this model"
            )
        raise MiaError(
            f"this detector was trained on model {self.model_name!r} ({self.model_type}, "
            f"{self.layout.layers} layers x {self.layout.heads} heads) but the model given is "
            f"{model.name!r} ({model.model_type}, {model.layout.layers} layers x {model.layout.heads} "
            f"heads); use --model {self.model_name} or train a detector for this model"
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

    def record(self) -> DetectorRecord:
        """The typed record ``detector.json`` holds for this detector."""
        layout = self.layout
        return DetectorRecord(
            format=2,
            model=ModelRecord(name=self.model_name, type=self.model_type, fingerprint=self.model_fingerprint,
                              revision=self.model_revision),
            layout=LayoutRecord(layout.layers, layout.heads, layout.directions, layout.offsets),
            transform=self.transform,
            threshold=float(self.threshold),
            metadata=self.metadata,
        )

    def weight_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": np.array([self.intercept])}

    def to_dict(self) -> dict[str, Any]:
        """What ``detector.json`` holds for this detector (with the hash of its weights)."""
        return self.record().to_json(hashlib.sha256(weights_bytes(self.weight_arrays())).hexdigest())

    def save(self, directory: str | Path, *, expected_state: str | None | Literal["unchecked"] = "unchecked") -> Path:
        """Write the detector into ``directory``: a new or empty folder, or a detector folder, whose two files
        (``detector.json``, ``weights.npz``) are replaced; any other file there is left alone. A folder holding
        other things, a shipped detector or an unwritable place is refused (:class:`MiaError`).

        ``expected_state``: the folder's state when the run checked it (``check_detector_destination``); if
        another run wrote a detector there since, nothing is overwritten (``DetectorConflict``).
        """
        return write_detector_folder(directory, self.record(), self.weight_arrays(), expected_state=expected_state)

    @classmethod
    def load(cls, directory: str | Path) -> Detector:
        """Load and validate a detector folder, or a shipped detector by name (never unpickles)."""
        record, arrays = read_detector_folder(resolve_detector(directory))
        return cls(
            model_name=record.model.name,
            model_type=record.model.type,
            model_fingerprint=record.model.fingerprint,
            model_revision=record.model.revision,
            layout=FeatureLayout(record.layout.layers, record.layout.heads, record.layout.directions,
                                 record.layout.offsets),
            mean=arrays["mean"],
            scale=arrays["scale"],
            coef=arrays["coef"],
            intercept=float(arrays["intercept"][0]),
            threshold=record.threshold,
            transform=record.transform,
            metadata=record.metadata,
        )


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
