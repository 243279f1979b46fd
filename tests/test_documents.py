"""Documents as people have them: PAN's files in and out, sentence candidates choosing window pairs, passages, and
``evaluate`` in PAN's measures, on small PAN-like fixtures made here (the PAN corpus itself is not needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mia.cli import main
from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.text.corpus import read_paragraphs
from mia.text.pairs import Pair, read_pairs
from mia.text.pan_files import pan_xml, parse_annotation, read_pan

PARAGRAPHS = read_paragraphs()


def document(first: int, count: int) -> str:
    return "\n\n".join(PARAGRAPHS[first : first + count])


@pytest.fixture(scope="module")
def pan_corpus(tmp_path_factory) -> Path:
    """A PAN-like corpus: two suspicious documents (about 900 words each), three sources; one passage of a source
    copied verbatim into each suspicious document, at PAN's offsets; a listed pair without plagiarism."""
    root = tmp_path_factory.mktemp("pan")
    for folder in ("susp", "src", "annotations"):
        (root / folder).mkdir()
    sources = {"source-document00001.txt": document(100, 8), "source-document00002.txt": document(130, 8),
               "source-document00003.txt": document(160, 8)}
    for name, text in sources.items():
        (root / "src" / name).write_text(text, encoding="utf-8")
    plan = [("suspicious-document00001.txt", "source-document00001.txt", 10), ("suspicious-document00002.txt",
                                                                                "source-document00002.txt", 40)]
    for suspicious, source, first in plan:
        text = sources[source]
        start = text.index(". ", 200) + 2
        passage = text[start : text.index(". ", start + 400) + 1]
        host = document(first, 10)
        cut = host.index("\n\n", len(host) // 2) + 2
        suspicious_text = host[:cut] + passage + "\n\n" + host[cut:]
        (root / "susp" / suspicious).write_text(suspicious_text, encoding="utf-8")
        xml = (f'<document reference="{suspicious}">\n<feature name="plagiarism" type="artificial" '
               f'obfuscation="none" this_offset="{cut}" this_length="{len(passage)}" source_reference="{source}" '
               f'source_offset="{start}" source_length="{len(passage)}" />\n</document>\n')
        (root / "annotations" / f"{Path(suspicious).stem}-{Path(source).stem}.xml").write_text(xml)
    (root / "pairs").write_text("suspicious-document00001.txt source-document00001.txt\n"
                                "suspicious-document00002.txt source-document00002.txt\n"
                                "suspicious-document00001.txt source-document00003.txt\n")
    return root


def test_import_pan_reads_passages_at_their_offsets(pan_corpus, tmp_path, capsys):
    out = tmp_path / "pan.jsonl"
    assert main(["import-pan", "--annotations", str(pan_corpus / "annotations"), "--suspicious",
                 str(pan_corpus / "susp"), "--sources", str(pan_corpus / "src"), "--pairs",
                 str(pan_corpus / "pairs"), "--out", str(out)]) == 0
    pairs = read_pairs(out)
    assert [p.id for p in pairs] == ["suspicious-document00001-source-document00001",
                                     "suspicious-document00002-source-document00002",
                                     "suspicious-document00001-source-document00003"]
    for pair in pairs[:2]:
        ((a0, a1, b0, b1),) = pair.links
        assert pair.a[a0:a1] == pair.b[b0:b1] and a1 - a0 > 300  # the copied passage, where PAN says it is
        assert pair.names == (pair.id.split("-source")[0] + ".txt", "source" + pair.id.split("-source")[1] + ".txt")
    assert pairs[2].links == ()  # listed, not annotated: nothing to find there
    assert "3 document pairs" in capsys.readouterr().err


def test_pan_xml_round_trip_and_refusals(tmp_path):
    xml = pan_xml("suspicious-document00001.txt", [("source-document00001.txt", 10, 50, 0, 40)]).encode()
    assert parse_annotation(xml, "x") == ("suspicious-document00001.txt", [("source-document00001.txt", 10, 40, 0,
                                                                             40)])
    bomb = b'<!DOCTYPE d [<!ENTITY a "aaaa">]><document reference="s.txt">&a;</document>'
    with pytest.raises(MiaError, match="document type or entities"):
        parse_annotation(bomb, "bomb.xml")
    with pytest.raises(MiaError, match="not valid XML"):
        parse_annotation(b"<document", "broken.xml")
    bad = b'<document reference="s.txt"><feature name="plagiarism" this_offset="-3" this_length="4" ' \
          b'source_reference="r.txt" source_offset="0" source_length="4"/></document>'
    with pytest.raises(MiaError, match="from 0"):
        parse_annotation(bad, "bad.xml")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: f'<document reference="s.txt">{t}</document>'
                                                            .encode("utf-8", "surrogatepass")))
def test_mutated_pan_xml_is_an_error_or_features(data):
    try:
        reference, features = parse_annotation(data, "x.xml")
    except MiaError:
        return
    assert isinstance(reference, str) and reference
    assert all(isinstance(f[0], str) and all(isinstance(v, int) and v >= 0 for v in f[1:]) for f in features)


def test_a_passage_outside_its_document_is_an_error(pan_corpus, tmp_path):
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    (annotations / "x.xml").write_text('<document reference="suspicious-document00001.txt"><feature '
                                       'name="plagiarism" this_offset="0" this_length="99999999" '
                                       'source_reference="source-document00001.txt" source_offset="0" '
                                       'source_length="5"/></document>')
    with pytest.raises(MiaError, match="outside the documents"):
        read_pan(annotations, pan_corpus / "susp", pan_corpus / "src")
    (annotations / "x.xml").write_text('<document reference="../../etc/passwd"><feature name="plagiarism" '
                                       'this_offset="0" this_length="1" source_reference="source-document00001.txt" '
                                       'source_offset="0" source_length="1"/></document>')
    with pytest.raises(MiaError, match="not a plain file name"):
        read_pan(annotations, pan_corpus / "susp", pan_corpus / "src")


@pytest.fixture(scope="module")
def pan_pairs(pan_corpus) -> list[Pair]:
    return read_pan(pan_corpus / "annotations", pan_corpus / "susp", pan_corpus / "src",
                    pairs_file=pan_corpus / "pairs")


def test_sentence_candidates_score_few_window_pairs_and_find_the_passage(pan_pairs, minilm):
    detector = Detector.load("minilm-reuse")
    pair = pan_pairs[0]
    chosen = detector.detect(minilm, pair.a, pair.b)
    everything = detector.detect(minilm, pair.a, pair.b, candidates="all")
    windows = chosen.windows
    assert windows["candidates"] == "sentences" and windows["window_pairs_all"] > windows["window_pairs_run"] >= 1
    assert windows["candidate_counts"]["sentence_pairs"]["shingles"] >= 3  # the copied sentences
    ((a0, a1, b0, b1),) = pair.links
    for found in (chosen, everything):
        covering = [p for p in found.passages if p.a_start <= a0 + 20 and p.a_end >= a1 - 20]
        assert covering and covering[0].b_start <= b0 + 20 and covering[0].b_end >= b1 - 20


def test_detect_writes_pan_xml_and_evaluate_scores_it(pan_corpus, pan_pairs, tmp_path, capsys):
    pairs_file = tmp_path / "pan.jsonl"
    pairs_file.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in pan_pairs))
    out = tmp_path / "detections"
    assert main(["detect", "--pairs", str(pairs_file), "--format", "pan", "--out", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["suspicious-document00001.xml", "suspicious-document00002.xml"]
    detections = [(ref, *f) for path in out.iterdir() for ref, fs in [parse_annotation(path.read_bytes(), "x")]
                  for f in fs]
    assert {d[1] for d in detections} <= {"source-document00001.txt", "source-document00002.txt",
                                          "source-document00003.txt"}
    assert main(["detect", "--pairs", str(pairs_file), "--format", "pan", "--out", str(out)]) == 2  # not empty now
    capsys.readouterr()
    assert main(["evaluate", "--pairs", str(pairs_file), "--gold", "passages", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    mine = result["scorers"]["detector"]
    assert result["cases"] == 2 and mine["recall"] > 0.9 and mine["granularity"] == 1.0
    assert set(result["scorers"]) == {"detector", "word 8-gram seeds, merged within 250 chars",
                                      "tf-idf sentence seeds (after Sanchez-Perez 2014)"}
    assert result["window_pairs_run"] < result["window_pairs_all"]
    # the passages evaluate scored are the ones detect wrote
    from mia.evaluate.pan_measures import pan_scores

    by_name = {p.names[0]: p for p in pan_pairs}
    written = [(f"{Path(ref).stem}-{Path(src).stem}", a0, a0 + la, b0, b0 + lb) for ref, src, a0, la, b0, lb in
               detections if by_name[ref]]
    cases = [(p.id, *link) for p in pan_pairs for link in p.links]
    assert pan_scores(cases, written).plagdet == pytest.approx(mine["plagdet"])


def test_the_passage_rule_drops_short_phrases_before_merging():
    from mia.alignment.passages import PassageRule, merge_passages

    copy = (1000, 1300, 5000, 5300, 50, 0.95)
    stray = (1350, 1356, 5390, 5396, 1, 0.3)  # one word linked to the same word just after the copy
    wide = merge_passages([copy, stray], PassageRule(min_words=1, min_longest=1))
    assert [(p.a_end, p.b_end) for p in wide] == [(1356, 5396)]
    tight = merge_passages([copy, stray], PassageRule(min_words=1, min_longest=1, min_phrase=2))
    assert [(p.a_end, p.b_end) for p in tight] == [(1300, 5300)]


def test_document_baselines_find_a_verbatim_copy(pan_pairs):
    from mia.evaluate.document_baselines import ngram_passages, tfidf_passages

    pair = pan_pairs[1]
    ((a0, a1, b0, b1),) = pair.links
    for found in (ngram_passages(pair.a, pair.b), tfidf_passages(pair.a, pair.b)):
        assert any(p[0] <= a0 + 60 and p[1] >= a1 - 60 and abs(p[2] - b0) < 60 for p in found)
    assert ngram_passages("one two three four five six seven eight", "nine ten eleven") == []
    assert np.isfinite(len(tfidf_passages("", "")))


def test_an_edited_document_embeds_only_its_new_sentences(pan_pairs, minilm, monkeypatch):
    """An obfuscated copy of a suspicious document shares most sentences with the document: only the edited ones are
    embedded again, and the passages are those a fresh cache gives."""
    import mia.models.embedding as embedding
    from mia.models.embedding_cache import EmbeddingCache

    detector = Detector.load("minilm-reuse")
    pair = pan_pairs[0]
    embedded: list[int] = []
    real = embedding.embed_tokens

    def counting(model, texts, **kwargs):
        embedded.append(len(texts))
        return real(model, texts, **kwargs)

    monkeypatch.setattr(embedding, "embed_tokens", counting)
    monkeypatch.setattr(minilm, "sentence_embeddings", EmbeddingCache())
    detector.detect(minilm, pair.a, pair.b)
    first = sum(embedded)
    middle = pair.a.index(" the ", len(pair.a) // 3)
    edited = pair.a[:middle] + " a " + pair.a[middle + 5 :]  # one word changed in one sentence
    embedded.clear()
    cached = detector.detect(minilm, edited, pair.b)
    assert first > 20 and 1 <= sum(embedded) <= 2
    monkeypatch.setattr(minilm, "sentence_embeddings", EmbeddingCache())
    fresh = detector.detect(minilm, edited, pair.b)
    assert [(p.a_start, p.a_end, p.b_start, p.b_end) for p in cached.passages] == [
        (p.a_start, p.a_end, p.b_start, p.b_end) for p in fresh.passages]
    assert cached.passages


def test_a_floor_chosen_for_documents_decodes_window_pairs_only(pan_pairs, minilm, tmp_path):
    import shutil

    from mia.detector.folder import shipped_folder

    folder = tmp_path / "floor"
    shutil.copytree(shipped_folder() / "minilm-reuse", folder)
    record = json.loads((folder / "detector.json").read_text())
    record.setdefault("documents", {})["argmax_floor"] = 0.9
    (folder / "detector.json").write_text(json.dumps(record))
    strict, default = Detector.load(folder), Detector.load("minilm-reuse")
    assert strict.document_floor == 0.9 and default.document_floor == 0.05
    pair = pan_pairs[0]
    every_link = default.passages(min_outside=1)  # the floor alone: no links left out beside passages
    high = strict.detect(minilm, pair.a, pair.b, passages=every_link)
    low = default.detect(minilm, pair.a, pair.b, passages=every_link)
    assert high.windows is not None and (high.floor, low.floor) == (0.9, 0.05)
    assert high.to_dict()["floor"] == 0.9
    # a mutual best pair stays one among fewer candidates: the strict links are exactly the loose ones >= 0.9
    assert {(k.a_word, k.b_word) for k in high.links} == {(k.a_word, k.b_word) for k in low.links
                                                          if k.probability >= 0.9}
    assert len(high.links) < len(low.links)
    a, b = "It rained all day. We stayed in and read.", "We stayed in and read. It rained all day."
    whole_strict, whole_default = strict.detect(minilm, a, b), default.detect(minilm, a, b)
    assert whole_strict.floor == 0.05 and whole_strict.links == whole_default.links  # a pair that fits: unchanged

    for bad in (0, 1.5, "high", True):
        record["documents"]["argmax_floor"] = bad
        (folder / "detector.json").write_text(json.dumps(record))
        with pytest.raises(MiaError, match="argmax_floor"):
            Detector.load(folder)


def test_window_pairs_print_the_links_of_passages_and_of_long_phrases(pan_pairs, minilm, tmp_path):
    import shutil

    from mia.alignment.detection import within_passage
    from mia.detector.folder import shipped_folder
    from mia.errors import DetectorFileError

    detector = Detector.load("minilm-reuse")
    pair = pan_pairs[0]
    every = detector.detect(minilm, pair.a, pair.b, passages=detector.passages(min_outside=1))
    kept = detector.detect(minilm, pair.a, pair.b, passages=detector.passages(min_outside=6))
    assert not every.windows["whole"] and (every.min_outside, kept.min_outside) == (1, 6)
    assert kept.passages == every.passages and kept.passages  # the passages do not change
    assert kept.phrases == [p for p in every.phrases if p.words >= 6 or within_passage(p, every.passages)]
    assert set(kept.links) < set(every.links) and sum(p.words for p in kept.phrases) == len(kept.links)
    assert all(any(p.a_start <= k.a_start and k.a_end <= p.a_end and p.b_start <= k.b_start and k.b_end <= p.b_end
                   for p in kept.phrases) for k in kept.links)
    (a0, a1, b0, b1), = pair.links  # the copied passage: what is left out lies mostly outside it

    def copied(links):
        return np.mean([a0 <= k.a_start < a1 and b0 <= k.b_start < b1 for k in links])

    assert copied(kept.links) > copied(every.links) and copied(set(every.links) - set(kept.links)) < 0.5
    assert kept.to_dict()["outside_passages"] == "links in phrases of >= 6 linked words"
    assert "outside_passages" not in every.to_dict()
    # the detector's own rule is the default; a pair that fits the model prints every link
    assert detector.passage_rule.min_outside > 1
    assert detector.detect(minilm, pair.a, pair.b).min_outside == detector.passage_rule.min_outside
    a, b = "It rained all day. We stayed in and read.", "We stayed in and read. It rained all day."
    whole = detector.detect(minilm, a, b)
    assert whole.min_outside == 1 and whole.links == detector.detect(
        minilm, a, b, passages=detector.passages(min_outside=1)).links

    folder = tmp_path / "outside"
    shutil.copytree(shipped_folder() / "minilm-reuse", folder)
    record = json.loads((folder / "detector.json").read_text())
    for bad in (-1, 2.5, "7", True):
        record["documents"]["passages"]["min_outside_phrase_words"] = bad
        (folder / "detector.json").write_text(json.dumps(record))
        with pytest.raises(DetectorFileError, match="min_outside_phrase_words"):
            Detector.load(folder)
