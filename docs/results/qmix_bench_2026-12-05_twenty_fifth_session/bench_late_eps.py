"""One-off trial: 2m_vs_1z with a late second exploration decay. The yml's schedule (1.0 -> final over
exploration_timesteps) is kept; from LATE_START env steps on, epsilon decays linearly again from the yml's floor to
LATE_FLOOR at LATE_END and stays there. Until LATE_START the run is the yml's, step for step.
Run from benchmarks/: LATE_START=100000 LATE_END=180000 LATE_FLOOR=0.02 python bench_late_eps.py <bench_qmix args>"""

import os
import runpy
import sys

from sb3_marl.qmix import QMIX

LATE_START = int(os.environ.get("LATE_START", 100_000))
LATE_END = int(os.environ.get("LATE_END", 180_000))
LATE_FLOOR = float(os.environ.get("LATE_FLOOR", 0.02))
_original = QMIX._update_exploration_rate


def _late_update(self) -> None:
    _original(self)
    if self.num_timesteps > LATE_START:
        fraction = min(1.0, (self.num_timesteps - LATE_START) / (LATE_END - LATE_START))
        self.exploration_rate = self.exploration_final_eps + fraction * (LATE_FLOOR - self.exploration_final_eps)


QMIX._update_exploration_rate = _late_update
print(f"late exploration decay: {LATE_START}-{LATE_END} steps to {LATE_FLOOR}", flush=True)
sys.argv = ["bench_qmix.py", *sys.argv[1:]]
runpy.run_path("bench_qmix.py", run_name="__main__")
