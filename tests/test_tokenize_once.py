"""Each text is tokenised once per run: a window is a range of its text's tokens, a window pair's model input is
assembled from token ids by the model family's rule, and that input is the one the tokenizer itself would make."""

from __future__ import annotations

import numpy as np
import pytest

from mia.alignment.windowed import plan_pair
from mia.detector.detector import Detector
from mia.models.encoding import strip_spans
from mia.text.corpus import read_paragraphs
from mia.text.pairs import Pair


class Calls:
    """Counts the calls of every tokenizer of a class while the test runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tokenizer: object) -> None:
        self.count = 0
        cls = type(tokenizer)
        original = cls.__call__

        def counting(inner: object, *args: object, **kwargs: object) -> object:
            self.count += 1
            return original(inner, *args, **kwargs)

        monkeypatch.setattr(cls, "__call__", counting)


@pytest.fixture(scope="module")
def long_pair() -> Pair:
    paragraphs = read_paragraphs()
    b = " ".join(paragraphs[60:72])
    a = " ".join(paragraphs[90:96]) + " " + " ".join(paragraphs[64:68])
    return Pair("long", a, b)


def test_a_windowed_pair_is_tokenised_once_per_text(minilm, long_pair, monkeypatch):
    detector = Detector.load("minilm-reuse")
    calls = Calls(monkeypatch, minilm.tokenizer)
    found = detector.detect(minilm, long_pair.a, long_pair.b, candidates="all")
    assert found.windows["window_pairs_run"] > 4 and found.links
    assert calls.count == 2  # A once, B once: every window pair's input is assembled from their ids
    calls.count = 0
    chosen = detector.detect(minilm, long_pair.a, long_pair.b)  # sentence candidates
    assert 0 < chosen.windows["window_pairs_run"] < found.windows["window_pairs_run"]
    assert calls.count == 2  # the sentences' embeddings are made from the same ids


def test_a_search_tokenises_each_document_once(minilm, monkeypatch):
    from mia.search.engine import WorkerSpec
    from mia.search.search import SearchOptions, build_index, open_engine, search
    from mia_testkit import plant_reuse

    documents, _ = plant_reuse(read_paragraphs(), documents=10, passages=3, words=120, noisy_share=0.0, seed=4)
    with open_engine(WorkerSpec("minilm-reuse", device="cpu")) as (engine, model):
        calls = Calls(monkeypatch, model.tokenizer)
        from mia.search.search import as_documents

        index, _ = build_index(as_documents([(d["id"], d["text"]) for d in documents]), engine, model)
        result = search(index, engine, options=SearchOptions())
    assert result.summary["window_pairs_scored"] > 0 and result.passages
    assert calls.count == len(documents)  # sentences embedded and window pairs scored from the stored ids


def reference(model, pair: Pair) -> tuple[dict, np.ndarray, np.ndarray]:
    """The pair as the tokenizer encodes the two texts itself (encoder-only models)."""
    enc = model.tokenizer(pair.a, pair.b, return_offsets_mapping=True, truncation=False, verbose=False,
                          split_special_tokens=True)
    sequence, offsets = enc.sequence_ids(0), enc["offset_mapping"]
    return ({k: list(v) for k, v in enc.items() if k != "offset_mapping"},
            strip_spans(pair.a, [offsets[i] for i, s in enumerate(sequence) if s == 0]),
            strip_spans(pair.b, [offsets[i] for i, s in enumerate(sequence) if s == 1]))


def test_window_pair_inputs_are_what_the_tokenizer_makes_of_the_window_texts(minilm, long_pair):
    planned = plan_pair(minilm, long_pair)
    assert planned.whole is None
    for i, j in planned.window_pairs:
        item = minilm.assemble(planned.sub_pair(i, j), *planned.window_tokens(i, j))
        inputs, a_spans, b_spans = reference(minilm, item.pair)
        assert item.inputs == inputs
        assert np.array_equal(item.a_spans, a_spans) and np.array_equal(item.b_spans, b_spans)
        ids = np.array(item.inputs["input_ids"])
        assert ids[item.a_positions].tolist() == planned.window_tokens(i, j)[0].ids.tolist()


def test_encoder_decoder_inputs_are_each_side_encoded_alone(tiny_bart):
    pair = Pair("p", "It rained all day. We stayed in.", "We stayed in, as it rained all day.")
    item = tiny_bart.encode(pair)
    for key, text in (("decoder_input_ids", pair.a), ("input_ids", pair.b)):
        assert item.inputs[key] == list(tiny_bart.tokenizer(text, split_special_tokens=True)["input_ids"])
    assert item.inputs["attention_mask"] == [1] * len(item.inputs["input_ids"])
