"""mia: learn which attention heads of a transformer link the tokens of two texts.

A notebook session::

    from mia import load_model, generated_data, train_detector, rank_heads

    model = load_model("minilm")
    detector = train_detector(model, generated_data(seed=0))
    detector.detect(model, "It rained. We stayed in.", "We stayed in. It rained.").phrases
    rank_heads(detector, top=10)
"""

from mia._version import __version__
from mia.detector.data import TrainingData, generated_data, pair_file_data
from mia.detector.detection import Detection, Phrase, TokenLink
from mia.detector.detector import Detector
from mia.detector.training import TrainOptions, train_detector
from mia.errors import MiaError
from mia.evaluate.string_match import baseline_scores
from mia.heads.ranking import HeadWeight, rank_heads
from mia.models.attention import AttentionModel, FeatureLayout, PairFeatures, load_model
from mia.report.plot import plot_heads
from mia.text.corpus import default_corpus_path, read_paragraphs, split_sentences
from mia.text.pairs import Pair, generate_pairs, read_pairs, token_labels, write_pairs

__all__ = [
    "__version__", "AttentionModel", "Detection", "Detector", "FeatureLayout", "HeadWeight", "MiaError", "Pair",
    "PairFeatures", "Phrase", "TokenLink", "TrainOptions", "TrainingData", "generated_data", "pair_file_data",
    "baseline_scores", "default_corpus_path", "generate_pairs", "load_model", "plot_heads", "rank_heads",
    "read_pairs", "read_paragraphs", "split_sentences", "token_labels", "train_detector", "write_pairs",
]
