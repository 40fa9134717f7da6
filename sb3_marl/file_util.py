"""Atomic file writes shared by every layer (model zips, replay buffers, evaluation logs, videos, job records).

A reader, or a run resumed after a kill, sees either the previous file or the complete new one, never a torn
write: the content goes to a temporary file in the destination's folder, is flushed to disk, then
``os.replace``-d onto the destination.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it onto ``path``.

    The temporary file exists (empty) when the block starts and ends with ``path``'s suffix, so a writer that
    picks the format from the suffix (imageio) writes the same format as on ``path``. The block must write to the
    yielded name itself (``np.savez`` would append ``.npz`` to a name without it: give it ``path`` ending in
    ``.npz``). The file is created with the permissions of a plain ``open(path, "w")`` (0o666 less the umask,
    applied by the OS; the new file does not keep an older ``path``'s permissions). On success the data is
    ``fsync``-ed and the file replaces ``path``; on any exception it is deleted and ``path`` is left as it was.
    Missing folders are created.

    :param path: the destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            handle = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:  # another writer drew the same name: draw again
            continue
    try:
        try:
            yield tmp
            os.fsync(handle)  # flushes the file's data, whichever descriptor the block wrote through
        finally:
            os.close(handle)  # before os.replace: Windows cannot rename a file that is open
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
