"""mia: learn which attention heads of a transformer link the tokens of two texts.

A notebook session (this example runs as a doctest: ``tests/test_api.py``)::

    >>> from mia import Detector, head_summaries
    >>> detector = Detector.load("minilm-reuse")        # a shipped detector, by name (or a folder `train` wrote)
    >>> model = detector.load_model(device="cpu")       # the model it reads: the packaged all-MiniLM-L6-v2
    >>> found = detector.detect(model, "It rained. We stayed in.", "We stayed in. It rained.")
    >>> [phrase.a_text for phrase in found.phrases]     # built from the decoded word links (found.links)
    ['It rained.', 'We stayed in.']
    >>> [head.name for head in head_summaries(detector, top=3)]  # heads by their own held-out AUC
    ['L2H9', 'L1H1', 'L3H5']

Training a detector of your own takes a minute or two on a CPU (``python -m mia train`` does the same)::

    >>> from mia import generated_data, load_model, train_detector
    >>> mine = train_detector(load_model("minilm"), generated_data(seed=0))  # doctest: +SKIP

Then ``mine.save(folder)``, ``evaluate_detector``, ``report_page(mine, model, pairs=...)`` and, with the ``search``
extra, ``search_documents(read_documents("essays/"))``. Everything else is importable from its module.
"""

from mia._version import __version__
from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.evaluate.evaluation import evaluate_detector
from mia.heads.ablation import ablate
from mia.heads.description import describe_heads
from mia.heads.examples import head_examples
from mia.heads.ranking import head_summaries, rank_heads
from mia.heads.stability import compare_detectors
from mia.models.attention import load_model
from mia.report.html import report_page
from mia.search.collection import read_documents
from mia.search.search import search_documents
from mia.text.pairs import Pair, read_pairs, write_pairs
from mia.training.data import generated_data
from mia.training.training import fit_detector
from mia.workflow import train_detector

__all__ = [  # what a notebook needs; the rest (types, options, lower steps) is imported from its module
    "__version__", "MiaError", "load_model", "Pair", "read_pairs", "write_pairs", "generated_data", "train_detector",
    "fit_detector", "Detector", "evaluate_detector", "describe_heads", "head_summaries", "rank_heads",
    "compare_detectors", "ablate", "head_examples", "report_page", "read_documents", "search_documents",
]
