"""One-off trial (twenty-eighth session): the twenty-third session's mirror-symmetrized agents (bench_sym.py, run with
-params gradient_steps:16) plus exponential moving averages of the agent network's weights, updated after every
rollout's updates with rates EMA_TAUS; they only read the weights, so training is bit for bit bench_sym16's. At exit
the averages are saved to /tmp/s28/trial/ema/<map>_seed<S>.pt for ema_eval.py.
Run from benchmarks/: python /tmp/s28/trial/bench_sym_ema.py <bench_qmix args> --maps 2m_vs_1z --seeds S"""

import atexit
import copy
import os
import runpy
import sys

import torch

sys.path.insert(0, "/tmp/s28/trial")
import sym_patch  # noqa: E402,F401  (patches QMIXPolicy)

from sb3_marl.qmix import QMIX  # noqa: E402

EMA_TAUS = (0.03, 0.01)
_averages: dict[float, dict[str, torch.Tensor]] = {}
_original_train = QMIX.train


def train(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    result = _original_train(self, *args, **kwargs)
    with torch.no_grad():
        weights = self.policy.agent.state_dict()
        for tau in EMA_TAUS:
            if tau not in _averages:
                _averages[tau] = copy.deepcopy(weights)
            else:
                for name, value in weights.items():
                    _averages[tau][name].lerp_(value, tau)
    return result


QMIX.train = train
seed = sys.argv[sys.argv.index("--seeds") + 1]
map_name = sys.argv[sys.argv.index("--maps") + 1]


@atexit.register
def _save() -> None:
    os.makedirs("/tmp/s28/trial/ema", exist_ok=True)
    torch.save(_averages, f"/tmp/s28/trial/ema/{map_name}_seed{seed}.pt")


sys.argv = ["bench_qmix.py"] + sys.argv[1:]
runpy.run_path("bench_qmix.py", run_name="__main__")
