"""Where the model runs during a search: in this process, in local worker processes, or on a Ray cluster.

Every engine holds workers that each load the model and the detector **once** (:class:`Worker`) and then take
batches: texts to embed, or window pairs to score. ``local`` runs one worker in this process, or ``workers``
processes (``concurrent.futures``, spawned, never more than the cores here); ``ray`` runs a pool of Ray actors
(``ray.util.ActorPool``) on the cluster at ``address``, or on a local cluster started for the search and shut
down after it. On a cluster with GPUs each actor asks for one and the model goes to it (``device="auto"``); that
path could not be tested here (no GPU).

Nothing waits forever: a worker that cannot start (no CUDA device, a detector it cannot read) ends the search with
its error; a worker process that dies breaks the pool and the search says so; a Ray address where nothing answers,
or actors the cluster cannot place, are errors after a deadline (:data:`START_SECONDS`) naming what did not answer.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np

from mia.errors import MiaError
from mia.models.encoding import TextTokens
from mia.workers import available_cores, cap_threads, cap_workers

EngineName = Literal["local", "ray"]
START_SECONDS = 300.0  # a worker that has not loaded its model by then will not
# a window pair to score: (key, A window's tokens, B window's tokens), assembled into model input by the worker
WindowJob = tuple[int, TextTokens, TextTokens]
# what a worker returns per window pair: (key, rows, cols, values, error message or ""): the token pairs (indices
# within the two windows) whose probability is at or above the kept floor, decoded by the driver per document pair
WindowResult = tuple[int, np.ndarray, np.ndarray, np.ndarray, str]


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to start: the detector (folder or shipped name), its settings, the device and threads."""

    detector: str
    threshold: float | None = None
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

    def ready(self) -> bool:
        """True once the model is loaded (Ray: an actor answers this when its constructor has run)."""
        return True

    def embed(self, texts: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of texts given as token ids."""
        from mia.models.embedding import embed_tokens

        return embed_tokens(self.model, texts, batch_size=16)

    def score(self, jobs: Sequence[WindowJob]) -> list[WindowResult]:
        """The token pairs of each window pair at or above the kept floor (what a long pair keeps in ``detect``),
        each window pair assembled from its two windows' token ids (nothing tokenised here)."""
        from mia.detector.detector import kept_floor
        from mia.text.pairs import Pair

        threshold = self.detector.threshold if self.spec.threshold is None else self.spec.threshold
        floor = kept_floor(self.detector.decode, threshold)
        scorer = self.detector.window_scorer(self.model)
        results: list[WindowResult] = []
        empty = np.zeros(0, np.int32)
        for key, a, b in jobs:
            try:
                probabilities = scorer([self.model.assemble(Pair(str(key), a.text, b.text), a, b)])[0]
            except (MiaError, RuntimeError, ValueError) as error:
                results.append((key, empty, empty, np.zeros(0, np.float32), " ".join(str(error).split())))
                continue
            rows, cols = np.nonzero(probabilities >= floor)
            results.append((key, rows.astype(np.int32), cols.astype(np.int32),
                            probabilities[rows, cols].astype(np.float32), ""))
        return results


class Engine(Protocol):
    workers: int
    spec: WorkerSpec

    def embed(self, batches: Sequence[Sequence[np.ndarray]]) -> Iterator[np.ndarray]:
        """Embeddings of each batch of texts (their token ids), in order."""
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

    def embed(self, batches: Sequence[Sequence[np.ndarray]]) -> Iterator[np.ndarray]:
        return (self.worker.embed(batch) for batch in batches)

    def score(self, batches: Sequence[Sequence[WindowJob]]) -> Iterator[list[WindowResult]]:
        return (self.worker.score(batch) for batch in batches)

    def describe(self) -> dict[str, Any]:
        return {"engine": "local", "workers": 1, "processes": "this one", **asdict(self.spec)}

    def close(self) -> None:
        import torch

        torch.set_num_threads(self.threads_before)


_WORKER: Worker | None = None  # the worker of a local worker process
_START_ERROR: str | None = None  # why it could not start


def _start_worker(spec: WorkerSpec) -> None:
    """Initializer of a worker process: an error is kept and answered to every task (a pool whose initializer
    raises would start the process again and again)."""
    global _WORKER, _START_ERROR
    try:
        _WORKER = Worker(spec)
    except Exception as error:  # noqa: BLE001 - handed to the driver as the answer to every task
        _START_ERROR = " ".join(str(error).split()) or type(error).__name__


def _worker() -> Worker:
    if _WORKER is None:
        raise MiaError(f"a search worker process could not start: {_START_ERROR or 'not started'}")
    return _WORKER


def _ready(_: int) -> bool:
    return _worker().ready()


def _embed(texts: Sequence[np.ndarray]) -> np.ndarray:
    return _worker().embed(texts)


def _score(jobs: Sequence[WindowJob]) -> list[WindowResult]:
    return _worker().score(jobs)


class ProcessEngine:
    """``workers`` spawned processes on this machine (never more than its cores), each with its own worker.

    Started with a check that every process loaded its model (within :data:`START_SECONDS`); a process that dies
    later breaks the pool, which is an error, never a wait."""

    def __init__(self, spec: WorkerSpec, workers: int, *, start_seconds: float = START_SECONDS) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.spec = spec
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_worker, initargs=(spec,))
        try:
            list(self._results(self.pool.map(_ready, range(workers), timeout=start_seconds)))
        except BaseException:
            self.close(wait=False)
            raise

    @staticmethod
    def _results(iterator: Iterator[Any]) -> Iterator[Any]:
        """Results, with a broken pool or a deadline passed turned into one-line errors."""
        from concurrent.futures import BrokenExecutor
        from concurrent.futures import TimeoutError as FutureTimeout

        try:
            yield from iterator
        except BrokenExecutor:
            raise MiaError("a search worker process died (out of memory, or killed); the search stopped") from None
        except FutureTimeout:
            raise MiaError("the search worker processes did not load the model in time; the search stopped") from None

    def embed(self, batches: Sequence[Sequence[np.ndarray]]) -> Iterator[np.ndarray]:
        return self._results(self.pool.map(_embed, batches))

    def score(self, batches: Sequence[Sequence[WindowJob]]) -> Iterator[list[WindowResult]]:
        from concurrent.futures import as_completed

        futures = [self.pool.submit(_score, batch) for batch in batches]
        return self._results(future.result() for future in as_completed(futures))

    def describe(self) -> dict[str, Any]:
        return {"engine": "local", "workers": self.workers, "processes": "spawned", **asdict(self.spec)}

    def close(self, *, wait: bool = True) -> None:
        """Stop the processes (``wait=False``: at once, a hung one too)."""
        if not wait:
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.terminate()
        self.pool.shutdown(wait=wait, cancel_futures=True)


class RayEngine:
    """A pool of Ray actors, each a :class:`Worker` (one GPU each when the cluster has GPUs). A local cluster started
    here gets no more CPUs than this machine has; a given ``address`` must answer within a few seconds, and the
    actors must be placed and loaded within ``start_seconds``."""

    def __init__(self, spec: WorkerSpec, workers: int, address: str | None, *,
                 start_seconds: float = START_SECONDS) -> None:
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise MiaError("--engine ray needs Ray: pip install 'mia[search]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            try:
                if address is None:
                    cpus = min(workers * max(1, spec.threads), available_cores())
                    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
                else:
                    check_ray_address(address)
                    ray.init(address=address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise MiaError(f"Ray could not start or connect{f' to {address}' if address else ''}: "
                               f"{' '.join(str(error).split())[:300]}") from None
        self.actors: list[Any] = []
        try:
            gpus = int(ray.cluster_resources().get("GPU", 0))
            self.workers, self.spec, self.gpus, self.address = workers, spec, gpus, address
            actor = ray.remote(num_cpus=spec.threads, num_gpus=1 if gpus >= workers else 0)(Worker)
            self.actors = [actor.remote(spec) for _ in range(workers)]  # type: ignore[attr-defined]
            self._wait_ready(start_seconds)
        except BaseException:
            self.close()
            raise
        self.pool = ActorPool(self.actors)

    def _wait_ready(self, seconds: float) -> None:
        from ray.exceptions import GetTimeoutError, RayError

        try:
            self.ray.get([actor.ready.remote() for actor in self.actors], timeout=seconds)
        except GetTimeoutError:
            free = self.ray.available_resources()
            raise MiaError(f"the {len(self.actors)} Ray actors did not start within {seconds:g} s (each asks for "
                           f"{self.spec.threads} CPUs; the cluster has {free.get('CPU', 0):g} CPUs and "
                           f"{free.get('GPU', 0):g} GPUs free); use fewer --workers or --threads") from None
        except RayError as error:
            message = " ".join(str(error).split())
            raise MiaError(f"a Ray actor could not start: {message[-300:]}") from None

    def embed(self, batches: Sequence[Sequence[np.ndarray]]) -> Iterator[np.ndarray]:
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


def check_ray_address(address: str, *, seconds: float = 5.0) -> None:
    """Raise unless something accepts a connection at a Ray ``address`` (``host:port`` or ``ray://host:port``) within
    ``seconds``: Ray itself would retry a dead address forever. ``auto`` and other forms are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as error:
        raise MiaError(f"--address {address}: no Ray cluster answers there ({error.strerror or error}); start one "
                       "with `ray start --head`, or leave --address out for a local cluster") from None


def start_engine(spec: WorkerSpec, *, engine: EngineName = "local", workers: int = 1,
                 address: str | None = None) -> Engine:
    """An engine with ``workers`` workers (local: capped at the cores here, threads too, so that workers x threads
    never exceeds them; Ray on a cluster at ``address``: as many actors as asked)."""
    if engine == "ray":
        if address:
            return RayEngine(spec, max(1, workers), address)
        workers = cap_workers(workers)
        return RayEngine(replace(spec, threads=cap_threads(workers, spec.threads)), workers, None)
    if address is not None:
        raise MiaError("--address is for --engine ray")
    workers = cap_workers(workers)
    spec = replace(spec, threads=cap_threads(workers, spec.threads))
    return InProcessEngine(spec) if workers == 1 else ProcessEngine(spec, workers)
