"""Play a trained agent, optionally under attack: win rate, return, and a replay of the battle.

On the built-in simulator the replay is a GIF (or an MP4 when ``--output`` ends in .mp4) in which agents whose
greedy action the attack changed at that step are marked.  With ``--backend sc2`` the game's own replay is saved.

Examples::

    python zoo/enjoy.py --algo qmix --env 3m
    python zoo/enjoy.py --algo fgsm --env 2s3z --attack fgsm --load-best -n 32 --output fgsm_2s3z.mp4
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make the repo root importable so `zoo.*` resolves
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sb3_marl.common.validation import finite_float
from zoo.utils import (
    ALGOS,
    ATTACK_NAMES,
    LEARNED_ATTACKS,
    StoreDict,
    ZooArgumentParser,
    check_attack_budget,
    check_compile_backend,
    checkpoint_steps,
    find_run_folder,
    load_zoo_model,
    make_attack,
    map_name_argument,
    paper_epsilon,
    read_run_yaml,
    resolve_device,
    set_num_threads,
    unwritable_file,
)

ATTACK_CHOICES = ["none", *ATTACK_NAMES, *LEARNED_ATTACKS]
#: envs stepped together while an atla / paad attacker trains against the model
ATTACKER_N_ENVS = 8


def build_parser() -> argparse.ArgumentParser:
    """The command-line flags (names of rl-zoo3's ``enjoy.py`` where they exist)."""
    parser = ZooArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", required=True, choices=list(ALGOS), help="algorithm")
    parser.add_argument("--env", required=True, type=map_name_argument, help="SMAC map name")
    parser.add_argument("-f", "--folder", default="logs", help="log folder holding <algo>/<env>_<id>/")
    parser.add_argument(
        "--exp-id", type=int, default=0, help="run id (0: latest; -1: the model is in <folder>/<algo>/ itself)"
    )
    model_choice = parser.add_mutually_exclusive_group()
    model_choice.add_argument("--load-best", action="store_true", help="load best_model.zip")
    model_choice.add_argument("--load-checkpoint", type=int, default=None, help="load rl_model_<N>_steps.zip")
    model_choice.add_argument(
        "--load-last-checkpoint", action="store_true", help="load the checkpoint with the most steps"
    )
    parser.add_argument("-n", "--n-episodes", type=int, default=32, help="episodes to play")
    parser.add_argument(
        "--n-envs", type=int, default=1, help="envs simulated as one batch (the replay records env 0's episodes)"
    )
    greedy = parser.add_mutually_exclusive_group()
    greedy.add_argument("--deterministic", dest="deterministic", action="store_true", default=True, help="greedy")
    greedy.add_argument("--stochastic", dest="deterministic", action="store_false", help="epsilon-greedy")
    parser.add_argument("--seed", type=int, default=0, help="seed of the env and the attack")
    parser.add_argument("--attack", default="none", choices=ATTACK_CHOICES, help="attack on the observations")
    parser.add_argument("--epsilon", type=float, default=None, help="attack budget (default: the run's or paper's)")
    parser.add_argument("--attacker-timesteps", type=int, default=50_000, help="atla/paad: attacker training steps")
    parser.add_argument(
        "--no-clip",
        dest="clip_observations",
        action="store_false",
        help="fgsm/pgd/random: do not clip perturbed observations to SMAC's feature ranges "
        "(default: clip, as the training attacks and the benchmark do)",
    )
    parser.add_argument("--no-render", action="store_true", help="write no replay")
    parser.add_argument("--record-episodes", type=int, default=1, help="episodes recorded in the replay")
    parser.add_argument(
        "--output", default="", help="replay file, .gif or .mp4 (default: <run>/replays/<model>-<attack>[_k].gif, new)"
    )
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of the replay")
    parser.add_argument(
        "--env-kwargs",
        nargs="+",
        action=StoreDict,
        default={},
        help="make_env keywords, key:value with yaml values, over the game the model trained in (its run's "
        "config.yml, else its file's record), e.g. reward_sparse:true (RL Zoo's flag)",
    )
    parser.add_argument("--backend", default="sim", choices=["sim", "sc2"], help="built-in simulator or real SMAC")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--num-threads", type=int, default=-1, help="torch threads (-1: torch's default)")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the simulator's step in the env an atla/paad attacker trains on (8 envs; "
        "the one-env replay itself stays eager: it plays too few steps to repay a compilation)",
    )
    parser.add_argument("--verbose", type=int, default=1, help="1: one line per episode")
    return parser


def model_path(
    run: Path, env_name: str, load_best: bool, checkpoint: int | None, last_checkpoint: bool = False
) -> Path:
    """The model file to load from a run folder; ``SystemExit`` listing what is there when it is missing."""
    if last_checkpoint:
        steps = checkpoint_steps(run)
        if not steps:
            raise SystemExit(f"No checkpoint rl_model_<N>_steps.zip in {run} (train with --save-freq)")
        checkpoint = steps[-1]
    if load_best:
        path = run / "best_model.zip"
    elif checkpoint is not None:
        path = run / f"rl_model_{checkpoint}_steps.zip"
        if not path.is_file():
            raise SystemExit(f"No checkpoint {path.name} in {run}; available steps: {checkpoint_steps(run) or 'none'}")
    else:
        path = run / f"{env_name}.zip"
    if not path.is_file():
        models = sorted(p.name for p in run.glob("*.zip"))
        raise SystemExit(f"No model {path.name} in {run}; models there: {models or 'none'}")
    return path


@dataclass
class EpisodeLog:
    """What was played: returns and wins per episode, frames of the recorded episodes, attack-changed actions."""

    returns: list[float] = field(default_factory=list)
    wins: list[bool] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    recorded_episodes: int = 0
    changed_actions: int = 0
    actions: int = 0  # actions of agents with a choice (living), at every counted step


class Player:
    """Runs a trained policy on a batched env, under an optional attack, counting a fixed share of episodes per env.

    :param model: a loaded QMIX-family model (its ``policy`` is a ``QMIXPolicy``)
    :param env: a batched env on the model's device
    :param attack: an attack with ``perturb(policy, obs, avail, last_action_onehot, hidden, state)``, or None
    :param epsilon: exploration rate of the agents (0: greedy)
    :param seed: seed of the action-selection generator
    """

    def __init__(self, model: Any, env: Any, attack: Any | None, epsilon: float, seed: int):
        self.policy = model.policy
        self.env = env
        self.attack = attack
        if attack is not None:
            attack.use_env_bounds(env)
        self.epsilon = epsilon
        self.generator = torch.Generator(device=self.policy.device).manual_seed(seed)

    def play(self, n_episodes: int, record_episodes: int, verbose: int = 1) -> EpisodeLog:
        """Play ``n_episodes`` over the env's ``n_envs`` envs and render env 0's first ``record_episodes`` (0: none).

        Env ``i`` counts ``(n_episodes + n_envs - 1 - i) // n_envs`` episodes (env 0 the most, so that it holds the
        recorded ones when it can); an env that reached its share keeps running uncounted, as in
        :func:`~sb3_marl.common.evaluation.evaluate_policy`. Episodes are logged in the order they end.
        """
        from sb3_marl.common.evaluation import play_episodes
        from sb3_marl.envs.render import render_frame

        n_envs = self.env.n_envs
        quota = [(n_episodes + n_envs - 1 - i) // n_envs for i in range(n_envs)]
        to_record = min(record_episodes, quota[0])
        log = EpisodeLog()
        choices: dict[str, torch.Tensor] = {}  # act() -> after_step(): which agents chose, which the attack changed

        def act(
            obs: torch.Tensor, state: torch.Tensor, avail: torch.Tensor, last_action: torch.Tensor, hidden: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            actions, q, changed, hidden_next = self._act(obs, state, avail, last_action, hidden)
            # agents with one available action (the dead: no-op only) have no action an attack could change
            choices.update(changed=changed, choosing=avail.sum(-1) > 1)
            if log.recorded_episodes < to_record:
                log.frames.append(render_frame(self.env, 0, marked_agents=changed[0].cpu().numpy()))
            return actions, q, hidden_next

        def after_step(step: dict[str, Any]) -> None:
            counting, terminated = step["counting"], step["terminated"]
            counted_choices = choices["choosing"] & counting.unsqueeze(-1)
            log.changed_actions += int((choices["changed"] & counted_choices).sum())
            log.actions += int(counted_choices.sum())
            if log.recorded_episodes < to_record and terminated[0]:
                log.frames.append(render_frame(self.env, 0))
                log.recorded_episodes += 1
            if verbose:
                won, episode_return = step["info"]["battle_won"], step["episode_return"]
                ended = torch.nonzero(terminated & counting).flatten().tolist()
                for number, i in enumerate(ended, start=len(step["played"].wins) + 1):
                    print(f"Episode {number}: return {float(episode_return[i]):.2f}, {'won' if won[i] else 'lost'}")

        played = play_episodes(self.policy, self.env, quota, act, after_step)
        log.returns, log.wins = played.returns, played.wins
        return log

    def _act(
        self,
        obs: torch.Tensor,
        state: torch.Tensor,
        avail: torch.Tensor,
        last_action: torch.Tensor,
        hidden: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actions on the (perturbed) observations, their Q-values, which agents' greedy action the attack changed,
        next hidden."""
        with torch.no_grad():
            q_clean, hidden_next = self.policy.q_values(obs, last_action, hidden)
        greedy_clean = self.policy.select_actions(q_clean, avail, 0.0)
        q = q_clean
        if self.attack is not None:
            perturbed = self.attack.perturb(self.policy, obs, avail, last_action, hidden, state)
            with torch.no_grad():
                q, hidden_next = self.policy.q_values(perturbed, last_action, hidden)
        changed = self.policy.select_actions(q, avail, 0.0) != greedy_clean
        actions = self.policy.select_actions(q, avail, self.epsilon, self.generator)
        return actions, q, changed, hidden_next


def build_attack(args: argparse.Namespace, model: Any, epsilon: float, env_kwargs: dict[str, Any]) -> Any | None:
    """The attack of ``--attack``: a gradient/noise attack, or a learned one trained against ``model`` first.

    :param env_kwargs: the env keywords the model plays with (:func:`play_env_kwargs`), given to the env a learned
        attacker trains on.
    """
    if args.attack in LEARNED_ATTACKS:
        train_attacker = LEARNED_ATTACKS[args.attack].load()
        print(f"Training a {args.attack} attacker against the model for {args.attacker_timesteps} steps")
        return train_attacker(
            model,
            kind=args.attack,
            epsilon=epsilon,
            total_timesteps=args.attacker_timesteps,
            env=args.env,
            n_envs=ATTACKER_N_ENVS,
            seed=args.seed,
            device=args.device,
            env_kwargs={**env_kwargs, "compile": True} if args.compile else env_kwargs,
        )
    return make_attack(args.attack, epsilon, clip_observations=args.clip_observations, seed=args.seed)


def warn_ignored_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Warn about flags that the other flags make do nothing (RL Zoo ignores them without a word)."""

    def given(name: str) -> bool:
        return getattr(args, name) != parser.get_default(name)

    records = not args.no_render and args.backend == "sim" and args.record_episodes > 0
    ignored = {
        "--compile (it compiles the env an atla / paad attacker trains in)": args.compile
        and args.attack not in LEARNED_ATTACKS,
        "--output (no replay is recorded with --no-render, --backend sc2 or --record-episodes 0)": bool(args.output)
        and not records,
        "--epsilon (no attack)": args.epsilon is not None and args.attack == "none",
        "--no-clip (only fgsm / pgd / random clip as asked; learned attackers always clip)": not args.clip_observations
        and args.attack not in ATTACK_NAMES,
        "--attacker-timesteps (only an atla / paad attacker trains)": given("attacker_timesteps")
        and args.attack not in LEARNED_ATTACKS,
        "--fps (no replay is recorded)": given("fps") and not records,
        "--record-episodes (no replay is drawn with --no-render or --backend sc2)": given("record_episodes")
        and (args.no_render or args.backend != "sim"),
    }
    for flag, unused in ignored.items():
        if unused:
            warnings.warn(f"{flag}: ignored", UserWarning, stacklevel=2)


def main(argv: list[str] | None = None) -> None:
    """The ``sb3-marl-enjoy`` command: :func:`enjoy` (a console script's return value is its exit status)."""
    enjoy(argv)


def enjoy(argv: list[str] | None = None) -> dict[str, float]:
    """Parse ``argv``, play, print the results, write the replay; returns the results as a dict."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.n_episodes < 1:
        parser.error(f"-n/--n-episodes must be >= 1, got {args.n_episodes}")
    if not 1 <= args.n_envs <= args.n_episodes:
        parser.error(f"--n-envs must be between 1 and -n/--n-episodes ({args.n_episodes}), got {args.n_envs}")
    from sb3_marl.envs.base import highest_batch_seed

    # env b plays seed + b, in the replay's batch and in a learned attacker's training batch
    n_envs = max(args.n_envs, ATTACKER_N_ENVS) if args.attack in LEARNED_ATTACKS else args.n_envs
    if not 0 <= args.seed <= highest_batch_seed(n_envs):
        parser.error(f"--seed must be in [0, {highest_batch_seed(n_envs)}] (= 2**32 - {n_envs}), got {args.seed}")
    if args.record_episodes < 0:
        parser.error(f"--record-episodes must be >= 0, got {args.record_episodes}")
    from sb3_marl.envs.render import VIDEO_SUFFIXES

    if args.output and Path(args.output).suffix.lower() not in VIDEO_SUFFIXES:
        parser.error(f"--output {args.output!r}: the replay is written as one of {', '.join(VIDEO_SUFFIXES)}")
    if args.output and (problem := unwritable_file(Path(args.output))):
        parser.error(f"--output {args.output!r}: {problem}")
    if not (math.isfinite(args.fps) and args.fps > 0):
        parser.error(f"--fps must be a finite number > 0, got {args.fps}")
    check_attack_budget(parser, "--epsilon", args.epsilon)
    if args.attack in LEARNED_ATTACKS and args.attacker_timesteps < 1:
        parser.error(f"--attacker-timesteps must be >= 1 for --attack {args.attack}, got {args.attacker_timesteps}")
    check_compile_backend(parser, args)
    warn_ignored_flags(parser, args)
    set_num_threads(parser, args)
    args.device = resolve_device(args.device)
    from sb3_marl.envs import make_env
    from sb3_marl.envs.sc2_backend import SC2NotAvailableError

    run = find_run_folder(args.folder, args.algo, args.env, args.exp_id)
    path = model_path(run, args.env, args.load_best, args.load_checkpoint, args.load_last_checkpoint)
    config_file = run / args.env / "config.yml"
    config = read_run_config(config_file)
    print(f"Loading {path}")
    try:
        model = load_zoo_model(args.algo, path, device=args.device)
    except (ValueError, TypeError) as exc:  # a corrupt file, another algorithm's model
        raise SystemExit(f"--algo {args.algo}: {exc}") from None
    selection = getattr(model, "final_selection", None)  # QMIX's final_selection_episodes: the network it kept
    if selection is not None:
        rates = ", ".join(f"{name} {rate:.3f}" for name, rate in selection[1].items())
        print(f"Agent network: {selection[0]} (kept at the end of training; validation win rates: {rates})")
    trained_kwargs = play_env_kwargs(config, model)
    env_kwargs = {**trained_kwargs, **args.env_kwargs}
    if env_kwargs != trained_kwargs:
        print(f"Playing with env_kwargs {env_kwargs} (the model trained with {trained_kwargs})")
    sources = [str(config_file if "env_kwargs" in config else path), *(["--env-kwargs"] if args.env_kwargs else [])]
    try:
        env = make_env(
            args.env, n_envs=args.n_envs, backend=args.backend, seed=args.seed, device=args.device, **env_kwargs
        )
    except (TypeError, ValueError) as exc:  # an unknown keyword or a bad value of the run's or of --env-kwargs
        raise SystemExit(f"env_kwargs {env_kwargs} (from {' and '.join(sources)}): {exc}") from None
    except SC2NotAvailableError as exc:  # as zoo/train.py: one line saying what to install
        raise SystemExit(f"--backend {args.backend}: {exc}") from None
    try:
        try:
            model.set_env(env)
        except ValueError as exc:  # --env-kwargs that change the sizes the model was built for
            raise SystemExit(f"env_kwargs {env_kwargs}: {exc}") from None
        return _play_and_report(args, run, path, config, env_kwargs, model)
    finally:
        env.close()


def read_run_config(path: Path) -> dict[str, Any]:
    """The run's ``config.yml`` (:func:`~zoo.utils.read_run_yaml`: empty when missing) with the settings enjoy plays
    by checked: ``env_kwargs``, a mapping of ``make_env`` keywords or null, and ``epsilon``, the attack budget the run
    trained with, a finite number >= 0 or null (0 and null: the paper's). Otherwise one line naming the file, the key
    and what it allows (``SystemExit``): a hand-edited file failed in the middle of playing, naming neither."""
    config = read_run_yaml(path)
    env_kwargs = config.get("env_kwargs")
    if env_kwargs is not None and not isinstance(env_kwargs, dict):
        raise SystemExit(f"{path}: env_kwargs={env_kwargs!r} must be a mapping of make_env keywords (or null)")
    if config.get("epsilon") is not None:
        try:
            finite_float("epsilon", config["epsilon"], low=0.0, meaning="the run's attack budget; 0: the paper's")
        except ValueError as exc:
            raise SystemExit(f"{path}: {exc}") from None
    return config


def play_env_kwargs(config: dict[str, Any], model: Any) -> dict[str, Any]:
    """The env settings to play ``model`` in: the run's (its ``config.yml``), else those its model file records (a
    model copied without its run folder; model files older than that record hold none)."""
    from sb3_marl.envs.base import game_env_kwargs

    if "env_kwargs" in config:  # without the run-time keywords (compile is --compile's to give)
        return game_env_kwargs(config["env_kwargs"] or {})
    return game_env_kwargs(model.env_kwargs)


def _play_and_report(
    args: argparse.Namespace, run: Path, path: Path, config: dict[str, Any], env_kwargs: dict[str, Any], model: Any
) -> dict[str, float]:
    """Play ``model`` in its env, print the results and write the replay; returns the results."""
    env = model.get_env()
    # the budget the model trained with (its run's, else its own, as a robust model records it), else the paper's
    trained_epsilon = config.get("epsilon", getattr(model, "epsilon", None))
    epsilon = args.epsilon if args.epsilon is not None else trained_epsilon or paper_epsilon(args.env)
    attack = build_attack(args, model, epsilon, env_kwargs)
    exploration = 0.0 if args.deterministic else float(getattr(model, "exploration_final_eps", 0.05))
    record = 0 if args.no_render or args.backend == "sc2" else args.record_episodes
    log = Player(model, env, attack, exploration, args.seed).play(args.n_episodes, record, args.verbose)

    results = {
        "win_rate": float(np.mean(log.wins)),
        "mean_reward": float(np.mean(log.returns)),
        "std_reward": float(np.std(log.returns)),
        "changed_action_rate": log.changed_actions / max(log.actions, 1),
    }
    attack_name = "no attack" if attack is None else f"{args.attack} attack (epsilon {epsilon})"
    print(f"{args.algo} on {args.env}, {attack_name}, {args.n_episodes} episodes:")
    print(f"Win rate: {results['win_rate']:.3f} ({sum(log.wins)}/{args.n_episodes})")
    print(f"Mean reward: {results['mean_reward']:.2f} +/- {results['std_reward']:.2f}")
    if attack is not None:
        rate = results["changed_action_rate"]
        print(f"Greedy actions changed by the attack: {rate:.1%} (of the living agents' actions)")
    if args.backend == "sc2" and not args.no_render:
        env.save_replay()
    elif log.frames:
        from sb3_marl.envs.render import save_video

        if log.recorded_episodes < record:
            print(
                f"Recorded {log.recorded_episodes} of {record} episodes: env 0 plays only that many of the "
                f"{args.n_episodes} (fewer --n-envs records more)"
            )

        output = Path(args.output) if args.output else _free_path(run / "replays" / f"{path.stem}-{args.attack}.gif")
        if output.exists():
            print(f"Overwriting {output}")
        output.parent.mkdir(parents=True, exist_ok=True)
        print(f"Replay: {save_video(log.frames, output, fps=args.fps)}")
    return results


def _free_path(path: Path) -> Path:
    """``path``, or ``<stem>_<k>`` beside it with the first free ``k`` (2, 3, ...): a default replay name never
    replaces an earlier replay (another epsilon, seed or model of the same run)."""
    candidate, k = path, 1
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.stem}_{k}{path.suffix}")
    return candidate


if __name__ == "__main__":
    main()
