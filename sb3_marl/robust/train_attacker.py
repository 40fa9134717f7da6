"""Train a fresh learned attacker (ATLA or PA-AD) against a saved, frozen model: the paper's test-time attacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sb3_marl.adversaries.adversary_env import PerturbationAdversaryEnv, TargetActionAdversaryEnv
from sb3_marl.adversaries.director import QMIXDirector
from sb3_marl.adversaries.mappo import MAPPO
from sb3_marl.attacks.base import check_epsilon
from sb3_marl.attacks.learned import ATLAAttack, LearnedAttack, PAADAttack
from sb3_marl.common.base_class import BaseMultiAgentAlgorithm
from sb3_marl.common.validation import model_device, settings_mapping, whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv, game_env_kwargs
from sb3_marl.robust.alternating import adversary_settings, check_adversary_kwargs, check_adversary_n_envs

#: the attacker kinds and their adversary algorithms
ATTACKER_CLASSES: dict[str, type[BaseMultiAgentAlgorithm]] = {"atla": MAPPO, "paad": QMIXDirector}
ATTACKER_KINDS = tuple(ATTACKER_CLASSES)

#: ``make_env`` arguments that train_attacker sets itself when it builds the env: not ``env_kwargs`` keys
_ENV_ARGUMENTS_SET_HERE = {
    "map_name": "its env argument (a map name; None: the victim's map)",
    "n_envs": "its n_envs argument",
    "backend": "the victim's backend",
    "seed": "its seed argument",
    "device": "the victim's device",
}


def train_attacker(
    model_or_path: BaseMultiAgentAlgorithm | str | Path,
    kind: str = "paad",
    epsilon: float = 0.2,
    total_timesteps: int = 50_000,
    env: BatchedMultiAgentEnv | str | None = None,
    n_envs: int = 8,
    env_kwargs: dict[str, Any] | None = None,
    adversary_kwargs: dict[str, Any] | None = None,
    seed: int | None = None,
    device: str = "auto",
) -> LearnedAttack:
    """Train an attacker of ``kind`` against the frozen victim and return it as an attack.

    :param model_or_path: the victim: any QMIX-family model or the path of its saved file.
    :param kind: ``"atla"`` (MAPPO perturbation adversary) or ``"paad"`` (QMIX director + FGSM actor).
    :param epsilon: l∞ budget of the attack (observation units).
    :param total_timesteps: env steps (summed over envs) the attacker trains for.
    :param env: the env to train in (an instance, or a map name); None builds ``n_envs`` envs of the model's map.
    :param n_envs: envs stepped together when the env is built here.
    :param env_kwargs: keyword arguments of ``make_env`` when the env is built here (e.g. ``compile``), over the
        game settings of the env the victim was trained in (its ``env_kwargs`` without the run-time keywords, e.g.
        ``compile``, which are this call's to give).
    :param adversary_kwargs: keyword arguments of :class:`~sb3_marl.adversaries.MAPPO` or of the director
        (:class:`~sb3_marl.adversaries.QMIXDirector`), but those set here (the env, its ``env_kwargs``, ``backend``
        and ``n_envs``: :func:`~sb3_marl.robust.alternating.check_adversary_kwargs`; their ``seed`` replaces
        ``seed`` for the attacker, not for the env). The director's
        exploration decays over the first half of ``total_timesteps`` unless they set ``exploration_timesteps``
        (QMIX's default, 50k steps whatever the budget, left a 10k-step director exploring at a rate of 0.81 when it
        stopped).
    :param seed: seed of the env and of the attacker.
    :param device: device of a model loaded from a path (``model_device``'s choices, checked also when unused).
    :return: an :class:`~sb3_marl.attacks.ATLAAttack` (deterministic: the adversary's mean) or a
        :class:`~sb3_marl.attacks.PAADAttack` (greedy director), clipping to the env's observation range.
    """
    if kind not in ATTACKER_KINDS:
        raise ValueError(f"kind={kind!r}; allowed: {ATTACKER_KINDS}")
    total_timesteps = whole_number("total_timesteps", total_timesteps, 1)
    epsilon = check_epsilon(epsilon)  # before an env (SC2 processes with backend="sc2") is built
    adversary_kwargs = settings_mapping("adversary_kwargs", adversary_kwargs)
    adversary_class = ATTACKER_CLASSES[kind]
    check_adversary_kwargs(adversary_kwargs, adversary_class, "train_attacker")
    if not isinstance(model_or_path, BaseMultiAgentAlgorithm | str | Path):
        raise TypeError(
            f"model_or_path must be a QMIX-family model or the path of its file, got {type(model_or_path).__name__}"
        )
    if not (env is None or isinstance(env, str | BatchedMultiAgentEnv)):
        raise TypeError(f"env={env!r} must be an env instance (a BatchedMultiAgentEnv), a map name or None")
    n_envs = whole_number("n_envs", n_envs, 1)
    env_kwargs = settings_mapping("env_kwargs", env_kwargs)
    for key in env_kwargs:
        if key in _ENV_ARGUMENTS_SET_HERE:
            raise ValueError(f"env_kwargs[{key!r}] is set by train_attacker: {_ENV_ARGUMENTS_SET_HERE[key]}")
    device = model_device(device)
    if env_kwargs and not (env is None or isinstance(env, str)):
        raise ValueError(
            f"env_kwargs={env_kwargs!r} only apply to an env built here (env None or a map name), "
            f"not to the env instance {type(env).__name__} given"
        )
    victim = (
        BaseMultiAgentAlgorithm.load(model_or_path, device=device)
        if isinstance(model_or_path, (str, Path))
        else model_or_path
    )
    if victim.battle_won_is_a_loss:
        raise ValueError(
            f"model_or_path is a {type(victim).__name__} model, a learned adversary (it plays against its victim's "
            "team): train_attacker attacks a QMIX-family team model"
        )
    built_here = env is None or isinstance(env, str)
    if built_here:
        map_name = env or victim.map_name
        if map_name is None:
            raise ValueError("the model has no map name: pass the env to train the attacker in")
        from sb3_marl.envs.make_env import make_env

        env = make_env(
            map_name,
            n_envs=n_envs,
            backend=getattr(victim, "backend", "sim"),
            seed=seed,
            device=victim.device,
            **{**game_env_kwargs(victim.env_kwargs), **env_kwargs},
        )
    defaults = {"exploration_timesteps": max(total_timesteps // 2, 1)} if kind == "paad" else {}
    kwargs = {"seed": seed, "device": victim.device, **defaults, **adversary_kwargs}
    try:
        check_adversary_n_envs(adversary_kwargs, "train_attacker", env.n_envs)
        env_class = PerturbationAdversaryEnv if kind == "atla" else TargetActionAdversaryEnv
        adversary_env = env_class(env, victim, epsilon, seed=seed)
        with adversary_settings("train_attacker", adversary_class):
            adversary = adversary_class(adversary_env, **kwargs)
            check_learn_settings = getattr(adversary, "check_learn_settings", None)  # the director's (a QMIX)
            if check_learn_settings is not None:
                check_learn_settings()
        adversary.learn(total_timesteps)
        attack_class = ATLAAttack if kind == "atla" else PAADAttack
        attack: LearnedAttack = attack_class(adversary, epsilon, seed=seed)
    except BaseException:  # bad adversary settings, a failed or interrupted training: close the env built here
        if built_here:
            env.close()
        raise
    if adversary_env.obs_low is not None:
        attack.set_observation_bounds(adversary_env.obs_low, adversary_env.obs_high)
    return attack
