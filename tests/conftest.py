"""Shared test settings."""

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark_script(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` as a module (benchmarks/ is no package; its scripts import each other)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.fixture(autouse=True, scope="session")
def _restore_threads() -> Iterator[None]:
    """Give the session's torch thread count back at its end."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _single_thread(_restore_threads: None) -> None:
    """Every test starts on one torch thread, whatever an earlier test set (a zoo run's --num-threads): tiny tensors
    run fastest so, and other jobs share this machine's 2 cores. Test modules need no fixture of their own for it."""
    torch.set_num_threads(1)
