"""Record a random-action rollout of the simulator, to compare two trees' compiled steps bit for bit (one-off check).

    PYTHONPATH=<tree> python bitwise_check.py MAP N_ENVS STEPS OUT.pt [eager]

Run it from two trees (thirty-second session: 8cef691, one compiled graph per step, and 7de71ad, three graphs) and
compare the files with ``torch.equal`` per field (obs, state, reward, terminated). The actions are drawn from the
availability masks by a generator seeded 0, so equal rollouts stay equal. Prints the first step's time (compile or
cache load) and the env-steps/s of 200 more steps.
"""

import sys
import time

import torch

from sb3_marl.envs import SMACSimulator

torch.set_num_threads(2)
map_name, n_envs, steps, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
compile_step = len(sys.argv) < 6 or sys.argv[5] != "eager"
start = time.perf_counter()
env = SMACSimulator(map_name, n_envs=n_envs, seed=0, compile=compile_step)
obs, state, avail = env.reset()
generator = torch.Generator().manual_seed(0)
record: dict[str, list[torch.Tensor]] = {"obs": [], "state": [], "reward": [], "terminated": []}
first_step_s = None


def step() -> tuple[torch.Tensor, ...]:
    """One batched step with random available actions; finished envs are reset."""
    global avail
    actions = torch.multinomial(avail.flatten(0, 1).float(), 1, generator=generator).view(n_envs, -1)
    obs, state, avail, reward, terminated, _ = env.step(actions)
    outputs = (obs, state, reward, terminated.clone())
    if terminated.any():
        _, _, avail = env.reset(terminated)
    return outputs


for _ in range(steps):
    outputs = step()
    if first_step_s is None:
        first_step_s = time.perf_counter() - start
    for values, value in zip(record.values(), outputs):
        values.append(value.clone())
timed = time.perf_counter()
for _ in range(200):
    step()
rate = 200 * n_envs / (time.perf_counter() - timed)
torch.save({name: torch.stack(values) for name, values in record.items()}, out)
print(f"{map_name} n_envs={n_envs} compile={compile_step} first step {first_step_s:.1f} s, {rate:,.0f} env-steps/s")
