"""Atomic writes: the destination holds the old or the complete new content, with normal permissions."""

import os

import pytest

from sb3_marl.file_util import atomic_path


def test_success_replaces_the_file_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "log.npz"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".npz" and tmp.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # mkstemp alone would give 0o600
    assert [p.name for p in target.parent.iterdir()] == ["log.npz"]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.zip"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]
