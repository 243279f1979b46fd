"""Where the model runs during a search: in this process, in local worker processes, or on a Ray cluster.

Every engine holds workers that each load the model and the detector **once** (:class:`Worker`) and then take
batches: texts to embed, or window pairs to score. ``local`` runs one worker in this process, or ``workers``
processes (``multiprocessing``, spawned, never more than the cores here); ``ray`` runs a pool of Ray actors
(``ray.util.ActorPool``) on the cluster at ``address``, or on a local cluster started for the search and shut
down after it. On a cluster with GPUs each actor asks for one and the model goes to it (``device="auto"``); that
path could not be tested here (no GPU).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import numpy as np

from mia.errors import MiaError
from mia.workers import cap_workers

EngineName = Literal["local", "ray"]
# a window pair to score: (key, A window text, B window text)
WindowJob = tuple[int, str, str]
# a phrase found in a window pair, in window coordinates: (a_start, a_end, b_start, b_end, tokens, score)
WindowPhrase = tuple[int, int, int, int, int, float]
# what a worker returns per window pair: (key, phrases, error message or "")
WindowResult = tuple[int, list[WindowPhrase], str]


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to start: the detector (folder or shipped name), its settings, the device and threads."""

    detector: str
    threshold: float | None = None
    min_phrase_tokens: int = 2
    device: str = "auto"
    threads: int = 1


class Worker:
    """The model and detector, loaded once; embeds texts and scores window pairs."""

    def __init__(self, spec: WorkerSpec) -> None:
        import torch

        from mia.detector.detector import Detector

        torch.set_num_threads(max(1, spec.threads))
        self.spec = spec
        self.detector = Detector.load(spec.detector)
        self.model = self.detector.load_model(device=spec.device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from mia.models.embedding import embed_texts

        return embed_texts(self.model, texts, batch_size=16)

    def score(self, jobs: Sequence[WindowJob]) -> list[WindowResult]:
        from mia.detector.detection import DetectionError
        from mia.text.pairs import Pair

        pairs = [Pair(str(key), a, b) for key, a, b in jobs]
        results: list[WindowResult] = []
        found = self.detector.iter_detect(self.model, pairs, threshold=self.spec.threshold,
                                          min_phrase_tokens=self.spec.min_phrase_tokens)
        for (key, _, _), detection in zip(jobs, found):
            if isinstance(detection, DetectionError):
                results.append((key, [], detection.error))
                continue
            phrases = [(p.a_start, p.a_end, p.b_start, p.b_end, p.tokens, p.score) for p in detection.phrases]
            results.append((key, phrases, ""))
        return results


class Engine(Protocol):
    workers: int

    def embed(self, batches: Sequence[Sequence[str]]) -> Iterator[np.ndarray]:
        """Embeddings of each batch of texts, in order."""
        ...

    def score(self, batches: Sequence[Sequence[WindowJob]]) -> Iterator[list[WindowResult]]:
        """Results of each batch of window pairs, in the order they finish."""
        ...

    def describe(self) -> dict[str, Any]:
        ...

    def close(self) -> None:
        ...


class InProcessEngine:
    """One worker in this process."""

    def __init__(self, spec: WorkerSpec) -> None:
        import torch

        self.workers = 1
        self.spec = spec
        self.threads_before = torch.get_num_threads()  # restored on close: this process is the caller's
        self.worker = Worker(spec)

    def embed(self, batches: Sequence[Sequence[str]]) -> Iterator[np.ndarray]:
        return (self.worker.embed(batch) for batch in batches)

    def score(self, batches: Sequence[Sequence[WindowJob]]) -> Iterator[list[WindowResult]]:
        return (self.worker.score(batch) for batch in batches)

    def describe(self) -> dict[str, Any]:
        return {"engine": "local", "workers": 1, "processes": "this one", **asdict(self.spec)}

    def close(self) -> None:
        import torch

        torch.set_num_threads(self.threads_before)


_WORKER: Worker | None = None  # the worker of a local worker process


def _start_worker(spec: WorkerSpec) -> None:
    global _WORKER
    _WORKER = Worker(spec)


def _embed(texts: Sequence[str]) -> np.ndarray:
    if _WORKER is None:
        raise RuntimeError("worker not started")
    return _WORKER.embed(texts)


def _score(jobs: Sequence[WindowJob]) -> list[WindowResult]:
    if _WORKER is None:
        raise RuntimeError("worker not started")
    return _WORKER.score(jobs)


class ProcessEngine:
    """``workers`` spawned processes on this machine (never more than its cores), each with its own worker."""

    def __init__(self, spec: WorkerSpec, workers: int) -> None:
        self.workers = workers
        self.spec = spec
        self.pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker, initargs=(spec,))

    def embed(self, batches: Sequence[Sequence[str]]) -> Iterator[np.ndarray]:
        return self.pool.imap(_embed, batches)

    def score(self, batches: Sequence[Sequence[WindowJob]]) -> Iterator[list[WindowResult]]:
        return self.pool.imap_unordered(_score, batches)

    def describe(self) -> dict[str, Any]:
        return {"engine": "local", "workers": self.workers, "processes": "spawned", **asdict(self.spec)}

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


class RayEngine:
    """A pool of Ray actors, each a :class:`Worker` (one GPU each when the cluster has GPUs)."""

    def __init__(self, spec: WorkerSpec, workers: int, address: str | None) -> None:
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise MiaError("--engine ray needs Ray: pip install 'mia[search]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            if address is None:
                ray.init(num_cpus=workers * max(1, spec.threads), include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        self.workers = workers
        self.spec = spec
        self.gpus = gpus
        actor = ray.remote(num_cpus=spec.threads, num_gpus=1 if gpus >= workers else 0)(Worker)
        self.actors: list[Any] = [actor.remote(spec) for _ in range(workers)]  # type: ignore[attr-defined]
        self.pool = ActorPool(self.actors)
        self.address = address

    def embed(self, batches: Sequence[Sequence[str]]) -> Iterator[np.ndarray]:
        return self.pool.map(lambda actor, batch: actor.embed.remote(batch), list(batches))  # type: ignore[arg-type]

    def score(self, batches: Sequence[Sequence[WindowJob]]) -> Iterator[list[WindowResult]]:
        return self.pool.map_unordered(lambda actor, batch: actor.score.remote(batch),
                                       list(batches))  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        return {"engine": "ray", "workers": self.workers, "address": self.address or "local cluster (started here)",
                "cluster_gpus": self.gpus, **asdict(self.spec)}

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self.started:
            self.ray.shutdown()


def start_engine(spec: WorkerSpec, *, engine: EngineName = "local", workers: int = 1,
                 address: str | None = None) -> Engine:
    """An engine with ``workers`` workers (local: capped at the cores here; Ray: as many actors as asked)."""
    if engine == "ray":  # a local cluster started here gets no more actors than cores
        return RayEngine(spec, max(1, workers) if address else cap_workers(workers), address)
    if address is not None:
        raise MiaError("--address is for --engine ray")
    workers = cap_workers(workers)
    return InProcessEngine(spec) if workers == 1 else ProcessEngine(spec, workers)
