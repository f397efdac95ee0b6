"""Who owns a run directory: a marker file, a lock, and the data a run was made from.

A run writes only into a directory that is new, empty, or a deepff run: one holding the
marker file ``.deepff-run`` (TOML: ``format = "deepff-run"``, ``version``). Anything else
(a folder of the user's own files) is refused unless ``overwrite`` is given. The data being
read is never a destination: a data file inside the run directory, or a run directory
inside the data folder, is refused. ``free_run_directory`` finds the default name that
replaces no earlier run (``runs/iris``, then ``runs/iris-2``, ...).

While a process writes a run, it holds an exclusive ``fcntl.flock`` on ``.deepff-run.lock``
(the file holds its PID), so a second process is refused with a message naming the first.
The lock goes with the process: a killed run leaves no stale lock.

``data_fingerprint`` hashes the data a run was made from (the bytes of a file, or of every
file of a folder), so ``--resume`` can refuse data that changed since.

Examples
--------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> check_run_directory(folder)  # empty: free to use
>>> with open(os.path.join(folder, "notes.txt"), "w") as handle:
...     _ = handle.write("mine")
>>> try:
...     check_run_directory(folder)
... except RunDirectoryError as error:
...     print(str(error).replace(folder, "DIR"))  # doctest: +ELLIPSIS
DIR: not a deepff run directory (it holds notes.txt, not written by deepff); ...
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: The marker file of a run directory, and the version of its layout.
MARKER_FILE = ".deepff-run"
RUN_FORMAT_VERSION = 1
#: The file a running process locks (``fcntl.flock``), holding its PID.
LOCK_FILE = ".deepff-run.lock"


class RunDirectoryError(ValueError):
    """A run directory that may not be used as asked (the message says why and what to do)."""


def _read_marker(out: Path):
    """The marker's version, or None without a marker; a bad or newer one is refused."""
    from ..io.toml import read_toml

    path = out / MARKER_FILE
    if not path.exists() and not path.is_symlink():
        return None
    try:
        marker = read_toml(path)
    except (ValueError, OSError) as error:
        raise RunDirectoryError(f"{path}: a bad run marker ({error})") from None
    version = marker.get("version")
    if marker.get("format") != "deepff-run" or not isinstance(version, int):
        raise RunDirectoryError(f"{path}: a bad run marker (no format 'deepff-run' and version)")
    if version > RUN_FORMAT_VERSION:
        raise RunDirectoryError(
            f"{out}: a run directory of a newer deepff (layout version {version}; this deepff "
            f"writes version {RUN_FORMAT_VERSION}): upgrade deepff or choose another --out"
        )
    return version


def is_run_directory(out) -> bool:
    """Whether ``out`` holds a deepff run (its marker file).

    Examples
    --------
    >>> import tempfile
    >>> is_run_directory(tempfile.mkdtemp())
    False
    """
    out = Path(out)
    return out.is_dir() and _read_marker(out) is not None


def check_run_directory(out, overwrite: bool = False) -> None:
    """Refuse ``out`` unless it is missing, empty, a deepff run, or ``overwrite`` is given."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise RunDirectoryError(f"{out}: exists and is not a directory; choose another --out")
    if _read_marker(out) is not None:
        return
    entries = _entries(out)
    if not entries or overwrite:
        return
    shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
    raise RunDirectoryError(
        f"{out}: not a deepff run directory (it holds {shown}, not written by deepff); "
        "choose a new or empty --out, or pass --overwrite to write deepff's files into it "
        "(files of the same names are replaced)"
    )


def _entries(out: Path) -> list:
    """The names in ``out``, but the lock file (which a failed first run may leave)."""
    return sorted(entry.name for entry in out.iterdir() if entry.name != LOCK_FILE)


def write_marker(out) -> None:
    """Mark ``out`` as a deepff run directory (atomically).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_marker(folder)
    >>> is_run_directory(folder)
    True
    """
    from ..io.toml import write_toml

    write_toml(
        Path(out) / MARKER_FILE,
        {"format": "deepff-run", "version": RUN_FORMAT_VERSION},
        "This folder is a deepff run directory: deepff train may write and replace its files.",
    )


def check_data_not_destination(source, out) -> None:
    """Refuse a run whose directory holds its data file, or lies inside its data folder.

    Examples
    --------
    >>> check_data_not_destination("iris", "runs/iris")  # a built-in name is no file
    >>> try:
    ...     check_data_not_destination("runs/x/history.csv", "runs/x")
    ... except RunDirectoryError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    runs/x/history.csv: the data lies inside the run directory runs/x; ...
    """
    data = Path(os.path.abspath(source))
    if not data.exists() and not Path(source).is_absolute() and os.sep not in str(source):
        # a built-in name (or a missing file: the loader says so)
        return
    target = Path(os.path.abspath(out))
    try:
        data, target = data.resolve(), target.resolve()
    except OSError:
        pass
    if data == target or target in data.parents:
        raise RunDirectoryError(
            f"{source}: the data lies inside the run directory {out}; a run never writes "
            "where its data is: choose another --out"
        )
    if data.is_dir() and data in target.parents:
        raise RunDirectoryError(
            f"{out}: the run directory lies inside the data folder {source}; a run never "
            "writes where its data is: choose another --out"
        )


def free_run_directory(base) -> Path:
    """The first of ``base``, ``base-2``, ``base-3``, ... that does not exist, created.

    The default ``--out`` (``runs/<data name>``) so never replaces an earlier run; the
    directory is made here (``mkdir`` is atomic), so two processes never pick the same
    (an existing folder, even an empty one, may be another process's that has just begun).

    Examples
    --------
    >>> import os, tempfile
    >>> base = os.path.join(tempfile.mkdtemp(), "iris")
    >>> first = free_run_directory(base)
    >>> write_marker(first)
    >>> free_run_directory(base).name
    'iris-2'
    """
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, 100_000):
        candidate = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunDirectoryError(f"{base}: no free run directory name; give --out")


def remove_if_empty(out) -> None:
    """Remove ``out`` when it holds nothing (but a lock file): a refused run's own folder.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "run")
    >>> os.mkdir(folder)
    >>> remove_if_empty(folder)
    >>> os.path.exists(folder)
    False
    """
    out = Path(out)
    try:
        if out.is_dir() and not out.is_symlink() and not _entries(out):
            (out / LOCK_FILE).unlink(missing_ok=True)
            out.rmdir()
    except OSError:
        pass


class RunLock:
    """An exclusive ``fcntl.flock`` on a run directory's lock file, naming the holder's PID.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunLock(folder):
    ...     try:
    ...         RunLock(folder)  # a second holder (here: in the same process) is refused
    ...     except RunDirectoryError as error:
    ...         "is writing this run directory" in str(error)
    True
    """

    def __init__(self, out):
        import fcntl

        self._fd = None
        self.path = Path(out) / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunDirectoryError(
                f"{out}: another deepff process (PID {holder}) is writing this run "
                "directory; wait for it to finish, or choose another --out"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the next process in (closing the file releases the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        self.release()


def data_fingerprint(source) -> str:
    """A SHA-256 of the data at ``source``: a file's bytes, a folder's files (names and bytes),
    or a built-in data set's name.

    Examples
    --------
    >>> data_fingerprint("iris")
    'builtin:iris'
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(path, "w").write("a,b\\n1,2\\n")
    >>> data_fingerprint(path)[:7]
    'sha256:'
    """
    path = Path(source)
    if not path.exists():
        return f"builtin:{source}"
    digest = hashlib.sha256()
    files = [path] if not path.is_dir() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode("utf-8", "surrogateescape") + b"\0")
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


__all__ = [
    "LOCK_FILE",
    "MARKER_FILE",
    "RUN_FORMAT_VERSION",
    "RunDirectoryError",
    "RunLock",
    "check_data_not_destination",
    "check_run_directory",
    "data_fingerprint",
    "free_run_directory",
    "is_run_directory",
    "remove_if_empty",
    "write_marker",
]
