"""The corpus commands: ``index`` and ``search`` (their options, parsing, one library call, printing)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mia.cli_common import progress, say, workers_capped
from mia.cli_options import DETECTOR_HELP, DEVICE_HELP, CommandConfig, option, positive, probability, share
from mia.detector.folder import DEFAULT_DETECTOR
from mia.errors import MiaError
from mia.search.candidates import CandidateOptions
from mia.search.passages import DEFAULT_GAP, DEFAULT_MIN_LONGEST, DEFAULT_MIN_TOKENS

DOCS_HELP = "a folder of .txt files (the id is the file name without .txt) or a JSONL file with id and text"
ENGINE_HELP = "local (worker processes on this machine, default) or ray (a pool of Ray actors)"
WORKERS_HELP = "workers, each loading the model once (default 1; local: at most the cores here)"
DEFAULTS = CandidateOptions()


def families(value: str) -> tuple[str, ...]:
    import argparse

    from mia.search.candidates import FAMILIES

    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"give one or more of {', '.join(FAMILIES)}, separated by commas")
    return names


@dataclass
class IndexConfig(CommandConfig):
    """Build a search index of documents (windows, sentence MinHash signatures and embeddings), or add documents to
    an existing one; nothing already indexed is computed again."""

    docs: str = option(help=DOCS_HELP)
    out: str = option(help="the index folder: new or empty (built), or an index (the new documents are added)")
    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP + " (names the model)")
    engine: Literal["local", "ray"] = option("local", ENGINE_HELP)
    workers: int = option(1, WORKERS_HELP, type=positive)
    threads: int = option(1, "torch threads per worker (default 1)", type=positive)
    address: str | None = option(None, "--engine ray: the cluster to join (default: start a local one)")
    shingle: int = option(DEFAULTS.shingle, f"words per shingle (default {DEFAULTS.shingle})", type=positive)
    num_perm: int = option(DEFAULTS.num_perm, f"MinHash permutations (default {DEFAULTS.num_perm})", type=positive)
    device: str = option("auto", DEVICE_HELP)


@dataclass
class SearchConfig(CommandConfig):
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
    threads: int = option(1, "torch threads per worker (default 1)", type=positive)
    address: str | None = option(None, "--engine ray: the cluster to join (default: start a local one)")
    families: str = option("shingles,embeddings", "candidate families, comma-separated (default: both)",
                           type=families)
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
    gap: int = option(DEFAULT_GAP, "passages: most characters between two phrases of one passage, on each side "
                      f"(default {DEFAULT_GAP})", type=positive)
    min_passage_tokens: int = option(DEFAULT_MIN_TOKENS, f"passages: fewest linked tokens (default "
                                     f"{DEFAULT_MIN_TOKENS})", type=positive)
    min_longest_phrase: int = option(DEFAULT_MIN_LONGEST, "passages: fewest tokens of the longest phrase (default "
                                     f"{DEFAULT_MIN_LONGEST})", type=positive)
    threshold: float | None = option(None, "link probability threshold (default: the detector's)", type=probability)
    device: str = option("auto", DEVICE_HELP)


def engine_settings(config: IndexConfig | SearchConfig) -> dict[str, Any]:
    """The engine options; workers capped here (and said) unless they run on a cluster given by ``--address``."""
    workers = config.workers if config.address else workers_capped(config.workers, "--workers")
    return {"engine": config.engine, "workers": workers, "address": config.address}


def worker_spec(config: IndexConfig | SearchConfig) -> Any:
    from mia.search.engine import WorkerSpec

    return WorkerSpec(config.detector, threshold=getattr(config, "threshold", None), device=config.device,
                      threads=config.threads)


def run_index(config: IndexConfig) -> int:
    from mia.search.documents import read_documents
    from mia.search.index import check_index_destination, load_index, save_index
    from mia.search.search import build_index, open_engine

    existing = load_index(config.out, "--out") if check_index_destination(config.out) else None
    documents = read_documents(config.docs)
    options = CandidateOptions(shingle=config.shingle, num_perm=config.num_perm)
    with open_engine(worker_spec(config), **engine_settings(config)) as (engine, model):
        index, added = build_index(documents, engine, model, options=options, index=existing, progress=progress)
    if added or existing is None:
        save_index(index, config.out)
    say(f"index {config.out}: {added} documents added, {len(documents) - added} already there; "
        f"{len(index.documents)} documents, {len(index.windows)} windows, {len(index.sentences)} sentences")
    return 0


def run_search(config: SearchConfig) -> int:
    from mia.io import check_output_file, write_atomic
    from mia.search.documents import read_documents
    from mia.search.index import load_index
    from mia.search.passages import write_results
    from mia.search.search import SearchOptions, build_index, open_engine, search

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
    index = load_index(config.index) if config.index else None
    documents = read_documents(config.docs) if config.docs else []
    others = read_documents(config.against, flag="--against") if config.against else None
    candidates = CandidateOptions(
        families=tuple(config.families),  # type: ignore[arg-type]
        lsh_threshold=config.lsh_threshold, min_words=config.min_words, neighbours=config.neighbours,
        min_similarity=config.min_similarity, mutual_similarity=config.mutual_similarity)
    options = SearchOptions(candidates=candidates, gap=config.gap, min_passage_tokens=config.min_passage_tokens,
                            min_longest_phrase=config.min_longest_phrase)
    with open_engine(worker_spec(config), **engine_settings(config)) as (engine, model):
        index, _ = build_index(documents, engine, model, options=candidates, index=index, progress=progress)
        if others is not None:
            clash = set(index.ids) & {d.id for d in others}
            if clash:
                raise MiaError(f"document id {sorted(clash)[0]!r} is in both --docs/--index and --against "
                               f"({len(clash)} such); ids must differ")
            against = build_index(others, engine, model, options=candidates, progress=progress)[0]
        else:
            against = None
        result = search(index, engine, against=against, options=options, progress=progress)
    written = write_results(result.passages, out, result.summary)
    write_atomic([json.dumps(result.summary, indent=1)], summary_path)
    counts = result.summary
    say(f"wrote {written} passages to {out} (summary: {summary_path}); {counts['window_pairs_scored']} window pairs "
        f"scored of {counts['candidates']['window_pairs_without_candidates']} without candidates"
        + (f", {counts['window_pair_errors']} could not be scored" if counts["window_pair_errors"] else ""))
    return 0
