"""The corpus commands: ``index`` and ``search`` (their options, parsing, one library call, printing)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from mia.alignment.sentence_candidates import CandidateOptions
from mia.cli.common import progress, require_extra, say, threads_capped, workers_capped
from mia.cli.options import (
    DETECTOR_HELP,
    DEVICE_HELP,
    PASSAGE_HELP,
    ReadsFiles,
    option,
)
from mia.cli.values import positive, probability, share, whole_number_in
from mia.detector.folder import DEFAULT_DETECTOR
from mia.errors import MiaError
from mia.search.collection_candidates import INDEX_SETTING_RANGES

DEFAULTS = CandidateOptions()
DOCS_HELP = "a folder of .txt files (the id is the file name without .txt) or a JSONL file with id and text"
ENGINE_HELP = "local (worker processes on this machine, default) or ray (a pool of Ray actors)"
WORKERS_HELP = "workers, each loading the model once (default 1; local: at most the cores here)"
THREADS_HELP = "torch threads per worker (default 1; workers x threads at most the cores here, but on --address)"
SHINGLE_RANGE, NUM_PERM_RANGE = INDEX_SETTING_RANGES["shingle"], INDEX_SETTING_RANGES["num_perm"]
SHINGLE_HELP = (f"words per shingle, {SHINGLE_RANGE[0]} to {SHINGLE_RANGE[1]} (default {DEFAULTS.shingle}; an "
                "existing index keeps its own, and another value is an error)")
NUM_PERM_HELP = (f"MinHash permutations, {NUM_PERM_RANGE[0]} to {NUM_PERM_RANGE[1]} (default {DEFAULTS.num_perm}; an "
                 "existing index keeps its own, and another value is an error)")


def families(value: str) -> tuple[str, ...]:
    import argparse

    from mia.alignment.sentence_candidates import FAMILIES

    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"give one or more of {', '.join(FAMILIES)}, separated by commas")
    return names


@dataclass
class IndexConfig(ReadsFiles):
    """Build a search index of documents (windows, sentence MinHash signatures and embeddings), or add documents to
    an existing one; nothing already indexed is computed again."""

    docs: str = option(help=DOCS_HELP)
    out: str = option(help="the index folder: new or empty (built), or an index (the new documents are added)")
    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP + " (names the model)")
    engine: Literal["local", "ray"] = option("local", ENGINE_HELP)
    workers: int = option(1, WORKERS_HELP, type=positive)
    threads: int = option(1, THREADS_HELP, type=positive)
    address: str | None = option(None, "--engine ray: the cluster to join (default: start a local one)")
    shingle: int | None = option(None, SHINGLE_HELP, type=whole_number_in(*SHINGLE_RANGE))
    num_perm: int | None = option(None, NUM_PERM_HELP, type=whole_number_in(*NUM_PERM_RANGE))
    device: str = option("auto", DEVICE_HELP)


@dataclass
class SearchConfig(ReadsFiles):
    """Find the passages of documents reused in other documents (in any order, also with words changed): candidate
    window pairs by MinHash LSH and embedding neighbours, only those scored by the detector, phrases merged into
    passages. Writes JSONL, or Parquet for a name ending in .parquet, and a summary beside it."""

    out: str = option(help="results file: .jsonl, or .parquet")
    docs: str | None = option(None, DOCS_HELP + " (with --index: added to the index's documents for this search)")
    index: str | None = option(None, "an index built by `mia index` (its documents are searched)")
    against: str | None = option(None, "other documents: compare each of --docs/--index with each of these only")
    summary: str | None = option(None, "where to write the summary JSON (default: OUT.summary.json)")
    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    engine: Literal["local", "ray"] = option("local", ENGINE_HELP)
    workers: int = option(1, WORKERS_HELP, type=positive)
    threads: int = option(1, THREADS_HELP, type=positive)
    address: str | None = option(None, "--engine ray: the cluster to join (default: start a local one)")
    families: str = option("shingles,embeddings", "candidate families, comma-separated (default: both)",
                           type=families)
    shingle: int | None = option(None, SHINGLE_HELP + " (with --index: the index's own)",
                                 type=whole_number_in(*SHINGLE_RANGE))
    num_perm: int | None = option(None, NUM_PERM_HELP + " (with --index: the index's own)",
                                  type=whole_number_in(*NUM_PERM_RANGE))
    lsh_threshold: float = option(DEFAULTS.lsh_threshold, "shingles: Jaccard similarity the LSH is tuned for "
                                  f"(default {DEFAULTS.lsh_threshold})", type=share)
    min_words: int = option(DEFAULTS.min_words, f"shingles: shortest sentence taken, in words (default "
                            f"{DEFAULTS.min_words})", type=positive)
    neighbours: int = option(DEFAULTS.neighbours, "embeddings: nearest sentences per sentence (default "
                             f"{DEFAULTS.neighbours})", type=positive)
    min_similarity: float = option(DEFAULTS.min_similarity, "embeddings: cosine a neighbour needs (default "
                                   f"{DEFAULTS.min_similarity})", type=share)
    mutual_similarity: float = option(DEFAULTS.mutual_similarity, "embeddings: cosine mutual nearest neighbours "
                                      f"need (default {DEFAULTS.mutual_similarity})", type=share)
    gap: int | None = option(None, PASSAGE_HELP["gap"], type=positive)
    min_passage_words: int | None = option(None, PASSAGE_HELP["min_words"], type=positive)
    min_longest_phrase: int | None = option(None, PASSAGE_HELP["min_longest"], type=positive)
    threshold: float | None = option(None, "link probability threshold (default: the detector's)", type=probability)
    device: str = option("auto", DEVICE_HELP)


def engine_settings(config: IndexConfig | SearchConfig) -> dict[str, Any]:
    """The engine options; workers and threads capped here (and said) unless they run on a cluster given by
    ``--address``."""
    workers = config.workers if config.address else workers_capped(config.workers, "--workers")
    threads = config.threads if config.address else threads_capped(workers, config.threads)
    return {"engine": config.engine, "workers": workers, "address": config.address, "threads": threads}


def check_engine(config: IndexConfig | SearchConfig) -> None:
    """Before any work: the engine's package, the device (so that no worker is started for a device that is not
    here), and an address only with Ray."""
    from mia.models.loading import pick_device
    from mia.search.engine import check_ray_address

    if config.engine == "ray":
        require_extra("ray", "--engine ray")
        if config.address:
            check_ray_address(config.address)
    elif config.address:
        raise MiaError("--address is for --engine ray")
    pick_device(config.device)


def start(config: IndexConfig | SearchConfig) -> Any:
    """The engine and the model, started (a context manager)."""
    from mia.search.engine import WorkerSpec
    from mia.search.search import open_engine

    settings = engine_settings(config)
    spec = WorkerSpec(config.detector, threshold=getattr(config, "threshold", None), device=config.device,
                      threads=settings.pop("threads"))
    return open_engine(spec, **settings)


def run_index(config: IndexConfig) -> int:
    from mia.io import check_not_input
    from mia.search.collection import read_documents
    from mia.search.collection_candidates import check_candidate_options
    from mia.search.index import check_index_destination, check_settings, load_index, save_index, tidy_index
    from mia.search.search import build_index

    check_not_input(config.out, {"--docs": config.docs})
    existing = load_index(config.out, "--out") if check_index_destination(config.out) else None
    given = {"shingle": config.shingle, "num_perm": config.num_perm}
    if existing is not None:
        check_settings(existing, given)
    require_extra("datasketch", "mia index (MinHash signatures)")
    options = replace(DEFAULTS, shingle=config.shingle or DEFAULTS.shingle,
                      num_perm=config.num_perm or DEFAULTS.num_perm)
    check_candidate_options(options)  # the settings every later search takes from this index, before any work
    check_engine(config)
    documents = read_documents(config.docs)
    with start(config) as (engine, model):
        index, added = build_index(documents, engine, model, options=options, index=existing, progress=progress)
    if added or existing is None:
        save_index(index, config.out)
    else:
        tidy_index(index, config.out)
    say(f"index {config.out}: {added} documents added, {len(documents) - added} already there; "
        f"{len(index.documents)} documents, {len(index.windows)} windows, {len(index.sentences)} sentences")
    return 0


def check_search_outputs(config: SearchConfig) -> tuple[str, str]:
    """Before any work: ``--out`` and ``--summary`` (default ``OUT.summary.json``) can be written, differ, and are none
    of the inputs; the extras the chosen families and output need are installed. Returns both paths."""
    from mia.detector.folder import resolve_detector
    from mia.io import check_not_input, check_output_file

    out = str(config.out)
    if not out.endswith((".jsonl", ".parquet")):
        raise MiaError("--out must end in .jsonl or .parquet")
    summary_path = config.summary or out + ".summary.json"
    check_output_file(out)
    check_output_file(summary_path, "--summary")
    if config.docs is None and config.index is None:
        raise MiaError("give --docs, --index or both")
    if Path(summary_path).resolve() == Path(out).resolve():
        raise MiaError("--summary and --out name the same file")
    detector = resolve_detector(config.detector)
    for path, flag in ((out, "--out"), (summary_path, "--summary")):
        check_not_input(path, {"--docs": config.docs, "--against": config.against},
                        folders={"--index": config.index, "--detector": detector if detector.is_dir() else None},
                        flag=flag)
    for module, family in (("datasketch", "shingles"), ("faiss", "embeddings")):
        if family in config.families:
            require_extra(module, f"the {family} candidate family")
    if out.endswith(".parquet"):
        require_extra("pyarrow", "a .parquet --out")
    return out, summary_path


def run_search(config: SearchConfig) -> int:
    from mia.detector.detector import Detector
    from mia.io import write_atomic
    from mia.search.collection import read_documents
    from mia.search.collection_candidates import check_candidate_options
    from mia.search.index import check_settings, index_options, load_index
    from mia.search.results_file import write_results
    from mia.search.search import SearchOptions, build_index, search

    out, summary_path = check_search_outputs(config)
    families = tuple(config.families)
    check_engine(config)
    index = load_index(config.index) if config.index else None
    given = {"shingle": config.shingle, "num_perm": config.num_perm}
    if index is not None:
        check_settings(index, given)
    candidates = CandidateOptions(
        families=families,  # type: ignore[arg-type]
        lsh_threshold=config.lsh_threshold, min_words=config.min_words, neighbours=config.neighbours,
        min_similarity=config.min_similarity, mutual_similarity=config.mutual_similarity,
        shingle=config.shingle or DEFAULTS.shingle, num_perm=config.num_perm or DEFAULTS.num_perm)
    check_candidate_options(candidates if index is None else index_options(index, candidates))
    documents = read_documents(config.docs) if config.docs else []
    if index is not None:
        known = {d.id: d.digest for d in index.documents}
        changed = [d.id for d in documents if d.id in known and known[d.id] != d.digest]
        if changed:
            raise MiaError(f"--docs: document {changed[0]!r} is in the index with another text ({len(changed)} "
                           "such); give changed documents new ids")
    others = read_documents(config.against, flag="--against") if config.against else None
    if others is not None:
        ours = {d.id for d in documents} | set(index.ids if index is not None else ())
        clash = sorted(ours & {d.id for d in others})
        if clash:
            raise MiaError(f"document id {clash[0]!r} is in both --docs/--index and --against ({len(clash)} such); "
                           "ids must differ")
    rule = Detector.load(config.detector).passages(gap=config.gap, min_words=config.min_passage_words,
                                                   min_longest=config.min_longest_phrase)
    options = SearchOptions(candidates=candidates, rule=rule)
    with start(config) as (engine, model):
        index, _ = build_index(documents, engine, model, options=candidates, index=index, progress=progress)
        against = None if others is None else build_index(
            others, engine, model, options=index_options(index, candidates), progress=progress)[0]
        result = search(index, engine, against=against, options=options, progress=progress)
    written = write_results(result.passages, out, result.summary)
    write_atomic([json.dumps(result.summary, indent=1)], summary_path)
    counts = result.summary
    say(f"wrote {written} passages to {out} (summary: {summary_path}); {counts['window_pairs_scored']} window pairs "
        f"scored of {counts['candidates']['window_pairs_without_candidates']} without candidates"
        + (f", {counts['window_pair_errors']} could not be scored" if counts["window_pair_errors"] else ""))
    return 0
