"""Atomic file writes shared by every layer (model zips, replay buffers, evaluation logs, videos, job records).

A reader, or a run resumed after a kill, sees either the previous file or the complete new one, never a torn
write: the content goes to a temporary file in the destination's folder, is flushed to disk, then
``os.replace``-d onto the destination.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _default_file_mode() -> int:
    """The permission bits a plain ``open(path, "w")`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it onto ``path``.

    The temporary file exists (empty) when the block starts and keeps ``path``'s suffix, so writers that pick
    the format from the name (``np.savez``, imageio) behave as they would on ``path``. On success it gets the
    permissions of a normally created file (``tempfile.mkstemp`` makes it owner-only), is ``fsync``-ed and
    replaces ``path``; on any exception it is deleted and ``path`` is left as it was. Missing folders are created.

    :param path: the destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_file_mode())
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
