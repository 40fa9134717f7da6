"""Atomic file writes shared by every layer (model zips, replay buffers, evaluation logs, videos, job records).

A reader, or a run resumed after a kill, sees either the previous file or the complete new one, never a torn
write: the content goes to a temporary file in the destination's folder, is flushed to disk, then
``os.replace``-d onto the destination, and the folder is flushed so the rename survives a power cut.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it onto ``path``.

    The temporary file exists (empty) when the block starts and ends with ``path``'s suffix, so a writer that
    picks the format from the suffix (imageio) writes the same format as on ``path``. The block must write to the
    yielded name itself (``np.savez`` would append ``.npz`` to a name without it: give it ``path`` ending in
    ``.npz``). A new file gets the permissions of a plain ``open(path, "w")`` (0o666 less the umask, applied by
    the OS); a file that replaces an older one is written owner-only (0o600) and then takes the older one's
    permission bits, so a private file is never readable by others and a read-only one can still be replaced. A
    symbolic link is written through: the file it points to is replaced and the link stays (a link loop raises
    ``RuntimeError``). On success the data is ``fsync``-ed, the file replaces ``path`` and the folder is
    ``fsync``-ed where the OS allows it; on any exception the temporary file is deleted and ``path`` is left as it
    was. Missing folders are created.

    :param path: the destination.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode) & 0o777  # no set-id or sticky bits
    except FileNotFoundError:
        mode = None
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            handle = os.open(tmp, flags, 0o666 if mode is None else 0o600)
            break
        except FileExistsError:  # another writer drew the same name: draw again
            continue
    try:
        try:
            yield tmp
            os.fsync(handle)  # flushes the file's data, whichever descriptor the block wrote through
        finally:
            os.close(handle)  # before os.replace: Windows cannot rename a file that is open
        if mode is not None:  # after the writes: the block may have reopened the file by name
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk; a no-op where folders cannot be opened (Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:  # some file systems refuse fsync on a folder; the rename itself has happened
        pass
    finally:
        os.close(handle)
