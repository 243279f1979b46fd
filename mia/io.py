"""Files in and out, safely: atomic writes, strict UTF-8 reading, bounded JSON, output paths checked up front.

The promises these helpers keep for every command:

* a file is written beside its destination and renamed into place, so a failure, Ctrl-C or SIGTERM never
  leaves a half-written file (the temporary file is removed), and an error names the user's path, not the
  temporary one;
* an output path is checked before any work starts: not empty, not a directory where a file is wanted, not
  under a file, in a folder mia can write;
* text is read as UTF-8, and a file that is not names the file and the byte offset; no file is read past a size
  cap (:data:`READ_LIMIT`, ``--max-file-mb``), so ``/dev/zero`` or a runaway log is an error, not a hang;
* JSON numbers and nesting are bounded (a 5,000-digit integer, ``1e999`` or a 200,000-deep array is an error, not
  a crash or an infinity);
* an output never replaces an input: :func:`check_not_input` refuses an output path that resolves (after symbolic
  links) to an input file or into an input folder;
* text that goes to a terminal has its control characters escaped (an id cannot forge an output line).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from mia.errors import MiaError

MAX_JSON_DEPTH = 64
DEFAULT_READ_LIMIT = 256 * 2**20  # bytes: the cap on any file mia reads, unless --max-file-mb raises it
READ_LIMIT: contextvars.ContextVar[int] = contextvars.ContextVar("mia_read_limit", default=DEFAULT_READ_LIMIT)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


# --- writing -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: Literal["w", "wb"] = "w") -> Iterator[IO[Any]]:
    """An open temporary file beside ``path``, renamed to ``path`` when the block ends without an exception.

    Any failure (an exception, Ctrl-C, SIGTERM turned into an exception by the CLI) removes the temporary file and
    leaves ``path`` as it was. An ``OSError`` names ``path``, never the temporary file.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        out: IO[Any] = os.fdopen(handle, "wb") if mode == "wb" else os.fdopen(handle, "w", encoding="utf-8")
        with out:
            yield out
        _keep_mode_of(path, tmp)
        os.replace(tmp, path)
        tmp = None
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_atomic(lines: Iterable[str], path: str | Path) -> int:
    """Write text lines to ``path`` atomically (:func:`atomic_file`); returns the number of lines written."""
    count = 0
    with atomic_file(path) as out:
        for line in lines:
            out.write(line if line.endswith("\n") else line + "\n")
            count += 1
    return count


def write_bytes_atomic(data: bytes, path: str | Path) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_file`)."""
    with atomic_file(path, "wb") as out:
        out.write(data)


def _keep_mode_of(path: Path, tmp: Path) -> None:
    """Give the new file the mode an ordinary write would: the old file's, or the umask's default."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write JSON lines atomically; returns the number written."""
    return write_atomic((json.dumps(record, ensure_ascii=False) for record in records), path)


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN as None, ready for ``json.dumps``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


@contextlib.contextmanager
def folder_lock(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """An advisory lock on the folder itself (no lock file): exclusive to write, shared to read. Where there is no
    ``flock`` (Windows) the recorded hashes of a detector or an index still catch files of two runs mixed."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(handle)


# --- output paths, checked before any work -------------------------------------------------------------------


def check_output_file(path: str | Path | None, flag: str = "--out") -> Path | None:
    """Check that ``path`` can be written as a file, before any work starts; ``None`` passes (standard output).

    Refused: an empty name, an existing directory, a path under a file, a folder mia cannot write.
    """
    if path is None:
        return None
    target = _non_empty(path, flag)
    refuse_broken_link(target, flag)
    if target.is_dir():
        raise MiaError(f"{flag} {target} is a directory; give a file name")
    check_writable_folder(target.parent, flag=flag, target=target)
    return target


def check_writable_folder(folder: Path, *, flag: str, target: Path) -> None:
    """Raise unless files can be created in ``folder`` (or in the folders mia would create for it)."""
    existing = folder
    while not existing.exists():
        if existing.is_symlink():
            raise MiaError(f"{flag} {target}: {existing} is a broken symbolic link")
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise MiaError(f"{flag} {target}: {existing} is a file, not a folder")
    if not _can_create_in(existing):
        raise MiaError(f"{flag} {target}: the folder {existing} is read-only for mia; choose another {flag}")


def check_not_input(path: str | Path | None, files: dict[str, str | Path | None], *,
                    folders: dict[str, str | Path | None] | None = None, flag: str = "--out") -> None:
    """Refuse an output ``path`` that is one of the input ``files`` (``{flag: path}``) or lies inside one of the
    input ``folders`` (an index, a detector), after symbolic links are resolved: mia never replaces what it reads.
    An input of ``files`` that is a folder (``--docs`` may be a file or a folder) counts as a folder. Checked before
    any work."""
    if path is None:
        return
    target = _resolved(Path(path))
    given_folders = dict(folders or {})
    for input_flag, given in files.items():
        if given is None or not str(given).strip():
            continue
        if Path(given).is_dir():
            given_folders.setdefault(input_flag, given)
            continue
        if target == _resolved(Path(given)) or _same_file(Path(path), Path(given)):
            raise MiaError(f"{flag} {path} is the input {input_flag} {given}; mia never replaces an input, give "
                           f"another {flag}")
    for input_flag, given in given_folders.items():
        if given is None or not str(given).strip():
            continue
        folder = _resolved(Path(given))
        if target == folder or folder in target.parents:
            raise MiaError(f"{flag} {path} lies inside the input {input_flag} {given}; give a {flag} outside it")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: compare the absolute path
        return path.absolute()


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def refuse_broken_link(path: Path, flag: str) -> None:
    """Raise when ``path`` is a symbolic link to nothing: the user's link, neither replaced nor followed."""
    if path.is_symlink() and not path.exists():
        raise MiaError(f"{flag} {path} is a broken symbolic link (to {os.readlink(path)}); remove it or give "
                       "another name")


def _non_empty(path: str | Path, flag: str) -> Path:
    if not str(path).strip():
        raise MiaError(f"{flag} is empty; give a path")
    return Path(path)


def _can_create_in(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (tried for real: a read-only mount or ACLs count)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".mia-probe-"):
            return True
    except OSError:
        return False


# --- reading -------------------------------------------------------------------------------------------------


def read_text(path: str | Path, what: str, *, translate_newlines: bool = True) -> str:
    """The whole of a UTF-8 text file, newlines as ``\\n`` (Windows and old Mac line ends translated, as Python's
    text mode does; ``translate_newlines=False`` keeps them, so that offsets index the file as stored); errors name
    ``what`` (e.g. ``--a-file x.txt``) and the byte offset."""
    data = read_bytes_capped(path, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MiaError(f"{what}: not UTF-8 text (byte {error.start}: {error.reason}); save it as UTF-8") from None
    if not translate_newlines:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as Python's text mode reads


def read_limit() -> int:
    """The most bytes mia reads from one file (:data:`READ_LIMIT`)."""
    return READ_LIMIT.get()


@contextlib.contextmanager
def reading_limit(max_bytes: int) -> Iterator[None]:
    """Read files of up to ``max_bytes`` while the block runs (the CLI's ``--max-file-mb``)."""
    token = READ_LIMIT.set(int(max_bytes))
    try:
        yield
    finally:
        READ_LIMIT.reset(token)


def too_large(what: str) -> MiaError:
    limit = read_limit()
    size = f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit:,} bytes"
    return MiaError(f"{what}: larger than {size}, the most mia reads from one file; raise the cap with "
                    "--max-file-mb if the file is meant")


def _open_input(path: Path, what: str) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise MiaError(f"{what}: file not found") from None
    except IsADirectoryError:
        raise MiaError(f"{what}: is a directory, not a text file") from None
    except PermissionError:
        raise MiaError(f"{what}: mia may not read it (permission denied)") from None


def read_bytes_capped(path: str | Path, what: str) -> bytes:
    """The bytes of a file, at most :func:`read_limit` of them (more is a :class:`MiaError` naming ``what``)."""
    limit = read_limit()
    with _open_input(Path(path), what) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise too_large(what)
    return data


def iter_text_lines(path: str | Path, what: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 text file, read lazily (lines end at ``\\n`` only: U+2028 and other
    Unicode line separators stay inside a line, as JSON allows); a non-UTF-8 byte names its offset, and no more
    than :func:`read_limit` bytes are read."""
    offset = 0
    limit = read_limit()
    with _open_input(Path(path), what) as handle:
        number = 0
        while raw := handle.readline(limit + 1 - offset):
            number += 1
            if offset + len(raw) > limit:
                raise too_large(what)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise MiaError(
                    f"{what}:{number}: not UTF-8 text (byte {offset + error.start}: {error.reason}); "
                    "save it as UTF-8"
                ) from None
            offset += len(raw)
            yield number, line


def parse_json(text: str, where: str) -> Any:
    """``json.loads`` with bounded numbers (finite floats only) and nesting; any problem is a :class:`MiaError`
    naming ``where``."""
    depth = _max_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise MiaError(f"{where}: JSON nested {depth} deep; at most {MAX_JSON_DEPTH} levels are read")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise MiaError(f"{where}: not valid JSON ({error.msg} at character {error.pos})") from None
    except (ValueError, RecursionError) as error:  # e.g. an integer with more digits than Python converts
        raise MiaError(f"{where}: JSON value out of range ({str(error).splitlines()[0][:120]})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large for a number")
    return value


def _max_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside strings (a cheap pre-check before the recursive parser)."""
    if "[" not in text and "{" not in text:
        return 0
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    depth = deepest = 0
    for char in re.sub(r"[^\[\]{}]", "", stripped):
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


# --- printing ------------------------------------------------------------------------------------------------


def printable(text: str) -> str:
    """``text`` with control and bidirectional-override characters escaped (``\\n``, ``\\x1b``, ``\\u202e``)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
