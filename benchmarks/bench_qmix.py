"""QMIX on the built-in SMAC simulator: learning results per map and the cost of one training update.

    python benchmarks/bench_qmix.py                                  # 4 maps, settings of hyperparams/qmix.yml
    python benchmarks/bench_qmix.py --maps 3m --timesteps 50000      # smaller run
    python benchmarks/bench_qmix.py --update-timing-only             # fused-GRU update vs a PyMARL-style loop
    python benchmarks/bench_qmix.py --update-timing-only --update-timing-maps 2m_vs_1z   # and the mirror's cost
    python benchmarks/bench_qmix.py --skip-update-timing --compile   # torch.compile'd simulator step
    python benchmarks/bench_qmix.py --skip-update-timing --compile --seeds 0 1 2   # how reliably each map learns
    python benchmarks/bench_qmix.py --skip-update-timing --compile --eval-freq 25000   # also test the best-eval model
    python benchmarks/bench_qmix.py --skip-update-timing --compile --wide-test-episodes 256   # finer win rate
    python benchmarks/bench_qmix.py --skip-update-timing --maps 3m -params optimizer_kwargs:"{eps: 1e-5}"   # a trial
    python benchmarks/bench_qmix.py --skip-update-timing --compile --maps 2m_vs_1z --seeds 3 --save-folder models

Each map trains with its entry of ``hyperparams/qmix.yml`` (what ``zoo/train.py`` uses: 205k env steps on the four paper
maps) unless ``--timesteps`` overrides the budget; ``-params key:value ...`` (RL Zoo's flag, values read as YAML) sets
keys over the entry of every map trained, to try a setting without editing the yml, and each result line names them. Per
map it prints the greedy test win rate and return (mean +/- std over ``--eval-episodes`` episodes on envs seeded
``seed + 1000``), the training wall time and env steps per second; with several ``--seeds``, one line per seed and a
summary per map (win rates, how many seeds reach the issue's goal of 0.95, slowest training). With ``--eval-freq N`` the
training also evaluates the model every ``N`` env steps on validation envs seeded ``seed + 2000`` and keeps the best
one, as ``zoo/train.py``'s EvalCallback keeps ``best_model.zip``; that model is tested on the same test episodes as the
final one (a fresh test env for each) and reported beside it, followed by the win rate of every evaluation
(``evals=[...]``, the learning curve; the wall time, and so env steps per second, then include the evaluations). With
``--wide-test-episodes N`` the final model (and the best-eval one) also plays ``N`` more greedy episodes on envs seeded
``seed + 5000`` (``wide_win_rate``, with a 95 % Wilson interval): 32 test games cannot tell a policy that wins 90 % of
its games from one that wins 97 %. Where the entry sets ``final_selection_episodes`` (three maps), the line also names
the agent network ``learn`` kept and each played candidate's validation win rate (the wall time includes those
episodes), and when that is not the online network, the online network's test (and wide test) win rate as well.
The update timing compares one training update (batch of 32 full-length episodes; the
loss, its backward pass and the gradient clipping, without the optimizer step, which is the same for both) of this QMIX
(fused ``nn.GRU`` over time) with the same update written as PyMARL does it (a ``GRUCell`` called once per time step),
both with PyMARL's network (64 GRU units) and one-step double-Q target rather than the yml's settings, and
prints what each augmentation of the batch that the map allows (``agent_permutation``, ``mirror_augmentation``) adds to
it. With ``--compile`` the training env's step (and the validation env's) runs through ``torch.compile``; the test envs
stay eager: the wall time then includes loading the compiled step from torch's on-disk cache, or compiling it on a
machine's first run for that map. Torch keeps its default threads (one per core: a training alone on the machine) unless
``--threads`` sets them; two benchmark processes on a 2-core machine take ``--threads 1`` each."""

from __future__ import annotations

import argparse
import functools
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from sb3_marl.common.augmentation import AUGMENTATIONS, allowed_augmentations
from sb3_marl.common.callbacks import EvalCallback
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.common.validation import whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv, game_env_kwargs
from sb3_marl.envs.make_env import make_env
from sb3_marl.envs.maps import MAP_NAMES
from sb3_marl.qmix import QMIX
from sb3_marl.qmix.final_network import cloned_weights
from zoo.exp_manager import ZOO_KEYS
from zoo.utils import (
    FLAG_SETTINGS,
    add_hyperparams_flag,
    check_hyperparams,
    hyperparams_entry,
    one_line,
    parse_schedule,
    unwritable_folder,
)

PAPER_MAPS = ("2m_vs_1z", "3m", "3s_vs_3z", "2s3z")
GOAL_WIN_RATE = 0.95  # the paper's vanilla QMIX column, the goal per map
GOAL_WALL_S = 300.0  # the goal: under 5 minutes per map on a 2-core CPU
#: largest training seed: the wide-test envs play seed + 5000 + b (b < 8), and env seeds are unsigned 32-bit
MAX_BENCH_SEED = 2**32 - 5000 - 8


class SeedResult(NamedTuple):
    """What one training of one map and seed measured."""

    win_rate: float  # greedy test win rate of the final model
    wall_s: float  # training wall time (s), evaluations included
    best_win_rate: float | None  # test win rate of the best-eval model (``--eval-freq``), else None
    wide_win_rate: float | None  # final model's win rate over ``--wide-test-episodes`` more episodes, else None
    best_wide_win_rate: float | None  # the same for the best-eval model (both options given), else None


def wilson_interval(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a win rate from ``wins`` of ``n`` games (95 % for ``z`` = 1.96)."""
    p, z2 = wins / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return float(centre - half), float(centre + half)


def wide_test(model: QMIX, map_name: str, seed: int, n_episodes: int, env_kwargs: dict[str, Any]) -> tuple[float, str]:
    """Win rate of ``model`` over ``n_episodes`` greedy episodes on envs seeded ``seed + 5000`` (other starts than the
    test episodes: a finer estimate of the policy's win rate; ``env_kwargs`` those of the test envs), and a report with
    its 95 % Wilson interval."""
    _, _, wins = evaluate_policy(
        model, make_env(map_name, n_envs=8, seed=seed + 5000, **env_kwargs), n_episodes, return_episode_rewards=True
    )
    low, high = wilson_interval(sum(wins), len(wins))
    win_rate = float(np.mean(wins))
    return win_rate, f"wide_win_rate={win_rate:.3f} (95% CI {low:.2f}-{high:.2f}, {len(wins)} episodes) "


def test_online_network(
    model: QMIX,
    make_test_env: Callable[[], BatchedMultiAgentEnv],
    map_name: str,
    seed: int,
    args: argparse.Namespace,
    env_kwargs: dict[str, Any],
) -> str:
    """A report of the test (and wide test) win rate of ``model``'s online agent network as trained, before ``learn``
    kept another one (``model.agent_before_selection``); the model keeps the network it chose."""
    kept = cloned_weights(model.policy.agent)
    model.policy.agent.load_state_dict(model.agent_before_selection)
    try:
        win_rate, _, _ = evaluate_policy(model, make_test_env(), args.eval_episodes)
        report = f"online network's win_rate={win_rate:.3f} "
        if args.wide_test_episodes > 0:
            report += wide_test(model, map_name, seed, args.wide_test_episodes, env_kwargs)[1]
    finally:
        model.policy.agent.load_state_dict(kept)
    return report


def yml_model(
    map_name: str, seed: int, compile_step: bool, params: dict[str, Any] | None = None
) -> tuple[QMIX, dict[str, Any]]:
    """QMIX with ``map_name``'s entry of ``hyperparams/qmix.yml`` (``params`` set over it) on its training env (the
    entry's ``n_envs``, seeded ``seed``), and that entry, whose ``env_kwargs`` then include ``compile``
    (``compile_step``: torch.compile the simulator step) for the evaluation envs."""
    entry = {**hyperparams_entry("qmix", map_name), **(params or {})}
    env_kwargs = {**(entry.get("env_kwargs") or {}), "compile": compile_step}
    env = make_env(map_name, n_envs=whole_number("n_envs", entry.get("n_envs", 1), 1), seed=seed, **env_kwargs)
    kwargs = {key: parse_schedule(key, value) for key, value in entry.items() if key not in ZOO_KEYS}
    return QMIX(env, seed=seed, device="cpu", **kwargs), {**entry, "env_kwargs": env_kwargs}


def training_timesteps(args: argparse.Namespace, entry: dict[str, Any]) -> int:
    """The env steps a map trains for: ``--timesteps``, else its entry's ``n_timesteps`` (ValueError unless a whole
    number >= 1)."""
    return whole_number("n_timesteps", args.timesteps or entry["n_timesteps"], 1)


def saved_model_path(folder: str, map_name: str, seed: int, best: bool = False) -> Path:
    """Where ``--save-folder`` keeps the final model (``best``: the best-eval one) of a map and seed."""
    return Path(folder) / f"{map_name}_seed{seed}{'_best' if best else ''}.zip"


def check_map_settings(map_name: str, args: argparse.Namespace) -> None:
    """Build the model of ``map_name``'s settings (its yml entry with ``-params``) and its training env as
    :func:`train_and_test` does, without training, and check its budget and what ``learn`` checks at its start.

    :raises ValueError, TypeError: the model's or the env's message naming the setting refused.
    :raises SystemExit: a ``lin_<v>`` schedule the zoo cannot read.
    """
    model, entry = yml_model(map_name, args.seeds[0], args.compile, args.hyperparams)
    try:
        training_timesteps(args, entry)
        model.check_learn_settings()
    finally:
        model.env.close()


def train_and_test(map_name: str, seed: int, args: argparse.Namespace) -> SeedResult:
    """Train QMIX on ``map_name`` with the yml's settings and ``seed``, test it greedily; print one line."""
    if args.compile:  # torch compiles at most 8 versions of the step per process, then runs it eager unannounced
        torch._dynamo.reset()
    model, entry = yml_model(map_name, seed, args.compile, args.hyperparams)
    n_timesteps = training_timesteps(args, entry)
    n_envs, env_kwargs = model.env.n_envs, entry["env_kwargs"]
    test_env_kwargs = game_env_kwargs(env_kwargs)  # the test envs: the training's game, eager

    def make_test_env() -> BatchedMultiAgentEnv:
        """A fresh test env (the training's env settings): each model tested plays the same episodes."""
        return make_env(map_name, n_envs=min(args.eval_episodes, 8), seed=seed + 1000, **test_env_kwargs)

    with tempfile.TemporaryDirectory() as folder:
        callback = None
        if args.eval_freq > 0:
            eval_env = make_env(map_name, n_envs=min(args.eval_episodes, 8), seed=seed + 2000, **env_kwargs)
            callback = EvalCallback(
                eval_env,
                n_eval_episodes=args.eval_episodes,
                best_model_save_path=folder,
                eval_freq=max(args.eval_freq // n_envs, 1),
                verbose=0,
            )
        start = time.perf_counter()
        model.learn(n_timesteps, callback=callback)
        wall = time.perf_counter() - start
        win_rate, mean_reward, std_reward = evaluate_policy(model, make_test_env(), args.eval_episodes)
        if args.save_folder:  # after the training, so that saving never counts in the wall time
            model.save(saved_model_path(args.save_folder, map_name, seed))
        eval_report = ""  # the best-eval model's test and the learning curve (--eval-freq)
        best_win_rate = best_wide_win_rate = None
        if callback is not None and (Path(folder) / "best_model.zip").exists():
            if args.save_folder:
                shutil.copy(Path(folder) / "best_model.zip", saved_model_path(args.save_folder, map_name, seed, True))
            best_model = QMIX.load(Path(folder) / "best_model.zip", device="cpu")
            best_win_rate, best_reward, _ = evaluate_policy(best_model, make_test_env(), args.eval_episodes)
            eval_report = (
                f"best-eval model (step {best_model.num_timesteps}): win_rate={best_win_rate:.3f} "
                f"return={best_reward:.2f} "
            )
            if args.wide_test_episodes > 0:
                best_wide_win_rate, wide_report = wide_test(
                    best_model, map_name, seed, args.wide_test_episodes, test_env_kwargs
                )
                eval_report += wide_report
        if callback is not None:  # the learning curve: eval win rate at each evaluation
            eval_report += f"evals=[{' '.join(f'{np.mean(wins):.2f}' for wins in callback.evaluations_wins)}] "
    wide_win_rate = None
    if args.wide_test_episodes > 0:
        wide_win_rate, wide_report = wide_test(model, map_name, seed, args.wide_test_episodes, test_env_kwargs)
        eval_report += "final model's " + wide_report
    if model.final_selection is not None:  # final_selection_episodes: the agent network learn() kept
        chosen, validation = model.final_selection
        rates = " / ".join(f"{name} {rate:.3f}" for name, rate in validation.items())
        eval_report += f"final network={chosen} (validation {rates}) "
        if chosen != "online":  # and the network as trained, on the same test episodes
            eval_report += test_online_network(model, make_test_env, map_name, seed, args, test_env_kwargs)
    print(
        f"{map_name:10s} seed={seed} steps={model.num_timesteps:7d} win_rate={win_rate:.3f} "
        f"return={mean_reward:.2f} +/- {std_reward:.2f} {eval_report}wall={wall:.0f}s "
        f"env_steps/s={model.num_timesteps / wall:.0f} gradient_steps={model.gradient_steps} "
        f"target_update_interval={model.target_update_interval} tau={model.tau} compile={args.compile} "
        f"threads={torch.get_num_threads()}" + (f" params={args.hyperparams}" if args.hyperparams else ""),
        flush=True,
    )
    return SeedResult(win_rate, wall, best_win_rate, wide_win_rate, best_wide_win_rate)


def summarize(map_name: str, results: list[SeedResult]) -> None:
    """One line over the seeds of a map: win rates, seeds reaching the goal, slowest training."""

    def rates(wins: list[float], label: str) -> str:
        reached = sum(w >= GOAL_WIN_RATE for w in wins)
        return (
            f"{label} {' / '.join(f'{w:.2f}' for w in wins)} (mean {np.mean(wins):.2f}; >= {GOAL_WIN_RATE}: "
            f"{reached}/{len(wins)} seeds)"
        )

    line = rates([r.win_rate for r in results], "win_rate")
    if all(r.best_win_rate is not None for r in results):
        line += "; " + rates([r.best_win_rate for r in results], "best-eval model")
    if all(r.wide_win_rate is not None for r in results):
        line += "; " + rates([r.wide_win_rate for r in results], "final model's wide test")
    if all(r.best_wide_win_rate is not None for r in results):
        line += "; " + rates([r.best_wide_win_rate for r in results], "best-eval model's wide test")
    slowest = max(r.wall_s for r in results)
    print(
        f"{map_name:10s} over {len(results)} seeds: {line}; slowest training {slowest:.0f}s "
        f"(goal < {GOAL_WALL_S:.0f}s)",
        flush=True,
    )


def _full_batch(model: QMIX, batch_size: int) -> dict[str, torch.Tensor]:
    """``batch_size`` random full-length episodes with every field of the model's buffer."""
    shapes = model.env_shapes
    t = shapes["episode_limit"] + 1
    g = torch.Generator().manual_seed(0)
    batch = {
        name: torch.zeros((batch_size, t, *shape), dtype=dtype)
        for name, (shape, dtype) in model._episode_field_specs().items()
    }
    batch["obs"].uniform_(-1, 1, generator=g)
    batch["state"].uniform_(-1, 1, generator=g)
    batch["avail_actions"][:] = torch.rand(batch["avail_actions"].shape, generator=g) < 0.7  # some unavailable
    batch["actions"].random_(0, shapes["n_actions"], generator=g)
    batch["avail_actions"].scatter_(-1, batch["actions"].unsqueeze(-1), True)  # the actions taken were available
    batch["reward"].uniform_(0, 1, generator=g)
    batch["filled"][:, :-1] = True
    batch["terminated"][: batch_size // 2, t - 2] = True  # half the episodes end in a terminal state at the limit
    return batch


def pymarl_loop_loss(model: QMIX, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The same one-step double-Q loss computed as PyMARL's ``QLearner`` does: a GRUCell called once per time step,
    the next action chosen by the online network among the available ones, no bootstrap after a terminal step."""
    policy = model.policy
    n, a = policy.n_agents, policy.n_actions
    cells = {}
    for name, agent in (("online", policy.agent), ("target", policy.agent_target)):
        cell = torch.nn.GRUCell(agent.hidden_dim, agent.hidden_dim)
        cell.weight_ih, cell.weight_hh = agent.rnn.weight_ih_l0, agent.rnn.weight_hh_l0
        cell.bias_ih, cell.bias_hh = agent.rnn.bias_ih_l0, agent.rnn.bias_hh_l0
        cells[name] = (agent, cell)
    b, t = batch["obs"].shape[:2]
    actions = batch["actions"]
    onehot = torch.nn.functional.one_hot(actions, a).float()
    outs = {}
    for name, (agent, cell) in cells.items():
        hidden = torch.zeros(b * n, agent.hidden_dim)
        qs = []
        for step in range(t):
            last = torch.zeros(b, n, a) if step == 0 else onehot[:, step - 1]
            x = policy._agent_inputs(batch["obs"][:, step], last).reshape(b * n, -1)
            hidden = cell(torch.relu(agent.fc1(x)), hidden)
            qs.append(agent.fc2(hidden).view(b, n, a))
        outs[name] = torch.stack(qs, dim=1)
    q, q_target = outs["online"], outs["target"].detach()
    q_taken = q[:, :-1].gather(-1, actions[:, :-1].unsqueeze(-1)).squeeze(-1)
    best = q[:, 1:].detach().masked_fill(~batch["avail_actions"][:, 1:], -9999999).argmax(-1, keepdim=True)
    next_q = policy.mix(q_target[:, 1:].gather(-1, best).squeeze(-1), batch["state"][:, 1:], target=True)
    targets = batch["reward"][:, :-1] + model.gamma * (1 - batch["terminated"][:, :-1].float()) * next_q
    mask = batch["filled"][:, :-1].float()
    td = (policy.mix(q_taken, batch["state"][:, :-1]) - targets.detach()) * mask
    return td.pow(2).sum() / mask.sum()


def time_update(map_name: str, repeats: int) -> None:
    """Time one update of PyMARL's QMIX (its default network and one-step target, not the yml's training settings:
    the comparison is of the two ways to run the GRU) against :func:`pymarl_loop_loss`, after checking both give the
    same loss on the same batch."""
    model = QMIX(make_env(map_name, n_envs=1, seed=0), seed=0, device="cpu")
    batch = _full_batch(model, 32)
    fused_loss, _ = model._td_loss(batch)
    torch.testing.assert_close(fused_loss, pymarl_loop_loss(model, batch), rtol=1e-4, atol=1e-4)

    def update(loss_fn) -> float:
        """Wall time of one update (loss, backward, gradient clipping; no optimizer step) in ms."""
        start = time.perf_counter()
        loss = loss_fn()
        model.policy.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.policy.online_parameters(), model.max_grad_norm)
        return (time.perf_counter() - start) * 1000

    fused_fn, loop_fn = (lambda: model._td_loss(batch)[0]), (lambda: pymarl_loop_loss(model, batch))
    update(fused_fn), update(loop_fn)  # warm-up
    # alternate the two versions so that a busy machine slows both alike; report medians
    times = np.array([[update(fused_fn), update(loop_fn)] for _ in range(repeats)])
    fused, loop = np.median(times, axis=0)
    print(
        f"update {map_name:6s} batch=32x{batch['obs'].shape[1]} steps, PyMARL's network ({model.policy.hidden_dim} GRU "
        f"units) and one-step double-Q target: fused GRU {fused:.1f} ms, GRUCell loop {loop:.1f} ms, speed-up "
        f"x{loop / fused:.2f} (median of {repeats} alternating runs, threads={torch.get_num_threads()})",
        flush=True,
    )
    for setting in allowed_augmentations(model.env):  # the batch augmentations this map allows
        augmentation_class = AUGMENTATIONS[setting]
        augment = functools.partial(augmentation_class.for_env(model.env), batch, model._generator)
        augment_ms = np.median([_timed_ms(augment) for _ in range(repeats)])
        name = augmentation_class.__name__
        print(f"  {name} of that batch: {augment_ms:.2f} ms ({augment_ms / fused:.1%} of the fused update)", flush=True)


def _timed_ms(function: Callable[[], object]) -> float:
    """Wall time of one call of ``function`` in ms."""
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad values before any training starts (a typo in the last map would otherwise end a long run)."""
    unknown = [name for name in [*args.maps, *args.update_timing_maps] if name not in MAP_NAMES]
    if unknown:
        parser.error(f"unknown maps {unknown}; known maps: {', '.join(MAP_NAMES)}")
    for flag, values in (("--maps", args.maps), ("--seeds", args.seeds)):  # each would train (and save) twice
        repeated = sorted({value for value in values if values.count(value) > 1})
        if repeated:
            parser.error(f"{flag} {' '.join(map(str, values))}: {repeated} given more than once; give each once")
    for name, low in (
        ("timesteps", 0),
        ("eval_episodes", 1),
        ("eval_freq", 0),
        ("wide_test_episodes", 0),
        ("timing_repeats", 1),
    ):
        if getattr(args, name) < low:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= {low}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads={args.threads} must be >= 1")
    if any(not 0 <= seed <= MAX_BENCH_SEED for seed in args.seeds):
        parser.error(
            f"--seeds {args.seeds}: seeds must be in [0, {MAX_BENCH_SEED}] (the test envs play seed + 5000 and up, "
            "unsigned 32-bit seeds)"
        )
    if args.update_timing_only and args.skip_update_timing:
        parser.error("--update-timing-only and --skip-update-timing together leave nothing to run")
    set_by_the_benchmark = sorted(set(args.hyperparams) & set(FLAG_SETTINGS))
    if set_by_the_benchmark:
        parser.error(f"-params {set_by_the_benchmark}: the benchmark sets these (--seeds, device cpu, no logging)")
    if "n_timesteps" in args.hyperparams and args.timesteps:
        parser.error("-params n_timesteps and --timesteps both set the training budget: give one of them")
    env_kwargs = args.hyperparams.get("env_kwargs")
    if isinstance(env_kwargs, dict) and "compile" in env_kwargs:  # yml_model sets it from --compile
        parser.error("-params env_kwargs: compile is set by --compile (torch.compile the training env's step)")
    try:
        check_hyperparams(QMIX, {k: v for k, v in args.hyperparams.items() if k != "n_timesteps"}, "-params")
    except SystemExit as error:
        parser.error(str(error))
    trained_maps = [] if args.update_timing_only else args.maps
    for map_name in trained_maps:  # the settings fail here, not after the update timing and the earlier maps
        try:
            check_map_settings(map_name, args)
        except (ValueError, TypeError, SystemExit) as error:
            parser.error(f"{map_name}'s settings (hyperparams/qmix.yml entry and -params) refused: {one_line(error)}")
    if args.save_folder:
        check_save_folder(parser, args, trained_maps)


def check_save_folder(parser: argparse.ArgumentParser, args: argparse.Namespace, maps: list[str]) -> None:
    """Refuse a ``--save-folder`` where models cannot be written, or that already holds a model file the run would
    write (of ``maps`` and ``--seeds``): nothing is overwritten."""
    problem = unwritable_folder(Path(args.save_folder))
    if problem:
        parser.error(f"--save-folder {args.save_folder!r}: {problem}")
    kinds = (False, True) if args.eval_freq > 0 else (False,)  # the best-eval model too with --eval-freq
    taken = [
        path.name
        for map_name in maps
        for seed in args.seeds
        for best in kinds
        if (path := saved_model_path(args.save_folder, map_name, seed, best)).exists()
    ]
    if taken:
        parser.error(
            f"--save-folder {args.save_folder!r} already holds {', '.join(taken)}: pick another folder or delete them"
        )


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: ``sys.argv[1:]``), check everything, then time and train."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", nargs="+", default=list(PAPER_MAPS))
    parser.add_argument("--timesteps", type=int, default=0, help="env steps per map (0: the yml's n_timesteps)")
    parser.add_argument("--seeds", "--seed", nargs="+", type=int, default=[0], help="training seeds, one run each")
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument(
        "--eval-freq",
        type=int,
        default=0,
        help="evaluate every N env steps on validation envs and also test the best model (0: never)",
    )
    parser.add_argument(
        "--wide-test-episodes",
        type=int,
        default=0,
        help="also test the final and best-eval models on N more episodes (envs seeded seed + 5000; 0: not)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's own, one per core, as one training alone uses the machine; "
        "1 when two benchmark processes share two cores)",
    )
    parser.add_argument("--update-timing-only", action="store_true")
    parser.add_argument("--skip-update-timing", action="store_true")
    parser.add_argument("--timing-repeats", type=int, default=10)
    parser.add_argument(
        "--update-timing-maps", nargs="+", default=["3m", "2s3z"], help="maps whose update is timed (the issue's two)"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the training env's step")
    parser.add_argument(
        "--save-folder",
        default="",
        help="keep each final model as <folder>/<map>_seed<S>.zip (and the best-eval one as ..._best.zip), e.g. to "
        "study a seed that missed the goal with QMIX.load (default: not kept); refused when it already holds one of "
        "them",
    )
    add_hyperparams_flag(
        parser,
        'settings over the yml entry of every map trained, e.g. -params optimizer_kwargs:"{eps: 1e-5}" tau:0.05',
        default={},
    )
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.save_folder:
        Path(args.save_folder).mkdir(parents=True, exist_ok=True)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if not args.skip_update_timing:
        for map_name in args.update_timing_maps:
            time_update(map_name, args.timing_repeats)
    if args.update_timing_only:
        return
    for map_name in args.maps:
        results = [train_and_test(map_name, seed, args) for seed in args.seeds]
        if len(results) > 1:
            summarize(map_name, results)


if __name__ == "__main__":
    main()
