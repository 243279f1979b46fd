"""The detector: a standardised logistic regression over attention heads, saved without pickle.

Its folder (``detector.json`` and ``weights.npz``) is read and validated in :mod:`mia.detector.folder`; scoring
(the transform and the head sums) lives in :mod:`mia.detector.scoring`; what it finds in a pair in
:mod:`mia.alignment.detection`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mia.alignment.candidate_windows import Candidates
from mia.alignment.decoding import ARGMAX_FLOOR, DECODERS, Decode, decode_floor
from mia.alignment.detection import Detection, DetectionError, decoded
from mia.alignment.passages import PassageRule
from mia.alignment.windowed import DEFAULT_FLOOR, WindowScorer, plan_pair, sparse_scores
from mia.detector.card import DetectorCard
from mia.detector.folder import read_detector_folder, resolve_detector, write_detector_folder
from mia.detector.record import (
    FORMAT_VERSION,
    DetectorRecord,
    FeatureTransform,
    LayoutRecord,
    ModelRecord,
    weights_bytes,
)
from mia.detector.scoring import (
    HeadSums,
    iter_head_sums,
    probabilities_from_sums,
    sums_of_blocks,
    transform_features,
    weights_per_offset,
)
from mia.errors import MiaError
from mia.models.attention import AttentionModel, load_model
from mia.models.blocks import BlockSink, PairFeatures, SideReader
from mia.models.encoding import EncodedPair, unknown_cells
from mia.models.layout import FeatureLayout
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair
from mia.text.words import WordScheme


def kept_floor(decode: Decode, threshold: float, floor: float = DEFAULT_FLOOR) -> float:
    """The lowest probability a long pair's token pairs are kept from: ``floor``, lowered to what the decoding and
    the token links need (no word pair below it could be linked)."""
    return min(floor, decode_floor(decode, threshold), threshold)


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
    def card(self) -> DetectorCard:
        """What this detector records beyond its weights, typed (:mod:`mia.detector.card`)."""
        return DetectorCard.from_metadata(self.metadata)

    @property
    def decode(self) -> Decode:
        """The word alignment decoding this detector recommends (``threshold`` for detectors that record none; an
        unknown one is refused when the detector is loaded)."""
        return self.card.decode

    @property
    def document_floor(self) -> float:
        """The argmax decodings' floor for pairs that run as window pairs: the one chosen for this detector on
        document pairs (``documents.argmax_floor`` in its record, see ``benchmarks/choose_document_floor.py``), else
        mia's default (:data:`~mia.alignment.decoding.ARGMAX_FLOOR`, the floor of pairs that fit the model)."""
        return self.card.document_floor

    def floor_for(self, *, windowed: bool) -> float:
        """The argmax floor a pair is decoded with: :attr:`document_floor` when it runs as window pairs."""
        return self.document_floor if windowed else ARGMAX_FLOOR

    @property
    def passage_rule(self) -> PassageRule:
        """The gap rule and filter this detector's passages use: those chosen for it on documents (``documents`` in
        its record), else mia's defaults."""
        return self.card.passage_rule

    def passages(self, *, gap: int | None = None, min_words: int | None = None,
                 min_longest: int | None = None, min_outside: int | None = None) -> PassageRule:
        """The detector's passage rule with any of its settings replaced (None: keep the detector's)."""
        rule = self.passage_rule
        return PassageRule(gap=rule.gap if gap is None else gap,
                           min_words=rule.min_words if min_words is None else min_words,
                           min_longest=rule.min_longest if min_longest is None else min_longest,
                           min_phrase=rule.min_phrase,
                           min_outside=rule.min_outside if min_outside is None else min_outside)

    @property
    def raw_weights(self) -> np.ndarray:
        """Weights on the transformed (unstandardised) features: ``coef / scale``, float64 ``[F]``."""
        return self.coef / self.scale

    @property
    def raw_intercept(self) -> float:
        """Intercept on the transformed (unstandardised) features."""
        return float(self.intercept - np.dot(self.coef, self.mean / self.scale))

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """Log-odds of a link for attention features ``[..., F]`` (untransformed, as :attr:`PairFeatures.features`
        holds them: the detector applies its own transform); float32 ``[...]``."""
        if features.shape[-1] != self.layout.n_features:
            raise MiaError(
                f"features have {features.shape[-1]} columns but the detector expects {self.layout.n_features}"
            )
        weights = self.raw_weights.astype(np.float32)
        return transform_features(features, self.transform) @ weights + np.float32(self.raw_intercept)

    def link_probability(self, features: np.ndarray) -> np.ndarray:
        """Probability of a link for attention features ``[..., F]``; float32 ``[...]``."""
        z = self.decision_function(features)
        return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)

    def head_weights(self, device: Any = "cpu") -> Any:
        """The regression's weights on the transformed attention, float32 torch ``[offsets, heads_per_offset]``."""
        return weights_per_offset(self.raw_weights, self.layout, device)

    def probabilities(self, pair_features: PairFeatures) -> np.ndarray:
        """Probability of a link for every token pair of one pair: float32 ``[n_a, n_b]``, computed in torch on the
        head-major attention blocks."""
        blocks = pair_features.blocks
        if blocks.shape[0] != self.layout.heads_per_offset:
            raise MiaError(
                f"features have {blocks.shape[0]} heads but the detector expects {self.layout.heads_per_offset}"
            )
        return self.probabilities_from_sums(sums_of_blocks(blocks, self.head_weights(blocks.device), self.transform))

    def probabilities_from_sums(self, sums: Any) -> np.ndarray:
        """Probabilities ``[n_a, n_b]`` from per-offset head sums ``[offsets, n_a, n_b]``."""
        return probabilities_from_sums(sums, self.raw_weights, self.raw_intercept, self.layout, self.transform)

    def known_probabilities(self, model: AttentionModel, item: EncodedPair, sums: Any) -> np.ndarray:
        """:meth:`probabilities_from_sums` of ``item``, with 0 where an unknown token meets a different text
        (:func:`mia.models.encoding.unknown_cells`)."""
        probabilities = self.probabilities_from_sums(sums)
        cells = unknown_cells(item, getattr(model.tokenizer, "unk_token_id", None))
        if cells is not None:
            probabilities[cells] = 0.0
        return probabilities

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

    def load_model(self, *, device: str = "auto", model: str | None = None) -> AttentionModel:
        """Load the model this detector was trained on (or ``model``, which must be the same) and check it."""
        loaded = load_model(self.model_name if model is None else model, device=device)
        self.check_model(loaded)
        return loaded

    def window_scorer(self, model: AttentionModel) -> WindowScorer:
        """Probabilities of encoded window pairs (each scored as an ordinary pair: the detector is unchanged)."""
        weights = self.head_weights(model.device)

        def score(items: Sequence[EncodedPair]) -> list[np.ndarray]:
            sums = iter_head_sums(model, items, weights, self.transform, batch_size=len(items))
            return [self.known_probabilities(model, item, summed) for item, summed in sums]

        return score

    def probability_reader(self, model: AttentionModel, into: dict[str, np.ndarray]) -> SideReader:
        """A second reader of passes that make features: each pair's probabilities ``[n_a, n_b]`` as
        :meth:`window_scorer` makes them from the same pass (the same head sums of the same blocks), into
        ``into[pair id]`` once its pass is over."""
        weights = self.head_weights(model.device)
        pending: dict[int, HeadSums] = {}

        def sink_for(item: EncodedPair) -> BlockSink:
            sums = pending[id(item)] = HeadSums([item], weights, self.transform)
            return lambda index, block: sums(0, block)

        def finish(item: EncodedPair) -> None:
            sums = pending.pop(id(item), None)
            if sums is not None:
                into[item.pair.id] = self.known_probabilities(model, item, sums.sums[0])

        return SideReader(("pair",), sink_for, finish)

    def iter_detect(
        self,
        model: AttentionModel,
        pairs: Sequence[Pair | EncodedPair],
        *,
        threshold: float | None = None,
        decode: Decode | None = None,
        words: WordScheme = "regex",
        min_phrase_words: int = 1,
        batch_size: int = 1,
        candidates: Candidates = "sentences",
        passages: PassageRule | None = None,
        floor: float = DEFAULT_FLOOR,
        progress: Progress = no_progress,
    ) -> Iterator[Detection | DetectionError]:
        """Detect links in each pair, of any length; never stops at a bad pair.

        The links are the word pairs the detector's decoding (``decode``, default its own) links over ``words``
        words, and the phrases are built from them (:mod:`mia.alignment.detection`). A pair that fits the model is
        scored whole (the detector's head sums are taken while the model runs; no feature tensor is built). A longer
        pair runs as the window pairs its sentence candidates choose (:mod:`mia.alignment.candidate_windows`;
        ``candidates="all"``: every window pair), combined sparsely: token pairs at or above ``floor`` (lowered to
        what the decoding needs) are kept. Phrases are merged into passages by ``passages`` (default: the detector's
        rule, :attr:`passage_rule`; :mod:`mia.alignment.passages`); for a longer pair, links and phrases outside every
        passage are kept in phrases of at least its ``min_outside`` linked words.
        A pair that cannot be processed yields a :class:`DetectionError` and the next pair goes on. ``progress``
        is told of the window pairs of each pair run as window pairs.
        """
        self.check_model(model)
        threshold = self.threshold if threshold is None else threshold
        decode = self.decode if decode is None else decode
        if decode not in DECODERS:
            raise MiaError(f"unknown decoding {decode!r}: use one of {', '.join(DECODERS)}")
        kept = kept_floor(decode, threshold, floor)
        rule = self.passage_rule if passages is None else passages
        scorer = self.window_scorer(model)
        for item in pairs:
            pair = item.pair if isinstance(item, EncodedPair) else item
            try:
                planned = plan_pair(model, item, candidates=candidates)
                if planned.whole is not None:
                    probabilities: Any = scorer([planned.whole])[0]
                else:
                    probabilities = sparse_scores(planned, model, scorer, floor=kept, batch_size=batch_size,
                                                  progress=progress)
                windowed = planned.whole is None
                yield decoded(pair, probabilities, (planned.a_spans, planned.b_spans), threshold=threshold,
                              decode=decode, words=words, min_phrase_words=min_phrase_words,
                              windows=planned.settings(), passages=rule, floor=self.floor_for(windowed=windowed),
                              min_outside=rule.outside_for(windowed=windowed))
            except (MiaError, RuntimeError, ValueError) as error:
                yield DetectionError(pair, " ".join(str(error).split()) or type(error).__name__)

    def detect(
        self,
        model: AttentionModel,
        a: str,
        b: str,
        *,
        threshold: float | None = None,
        decode: Decode | None = None,
        words: WordScheme = "regex",
        min_phrase_words: int = 1,
        pair_id: str = "0",
        candidates: Candidates = "sentences",
        passages: PassageRule | None = None,
    ) -> Detection:
        """Detect which words of ``a`` and ``b`` (texts of any length) are the same piece of text."""
        found = next(self.iter_detect(model, [Pair(id=pair_id, a=a, b=b)], threshold=threshold, decode=decode,
                                      words=words, min_phrase_words=min_phrase_words, candidates=candidates,
                                      passages=passages))
        if isinstance(found, DetectionError):
            raise MiaError(found.error)
        return found

    # --- persistence --------------------------------------------------------------------------------------

    def record(self) -> DetectorRecord:
        """The typed record ``detector.json`` holds for this detector."""
        layout = self.layout
        return DetectorRecord(
            format=FORMAT_VERSION,
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
