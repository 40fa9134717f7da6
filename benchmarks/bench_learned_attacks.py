"""Learned attacks (ATLA, PA-AD) against vanilla QMIX, and the defences ATLAQMIX / PAADQMIX under every attack.

The cross-attack benchmark (``zoo/benchmark.py``) with these three methods: trains vanilla QMIX (205k env steps,
clean observations), ATLAQMIX and PAADQMIX (405k victim env steps) with the zoo's settings (``hyperparams/*.yml``;
finished runs of the log folder are reused), trains an ATLA and a PA-AD attacker against each model
(``--attacker-timesteps``) and tests every model under no attack, FGSM and the attackers trained against *that*
model: greedy victim, all agents attacked at every step, win rate and return mean ± std. Goal on 3m: PA-AD
against vanilla QMIX <= 0.1 win rate (paper: 0.00). Every other flag of ``zoo/benchmark.py`` is accepted.

The paper's setting on 3m (results in ``logs/bench_learned_attacks``, the preset's ``--out``), and a smoke run::

    python benchmarks/bench_learned_attacks.py --maps 3m -f logs --n-jobs 2
    python benchmarks/bench_learned_attacks.py --maps 3m --timesteps-scale 0.01 --attacker-timesteps 1000 \\
        --n-eval-episodes 8 --out /tmp/learned_smoke
"""

from __future__ import annotations

from typing import Any

from zoo import benchmark

#: the results folder: each preset has its own, so that their results (of other settings) stay apart
OUT = "logs/bench_learned_attacks"
PRESET = ["--methods", "qmix", "atla", "paad", "--attacks", "none", "fgsm", "atla", "paad", "--out", OUT]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``zoo/benchmark.py`` with :data:`PRESET` (flags in ``argv`` come after it, so they can override it)."""
    return benchmark.run_preset(PRESET, __doc__, argv)


if __name__ == "__main__":
    main()
