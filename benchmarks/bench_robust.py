"""Vanilla QMIX vs RobustQMIXFGSM vs RegularizedQMIX under no attack, random noise, FGSM and PGD.

The cross-attack benchmark (``zoo/benchmark.py``) with these three methods and four columns: trains the models
with the zoo's settings (``hyperparams/*.yml``: the paper's budgets, vanilla QMIX 205k env steps on clean
observations, the two defences 405k, RegularizedQMIX starting from the vanilla model; finished runs of the log
folder are reused), then prints for every model and attack the win rate and the episode return (mean ± std) over
greedy test episodes with every agent attacked at every step (paper §V, Table I protocol for the gradient
attacks). Every other flag of ``zoo/benchmark.py`` is accepted (``--maps``, ``--epsilons``, ``--n-jobs``, ...).

The paper's setting on 3m (results in ``logs/bench_robust``, the preset's ``--out``), and a smoke run::

    python benchmarks/bench_robust.py --maps 3m -f logs
    python benchmarks/bench_robust.py --maps 3m --timesteps-scale 0.01 --n-eval-episodes 8 --out /tmp/robust_smoke
"""

from __future__ import annotations

from typing import Any

from zoo import benchmark

#: the results folder: each preset has its own, so that their results (of other settings) stay apart
OUT = "logs/bench_robust"
PRESET = ["--methods", "qmix", "fgsm", "regularized", "--attacks", "none", "random", "fgsm", "pgd", "--out", OUT]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``zoo/benchmark.py`` with :data:`PRESET` (flags in ``argv`` come after it, so they can override it)."""
    return benchmark.run_preset(PRESET, __doc__, argv)


if __name__ == "__main__":
    main()
