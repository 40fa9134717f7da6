"""Atomic writes: the destination holds the old or the complete new content, with normal permissions."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from sb3_marl.file_util import atomic_path


def test_success_replaces_the_file_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "log.npz"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".npz" and tmp.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    reference = tmp_path / "reference"
    reference.write_bytes(b"")  # a file made by a plain open(): the umask's permissions
    assert target.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777  # mkstemp would give 0o600
    assert [p.name for p in target.parent.iterdir()] == ["log.npz"]


def test_writes_from_threads_keep_the_umask(tmp_path):
    """The umask is never changed, not even for a moment (it is process-wide, shared by threads)."""
    umask = os.umask(0o022)
    try:

        def write(i: int) -> None:
            with atomic_path(tmp_path / f"{i}.json") as tmp:
                tmp.write_text("{}")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, range(200)))
        assert os.umask(0o022) == 0o022
        assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o644}
    finally:
        os.umask(umask)


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.zip"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


@pytest.mark.parametrize("old_mode", [0o700, 0o444])  # never made by a plain open(); read-only
def test_replacing_a_file_keeps_its_permissions(tmp_path, old_mode):
    target = tmp_path / "best_model.zip"
    target.write_bytes(b"old")
    target.chmod(old_mode)
    with atomic_path(target) as tmp:
        assert tmp.stat().st_mode & 0o777 == 0o600  # owner-only while the data is written
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == old_mode


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symbolic links need POSIX here")
def test_a_symbolic_link_is_written_through(tmp_path):
    real = tmp_path / "store" / "model.zip"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "model.zip"
    link.symlink_to(real)
    with atomic_path(link) as tmp:
        assert tmp.parent == real.parent
        tmp.write_bytes(b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["model.zip"]
