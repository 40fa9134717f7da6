"""Alternating training of a QMIX victim and a learned adversary (paper §IV.C-D, Algorithms 1 and 2).

The victim is a :class:`~sb3_marl.robust.fgsm.RobustQMIXFGSM` whose training attack is a learned one: during
victim phases it collects and trains exactly as RobustQMIXFGSM does (acting on, storing and training on the
perturbed observations); during adversary phases the victim is frozen and the adversary learns against it on an
:class:`~sb3_marl.adversaries.adversary_env.AdversaryEnv` wrapping the same env. Both persist across phases.

Schedule: ``victim_phase_timesteps`` victim env steps, then ``adversary_phase_timesteps`` adversary env steps,
and so on; the first phase is the victim's (an adversary of an untrained victim learns nothing useful).
``learn(total_timesteps)`` counts victim env steps only; adversary steps are logged as
``adversary/total_timesteps``. Phases switch between rollouts, so a victim phase ends with the rollout that
crosses its budget. Each switch restarts the env's episodes (the other learner used the env meanwhile).

Saved: victim and adversary networks and optimizers (and whatever else each saves, e.g. weight averages), counters
of both and the position in the schedule, so ``load`` + ``learn(..., reset_num_timesteps=False)`` resumes the
schedule. Replay contents are not in the model file: ``save_replay_buffer`` writes the victim's and, beside it, an
off-policy adversary's (PA-AD's director; :func:`adversary_buffer_path`), which ``load_replay_buffer`` reads back.
"""

from __future__ import annotations

import contextlib
import warnings
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import Logger

from sb3_marl.adversaries.adversary_env import AdversaryEnv
from sb3_marl.attacks.learned import LearnedAttack
from sb3_marl.common.base_class import BaseMultiAgentAlgorithm, constructor_keywords, offset_seed
from sb3_marl.common.buffers import buffer_file
from sb3_marl.common.callbacks import BaseCallback
from sb3_marl.common.logger import sibling_logger
from sb3_marl.common.validation import flag, json_mapping, path_argument, whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.robust.fgsm import RobustQMIXFGSM

#: adversary settings that the adversary's owner (a robust model, ``train_attacker``) sets itself, and why
OWNER_SETTINGS = {
    "env": "the adversary plays in its env",
    "env_kwargs": "the adversary plays in its env, with that env's settings",
    "backend": "the adversary plays in its env, with that env's backend",
}


def check_adversary_kwargs(adversary_kwargs: Mapping[str, Any], adversary_class: type, owner: str) -> None:
    """A ValueError naming ``adversary_kwargs[<key>]`` for a key that is no setting of ``adversary_class`` (with the
    list of its settings, from its constructor's signature), or one that ``owner`` (the robust model's class name,
    ``train_attacker``) sets itself (:data:`OWNER_SETTINGS`, the private ``_init_setup_model``). ``n_envs`` is checked
    against the env by :func:`check_adversary_n_envs`."""
    names, complete = constructor_keywords(adversary_class)
    settings = [name for name in names if name not in ("self", *OWNER_SETTINGS) and not name.startswith("_")]
    for key in adversary_kwargs:
        if key in OWNER_SETTINGS or key.startswith("_"):
            reason = OWNER_SETTINGS.get(key, "it builds the adversary itself")
            raise ValueError(f"adversary_kwargs[{key!r}] is set by {owner}: {reason}")
        if complete and key not in settings:
            raise ValueError(
                f"adversary_kwargs[{key!r}] is not a setting of {owner}'s adversary, a {adversary_class.__name__}; "
                f"its settings: {settings}"
            )


def check_adversary_n_envs(adversary_kwargs: Mapping[str, Any], owner: str, n_envs: int) -> None:
    """A ValueError naming ``adversary_kwargs['n_envs']`` unless it is absent, 1 or ``n_envs``, the number of episodes
    the env of ``owner`` steps at once (the adversary plays in that env)."""
    given = adversary_kwargs.get("n_envs", 1)
    if given not in (1, n_envs):
        raise ValueError(
            f"adversary_kwargs['n_envs']={given!r}: the adversary plays in {owner}'s env, which steps {n_envs} "
            "episodes at once; leave it out (the adversary's n_envs is that env's)"
        )


@contextlib.contextmanager
def adversary_settings(owner: str, adversary_class: type) -> Iterator[None]:
    """Prefix a ValueError or TypeError raised inside (the adversary refusing a value of ``adversary_kwargs``) with
    ``adversary_kwargs``, so that ``seed=-5 must be ...`` does not read as a setting of ``owner`` itself."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        error = TypeError if isinstance(exc, TypeError) else ValueError
        raise error(f"adversary_kwargs (settings of {owner}'s {adversary_class.__name__} adversary): {exc}") from None


def adversary_buffer_path(path: str | Path) -> Path:
    """Where ``save_replay_buffer(path)`` writes the adversary's replay buffer: ``<stem>_adversary.pkl`` beside the
    victim's (:func:`~sb3_marl.common.buffers.buffer_file`: ``.pkl`` when ``path`` has no suffix)."""
    path = buffer_file(path)
    return path.with_name(f"{path.stem}_adversary{path.suffix}")


class AlternatingAdversarialQMIX(RobustQMIXFGSM):
    """Base of ATLAQMIX and PAADQMIX (see the module docstring).

    :param env: env instance, SMAC map name, or None (predict-only).
    :param epsilon: l∞ budget of the adversary's perturbations (the paper: 0.2, 0.05 on 2s3z).
    :param adversary_kwargs: keyword arguments of the adversary algorithm (JSON-able: they are saved), but those this
        model sets itself (its env, ``env_kwargs``, ``backend``, ``n_envs``; :func:`check_adversary_kwargs`); the
        adversary's ``seed`` defaults to this model's seed + 1. Each phase is
        one ``learn(adversary_phase_timesteps, reset_num_timesteps=False)`` of the adversary, so a schedule in
        them (e.g. a linear learning rate) runs over each phase, as Stable-Baselines3 runs one over a ``learn``
        call: from where the previous phases left the step counter down to its end value at the phase's end.
    :param victim_phase_timesteps: victim env steps per victim phase.
    :param adversary_phase_timesteps: adversary env steps per adversary phase.
    :param qmix_kwargs: every other argument of :class:`~sb3_marl.robust.RobustQMIXFGSM` (``clean_loss_weight``,
        ``attack_probability``) and of :class:`~sb3_marl.qmix.QMIX`.
    """

    architecture_settings = (*RobustQMIXFGSM.architecture_settings, "adversary_kwargs")
    #: the adversary's algorithm class (MAPPO for ATLA, the QMIX director for PA-AD): ``adversary_kwargs`` holds
    #: settings of its constructor
    adversary_algorithm: type[BaseMultiAgentAlgorithm]

    def __init__(
        self,
        env: BatchedMultiAgentEnv | str | None,
        epsilon: float = 0.2,
        adversary_kwargs: dict[str, Any] | None = None,
        victim_phase_timesteps: int = 20_000,
        adversary_phase_timesteps: int = 20_000,
        **qmix_kwargs: Any,
    ) -> None:
        self.adversary_kwargs = json_mapping("adversary_kwargs", adversary_kwargs)
        check_adversary_kwargs(self.adversary_kwargs, self.adversary_algorithm, type(self).__name__)
        self.victim_phase_timesteps = whole_number("victim_phase_timesteps", victim_phase_timesteps, 1)
        self.adversary_phase_timesteps = whole_number("adversary_phase_timesteps", adversary_phase_timesteps, 1)
        self.adversary: BaseMultiAgentAlgorithm | None = None
        self._victim_phase_progress = 0
        self._n_adversary_phases = 0
        #: the adversary's logger made beside a ``set_logger`` logger of the victim, and that victim logger
        self._adversary_sibling: tuple[Logger | None, Logger | None] = (None, None)
        attack = qmix_kwargs.pop("attack", None)
        if attack is not None:
            raise ValueError(
                f"attack={attack!r}: {type(self).__name__} always trains against its learned adversary (set its "
                "budget with epsilon and its training with adversary_kwargs); leave attack unset"
            )
        super().__init__(env, epsilon=epsilon, **qmix_kwargs)

    # ------------------------------------------------------------------ what subclasses define
    @abstractmethod
    def _make_adversary_env(self, env: BatchedMultiAgentEnv) -> AdversaryEnv:
        """The env the adversary trains on: ``env`` seen from the adversary, with ``self.policy`` as victim."""

    def _make_adversary(self, adversary_env: AdversaryEnv | None, **kwargs: Any) -> BaseMultiAgentAlgorithm:
        """The adversary algorithm on ``adversary_env`` (None: predict-only, sizes set by the caller)."""
        return self.adversary_algorithm(adversary_env, **kwargs)

    @abstractmethod
    def _make_learned_attack(self) -> LearnedAttack:
        """The attack the victim trains under, driven by ``self.adversary`` and seeded with ``_attack_seed``."""

    @property
    def _attack_seed(self) -> int | None:
        """Seed of the learned attack's generator: the model's seed offset by 2 (the adversary's is offset by 1, the
        victim's exploration draws from the seed itself; one shared seed made their streams draw alike)."""
        return offset_seed(self.seed, 2)

    # ------------------------------------------------------------------ setup
    def _build_attack(self, attack: Any) -> LearnedAttack:
        return self._adopt_attack(self._make_learned_attack())

    def _setup_model(self) -> None:
        super()._setup_model()
        self.adversary = self._built_adversary(self.adversary_kwargs)
        self.attack = self._build_attack(None)

    def _built_adversary(self, adversary_kwargs: dict[str, Any]) -> BaseMultiAgentAlgorithm:
        """A new adversary with its networks, of ``adversary_kwargs`` (and the settings this model sets), on the
        adversary env of this model's env (none without one); the adversary's refusals name ``adversary_kwargs``."""
        adversary_env = None if self.env is None else self._make_adversary_env(self.env)
        owner = type(self).__name__
        if adversary_env is not None:
            check_adversary_n_envs(adversary_kwargs, owner, adversary_env.n_envs)
        kwargs = {
            "seed": offset_seed(self.seed, 1),
            "device": self.device,
            "tensorboard_log": self.tensorboard_log,
            **adversary_kwargs,
        }
        with adversary_settings(owner, self.adversary_algorithm):
            adversary = self._make_adversary(adversary_env, _init_setup_model=False, **kwargs)
            adversary.env_shapes = dict(self.env_shapes)
            adversary._setup_model()
        return adversary

    @classmethod
    def _split_load_overrides(cls, path: Any, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """An ``adversary_kwargs`` override of :meth:`load` replaces the saved adversary settings after the build
        (:meth:`_replace_adversary_kwargs`), but for those that shape the adversary's saved networks (the adversary
        class's ``architecture_settings``, e.g. ``policy_kwargs``), which must keep their saved values. The loaded
        adversary keeps the file's networks, optimizer states and counters and trains with the new settings
        (``learning_rate``, ``n_steps``, ...)."""
        overrides, late = super()._split_load_overrides(path, overrides)
        if "adversary_kwargs" in overrides:
            overrides = dict(overrides)
            late = {**late, "adversary_kwargs": overrides.pop("adversary_kwargs")}
        return overrides, late

    def _apply_load_overrides(self, path: Any, overrides: dict[str, Any]) -> None:
        super()._apply_load_overrides(path, overrides)
        if "adversary_kwargs" in overrides:
            self._replace_adversary_kwargs(overrides["adversary_kwargs"], path)

    def _replace_adversary_kwargs(self, adversary_kwargs: Any, path: Any) -> None:
        """Give the adversary the settings ``adversary_kwargs`` (see :meth:`load`), keeping its networks, optimizer
        states and counters; a ValueError naming the settings that would shape its networks otherwise than the
        saved ones of ``path``."""
        adversary_kwargs = json_mapping("adversary_kwargs", adversary_kwargs)
        owner = type(self).__name__
        check_adversary_kwargs(adversary_kwargs, self.adversary_algorithm, owner)
        adversary = self._built_adversary(adversary_kwargs)
        architecture = self.adversary_algorithm.architecture_settings
        differ = [key for key in architecture if getattr(adversary, key) != getattr(self.adversary, key)]
        if differ:
            given = ", ".join(f"adversary_kwargs[{key!r}]={getattr(adversary, key)!r}" for key in differ)
            saved = ", ".join(f"{key}={getattr(self.adversary, key)!r}" for key in differ)
            raise ValueError(
                f"{given} differs from the saved adversary's {saved} of {path}: the saved adversary networks have that "
                "architecture; load without overriding it (the other adversary_kwargs may change)"
            )
        adversary.set_parameters(self.adversary.get_parameters())
        counters = self.adversary_counters
        self.adversary_kwargs, self.adversary = adversary_kwargs, adversary
        self.adversary_counters = counters
        self.attack = self._build_attack(None)

    def check_learn_settings(self, env: BatchedMultiAgentEnv | None = None) -> list[Any]:
        augmentations = super().check_learn_settings(env)
        check_adversary = getattr(self.adversary, "check_learn_settings", None)  # the PA-AD director's (a QMIX)
        if check_adversary is not None:
            with adversary_settings(type(self).__name__, self.adversary_algorithm):
                check_adversary()
        return augmentations

    def _attach_env(self, env: BatchedMultiAgentEnv) -> None:
        super()._attach_env(env)
        if self.adversary is not None:
            self.adversary.set_env(self._make_adversary_env(env))

    def _constructor_parameters(self) -> dict[str, Any]:
        parameters = super()._constructor_parameters()
        parameters.pop("attack", None)
        return parameters

    def _get_torch_save_params(self) -> list[str]:
        adversary = [f"adversary.{name}" for name in self.adversary._get_torch_save_params()]
        return [*super()._get_torch_save_params(), *adversary]

    def save_replay_buffer(self, path: str | Path) -> Path:
        """Write the victim's replay buffer to ``path`` and an off-policy adversary's (PA-AD's director) to
        :func:`adversary_buffer_path` beside it, so that a checkpoint resumes both learners; an adversary without a
        buffer yet (before its first phase) removes an older file there. ATLA's MAPPO keeps no replay buffer.

        :return: the victim's file.
        """
        saved = super().save_replay_buffer(path)
        if self._adversary_replays:
            adversary_path = adversary_buffer_path(saved)
            if self.adversary.replay_buffer is None:
                adversary_path.unlink(missing_ok=True)
            else:
                self.adversary.save_replay_buffer(adversary_path)
        return saved

    def load_replay_buffer(self, path: str | Path, truncate_last_traj: bool = True) -> None:
        """Replace the victim's replay buffer by ``path`` and an off-policy adversary's by the file
        :func:`adversary_buffer_path` names (a warning when there is none: the adversary keeps its buffer); when the
        adversary's file is refused, the victim's buffer is given back too."""
        previous = (self.replay_buffer, self.buffer_size)
        super().load_replay_buffer(path, truncate_last_traj)
        if not self._adversary_replays:
            return
        adversary_path = adversary_buffer_path(path_argument("path", path))
        if not adversary_path.is_file():
            warnings.warn(
                f"No adversary replay buffer {adversary_path} beside {path}: the adversary keeps its own (none after "
                "load, until its next phase collects)",
                stacklevel=2,
            )
            return
        try:
            self.adversary.load_replay_buffer(adversary_path, truncate_last_traj)
        except BaseException:
            self.replay_buffer, self.buffer_size = previous
            raise

    @property
    def _adversary_replays(self) -> bool:
        """Whether the adversary learns off-policy from a replay buffer (PA-AD's director, a QMIX)."""
        return hasattr(self.adversary, "save_replay_buffer")

    def _counter_names(self) -> list[str]:
        return [*super()._counter_names(), "adversary_counters", "_victim_phase_progress", "_n_adversary_phases"]

    def _loaded_counter(self, path: Any, name: str, value: Any) -> Any:
        """The adversary's counters are checked each as the adversary checks its own."""
        value = super()._loaded_counter(path, name, value)
        if name != "adversary_counters":
            return value
        unknown = sorted(set(value) - set(self.adversary._counter_names()))
        if unknown:
            raise ValueError(
                f"{path} holds adversary counters {unknown} that {type(self.adversary).__name__} does not have"
            )
        try:
            return {key: self.adversary._loaded_counter(path, key, item) for key, item in value.items()}
        except ValueError as exc:
            raise ValueError(f"{exc} (a counter of its adversary, {type(self.adversary).__name__})") from None

    @property
    def adversary_counters(self) -> dict[str, Any]:
        """The adversary's progress counters (saved with the model so that its training resumes)."""
        return {name: getattr(self.adversary, name) for name in self.adversary._counter_names()}

    @adversary_counters.setter
    def adversary_counters(self, counters: dict[str, Any]) -> None:
        for name, value in counters.items():
            setattr(self.adversary, name, value)

    # ------------------------------------------------------------------ training
    def train_adversary(self, total_timesteps: int, log: bool = True) -> None:
        """One adversary phase: the adversary learns ``total_timesteps`` env steps against the frozen victim.

        The adversary restarts the shared env's episodes and the victim's next rollout restarts them again (each
        learner's episodes in progress are dropped), also when this is called directly between ``learn`` calls.
        It logs into its own TensorBoard run beside the victim's (``<run>_adversary_<k>``), or, when the victim's
        logger was set with ``set_logger``, into a logger of the same formats in the folder ``<folder>_adversary``.

        :param total_timesteps: adversary env steps (summed over envs), at least 1.
        :param log: False: the adversary writes no periodic logs (the victim's ``learn(log_interval=None)``).
        """
        total_timesteps = whole_number("total_timesteps", total_timesteps, 1)
        log = flag("log", log)
        self.adversary.discard_running_episodes()
        self._follow_custom_logger()
        self.adversary.learn(
            total_timesteps,
            reset_num_timesteps=False,
            tb_log_name=f"{self._run_name()}_adversary",
            **({} if log else {"log_interval": None}),
        )
        self.discard_running_episodes()
        self._n_adversary_phases += 1
        self._victim_phase_progress = 0
        self.logger.record("adversary/total_timesteps", self.adversary.num_timesteps)
        self.logger.record("adversary/phases", self._n_adversary_phases)

    def _follow_custom_logger(self) -> None:
        """With a logger set by ``set_logger``, give the adversary one beside it (:func:`sibling_logger`), made again
        when the victim's logger changes; a logger set on the adversary itself is left alone."""
        if not self._custom_logger:
            return
        made, made_from = self._adversary_sibling
        if self.adversary._custom_logger and self.adversary.logger is not made:
            return
        if made_from is not self.logger:
            made = sibling_logger(self.logger, "_adversary")
            self._adversary_sibling = (made, self.logger)
            self.adversary.set_logger(made)

    def _run_name(self) -> str:
        """The victim's TensorBoard run (``<tb_log_name>_<k>``), which names the adversary's run beside it so that
        each training logs its adversary apart; the class name without TensorBoard logging."""
        log_dir = self.logger.get_dir() if self.tensorboard_log is not None else None
        return Path(log_dir).name if log_dir else type(self).__name__

    def _before_rollout(self, log_interval: int | None) -> None:
        """Run an adversary phase when the current victim phase has used up its budget."""
        if self._victim_phase_progress >= self.victim_phase_timesteps:
            self.train_adversary(self.adversary_phase_timesteps, log=log_interval is not None)

    def _on_env_step(self, callback: BaseCallback, *args: Any) -> bool:
        """Count each victim env step towards the current victim phase as it is taken (a checkpoint saved by a
        callback mid-rollout holds the phase's position to the step), then call the callback."""
        self._victim_phase_progress += self.env.n_envs
        return super()._on_env_step(callback, *args)
