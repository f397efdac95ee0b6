"""What a path is before deepff reads or replaces it: regular files only.

Readers open only regular files: a FIFO would block forever, a device (``/dev/zero``) never
ends. ``open_regular`` opens without blocking, then checks what it opened, so a FIFO or a
device is refused at once, and a file swapped for one between a check and the open is too.

Writers never replace what is not a regular file: a symbolic link (the rename would put a
regular file where the link was, and ``/dev/stdout`` is one), a FIFO, a device, a folder.
``check_destination`` refuses them, naming the path and what it is; ``-`` is standard output
for the commands that write a file of results.

Examples
--------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> fifo = os.path.join(folder, "pipe")
>>> os.mkfifo(fifo)
>>> try:
...     open_regular(fifo)
... except SpecialFileError as error:
...     print(str(error).replace(folder, "DIR"))
DIR/pipe: is a FIFO (named pipe), not a regular file; deepff reads only regular files
"""

from __future__ import annotations

import os
import stat

#: What ``stat`` calls each kind of file that is not a regular one.
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
)


class SpecialFileError(ValueError):
    """A path that is not a regular file where deepff reads or writes one.

    Examples
    --------
    >>> issubclass(SpecialFileError, ValueError)
    True
    """

    def __init__(self, path, message: str):
        self.path = os.fspath(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")


def kind(mode: int) -> str:
    """What a file of ``st_mode`` is, in words ("a regular file", "a FIFO (named pipe)", ...).

    Examples
    --------
    >>> import stat
    >>> kind(stat.S_IFIFO), kind(stat.S_IFREG)
    ('a FIFO (named pipe)', 'a regular file')
    """
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def check_regular(path) -> None:
    """Refuse ``path`` when it exists and is not a regular file (links are followed).

    Examples
    --------
    >>> check_regular(__file__)
    >>> try:
    ...     check_regular("/dev/null")
    ... except SpecialFileError as error:
    ...     print(error)
    /dev/null: is a character device, not a regular file; deepff reads only regular files
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise SpecialFileError(
            path, f"is {kind(mode)}, not a regular file; deepff reads only regular files"
        )


def open_regular(path, mode: str = "rb", **kwargs):
    """Open a regular file for reading; FIFOs and devices are refused without blocking.

    ``mode`` and ``kwargs`` (``newline``, ``encoding``) are those of ``open``.

    Examples
    --------
    >>> with open_regular(__file__) as handle:
    ...     len(handle.read(3))
    3
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        mode_bits = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode_bits):
            raise SpecialFileError(
                path, f"is {kind(mode_bits)}, not a regular file; deepff reads only regular files"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def check_destination(path) -> None:
    """Refuse to replace ``path`` when it is a symbolic link, FIFO, device or directory.

    A missing path or a regular file may be written (replaced whole, by a rename).

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_destination(os.path.join(folder, "new.csv"))
    >>> link = os.path.join(folder, "link.csv")
    >>> os.symlink("/dev/stdout", link)
    >>> try:
    ...     check_destination(link)
    ... except SpecialFileError as error:
    ...     print(str(error).replace(folder, "DIR"))  # doctest: +ELLIPSIS
    DIR/link.csv: is a symbolic link; deepff replaces only regular files (remove it, ...)
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    if stat.S_ISLNK(mode):
        target = os.path.exists(path) and not os.path.isfile(path)  # /dev/stdout, a FIFO
        raise SpecialFileError(
            path,
            "is a symbolic link; deepff replaces only regular files "
            + (
                "(use --out - for standard output)"
                if target
                else "(remove it, or give the path it points to)"
            ),
        )
    hint = " (use --out - for standard output)" if not stat.S_ISDIR(mode) else ""
    raise SpecialFileError(path, f"is {kind(mode)}; deepff replaces only regular files{hint}")


__all__ = ["SpecialFileError", "check_destination", "check_regular", "kind", "open_regular"]
