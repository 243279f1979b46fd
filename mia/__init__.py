"""mia: learn which attention heads of a transformer link the tokens of two texts.

A notebook session::

    from mia import load_model, generated_data, train_detector, rank_heads

    model = load_model("minilm")
    detector = train_detector(model, generated_data(seed=0))   # fit, measured on held-out pairs, heads described
    detector.detect(model, "It rained. We stayed in.", "We stayed in. It rained.").links  # decoded word links
    head_summaries(detector, top=10)        # heads by their own held-out AUC, with intervals and head types
    report_page(detector, model, pairs=[...])  # the report page; displays inline in Jupyter
    search_documents(read_documents("essays/"), workers=2).to_pandas()  # reused passages across documents
"""

from mia._version import __version__
from mia.detector.candidates import CandidateOptions
from mia.detector.data import TrainingData, generated_data, pair_file_data
from mia.detector.detection import Detection, Link, Phrase, TokenLink
from mia.detector.detector import Detector
from mia.detector.training import TrainOptions, fit_detector
from mia.errors import MiaError
from mia.evaluate.evaluation import Evaluation, evaluate_detector
from mia.evaluate.string_match import baseline_scores
from mia.heads.ablation import AblationOptions, ablate
from mia.heads.description import DescribeOptions, describe_heads
from mia.heads.examples import head_examples
from mia.heads.ranking import HeadSummary, HeadWeight, head_summaries, rank_heads
from mia.heads.stability import compare_detectors
from mia.models.attention import AttentionModel, FeatureLayout, load_model
from mia.models.blocks import PairFeatures
from mia.report.html import render_html, report_page
from mia.report.plot import plot_heads
from mia.search.documents import Document, read_documents
from mia.search.search import SearchOptions, SearchResult, search_documents
from mia.text.corpus import default_corpus_path, read_paragraphs, split_sentences
from mia.text.pairs import Pair, generate_pairs, read_pairs, token_labels, write_pairs
from mia.workflow import train_detector

__all__ = [
    "__version__", "AblationOptions", "HeadSummary", "ablate", "compare_detectors", "head_examples", "head_summaries",
    "render_html", "report_page", "AttentionModel", "Detection", "Detector", "FeatureLayout", "HeadWeight",
    "MiaError", "Pair",
    "PairFeatures", "Phrase", "TokenLink", "TrainOptions", "TrainingData", "generated_data", "pair_file_data",
    "baseline_scores", "default_corpus_path", "generate_pairs", "load_model", "plot_heads", "rank_heads",
    "read_pairs", "read_paragraphs", "split_sentences", "token_labels", "train_detector", "write_pairs",
    "CandidateOptions", "Document", "SearchOptions", "SearchResult", "read_documents", "search_documents",
    "DescribeOptions", "fit_detector", "describe_heads", "Evaluation", "evaluate_detector", "Link",
]
