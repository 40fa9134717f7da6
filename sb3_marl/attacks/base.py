"""The state-adversarial attack interface: perturb each attacked agent's observation inside an l∞ ball.

Shapes follow :mod:`sb3_marl.envs.base`: ``B`` envs, ``N`` agents, ``O`` observation features, ``A`` actions,
``H`` recurrent hidden units of the victim's agent network.

Every attack works on whole batches on the observations' device (no Python loop over envs or agents) and
guarantees, for every env ``b`` and agent ``i``:

* attacked, alive agent: ``max_k |õ[b,i,k] - o[b,i,k]| <= epsilon`` up to float rounding (``o + δ`` in float32 may
  overshoot by one unit in the last place) and ``obs_low <= õ <= obs_high`` when clipping;
* unattacked agent, or dead agent (SMAC gives a dead agent an all-zero observation): ``õ[b,i] == o[b,i]`` exactly.
"""

from __future__ import annotations

import contextlib
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from sb3_marl.common.validation import MAX_SEED, finite_float, flag, whole_number

AttackedAgents = int | Sequence[int] | None


class BaseAttack(ABC):
    """Base class of observation attacks with budget ``epsilon`` on a chosen set of agents.

    :param epsilon: radius of the l∞ ball around the clean observation (same unit as the observation
        features, which SMAC normalises to about [-1, 1]); must be finite and ``>= 0``.
    :param attacked_agents: which agents are attacked. ``None``: all ``N`` agents. An ``int`` ``M``: a random
        subset of ``M`` live agents (all of them where fewer live) drawn independently for every env at every call
        of :meth:`perturb` (i.e. at every environment step), from this attack's own seeded generator. A sequence
        of agent ids: exactly those agents, always (dead ones are left untouched).
    :param clip_observations: clip perturbed observations to ``[obs_low, obs_high]`` so that they stay
        observations the environment could produce (default True). The result is kept in the ε-ball even where
        a clean observation lies outside the bounds. Without bounds of its own the attack clips to the bounds of
        the env it is used in (:meth:`use_env_bounds`, called by the algorithms and ``evaluate_policy``).
    :param obs_low: lower bound of each observation feature, float[O], or None (take the env's).
    :param obs_high: upper bound of each observation feature, float[O], or None (take the env's).
    :param seed: seed of the attack's random generator (agent subsets, random starts, noise); None draws one
        from torch's global generator, so :func:`stable_baselines3.common.utils.set_random_seed` fixes it too.
    """

    #: whether :meth:`perturb` accepts ``target_actions``
    supports_target_actions: bool = False

    def __init__(
        self,
        epsilon: float,
        attacked_agents: AttackedAgents = None,
        clip_observations: bool = True,
        obs_low: torch.Tensor | Sequence[float] | None = None,
        obs_high: torch.Tensor | Sequence[float] | None = None,
        seed: int | None = None,
    ) -> None:
        self.epsilon = check_epsilon(epsilon)
        self.attacked_agents = _check_attacked_agents(attacked_agents)
        self.clip_observations = flag("clip_observations", clip_observations)
        self.obs_low: torch.Tensor | None = None
        self.obs_high: torch.Tensor | None = None
        self._own_bounds = False  # True once bounds are given (not taken from an env): envs then leave them alone
        if (obs_low is None) != (obs_high is None):
            raise ValueError("obs_low and obs_high must be given together (or both left None)")
        if obs_low is not None:
            self.set_observation_bounds(obs_low, obs_high)
        self.seed = (
            int(torch.randint(0, 2**31 - 1, ()).item()) if seed is None else whole_number("seed", seed, 0, MAX_SEED)
        )
        self._generator: torch.Generator | None = None

    def use_env_bounds(self, env: object) -> None:
        """Clip to ``env.obs_low`` / ``env.obs_high`` (none when the env has none) unless this attack was given bounds
        of its own. Bounds taken from an earlier env are replaced, so one attack serves several maps in turn."""
        if self._own_bounds:
            return
        low, high = getattr(env, "obs_low", None), getattr(env, "obs_high", None)
        if low is None or high is None:
            self.obs_low = self.obs_high = None
        else:
            self.obs_low, self.obs_high = _checked_bounds(low, high)

    @property
    def has_own_bounds(self) -> bool:
        """Whether the clipping bounds were given to this attack (else they are the last env's, or None)."""
        return self._own_bounds

    def set_observation_bounds(
        self, obs_low: torch.Tensor | Sequence[float], obs_high: torch.Tensor | Sequence[float]
    ) -> None:
        """Set the range ``[obs_low, obs_high]`` (float[O] each) used for clipping, in place of any env's."""
        self.obs_low, self.obs_high = _checked_bounds(obs_low, obs_high)
        self._own_bounds = True

    def perturb(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        state: torch.Tensor | None = None,
        target_actions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the perturbed observations ``õ`` (float[B, N, O], same device as ``obs``, no autograd history).

        :param policy: the victim: a ``QMIXPolicy`` (anything with ``q_values(obs, last_action_onehot, hidden)
            -> (q[B,N,A], hidden_next)``).
        :param obs: clean observations, float[B, N, O].
        :param avail_actions: available actions, bool[B, N, A].
        :param last_action_onehot: the agents' previous actions one-hot, float[B, N, A].
        :param hidden: the victim's recurrent state before this step, float[B, N, H]; held fixed.
        :param state: global state float[B, S] (not attacked; for attacks that condition on it), or None.
        :param target_actions: int64[B, N] actions to steer each agent toward (targeted attacks only), or None; each
            must be available to its agent in ``avail_actions`` (an unavailable one is refused, naming env and agent).
        :raises TypeError, ValueError: an argument of another type, dtype, shape or device
            (:func:`check_perturb_inputs`).
        """
        if target_actions is not None and not self.supports_target_actions:
            raise ValueError(f"{type(self).__name__} is not a targeted attack: target_actions must be None")
        check_perturb_inputs(policy, obs, avail_actions, last_action_onehot, hidden, state, actions=target_actions)
        return self._on_attacked_agents(
            obs,
            None,
            lambda clean: self._perturb(
                policy,
                clean,
                avail_actions,
                last_action_onehot.detach(),
                hidden.detach(),
                state,
                target_actions,
            ),
        )

    def _on_attacked_agents(
        self,
        obs: torch.Tensor,
        agent_mask: torch.Tensor | None,
        perturb: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """``perturb(clean observations)`` float[B, N, O] where the agent is attacked, the clean observations elsewhere
        (no autograd history).

        :param agent_mask: the attacked agents bool[B, N] of this step, or None: drawn here (:meth:`agent_mask`),
            before ``perturb`` runs.
        """
        mask = self.agent_mask(obs) if agent_mask is None else agent_mask
        with torch.no_grad():
            return torch.where(mask.unsqueeze(-1), perturb(obs.detach()), obs.detach())

    @contextlib.contextmanager
    def separate_memory(self) -> Iterator[None]:
        """Play another set of episodes (an evaluation during training) with a fresh recurrent memory and give the
        episodes in progress theirs back afterwards, with the random stream where it was: the episodes in progress
        draw the same agents and noise whether or not, and how often, the attack is evaluated in between (an
        attack that remembers nothing between steps keeps only its stream).
        :func:`~sb3_marl.common.evaluation.evaluate_policy` plays inside it."""
        saved, generator = self._get_memory(), self._generator
        stream = None if generator is None else generator.get_state()
        self._set_memory(None)
        try:
            yield
        finally:
            self._set_memory(saved)
            self._generator = generator  # also when none existed yet, or one for another device was made inside
            if generator is not None:
                generator.set_state(stream)

    def _get_memory(self) -> Any:
        """What the attack remembers between steps of its episodes in progress (None: nothing)."""
        return None

    def _set_memory(self, memory: Any) -> None:
        """Restore a memory returned by :meth:`_get_memory` (None: start afresh); memoryless attacks ignore it."""
        del memory

    @abstractmethod
    def _perturb(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        state: torch.Tensor | None,
        target_actions: torch.Tensor | None,
    ) -> torch.Tensor:
        """Perturb every agent's observation (masking of unattacked and dead agents is done by :meth:`perturb`)."""

    def check_attacked_agents_fit(self, n_agents: int) -> None:
        """A ValueError when ``attacked_agents`` asks for more agents, or other agent ids, than ``n_agents`` has."""
        if isinstance(self.attacked_agents, int):
            if self.attacked_agents > n_agents:
                raise ValueError(f"attacked_agents={self.attacked_agents} but the env has only {n_agents} agents")
            return
        bad = [agent for agent in self.attacked_agents or () if agent >= n_agents]
        if bad:
            raise ValueError(f"attacked agent ids {bad} do not exist: the env has agents 0..{n_agents - 1}")

    def check_fits_env(self, env: Any) -> None:
        """A ValueError when this attack cannot attack ``env``'s agents: attacked agents it lacks, or observation
        bounds of its own of another length than ``env.obs_shape`` (checked before playing, not at the first step)."""
        self.check_attacked_agents_fit(env.n_agents)
        if self._own_bounds and self.obs_low is not None and self.obs_low.numel() != env.obs_shape:
            raise ValueError(
                f"the attack's obs_low / obs_high have {self.obs_low.numel()} features, the env's observations "
                f"{env.obs_shape}"
            )

    def agent_mask(self, obs: torch.Tensor) -> torch.Tensor:
        """bool[B, N]: True where the agent is attacked at this call and alive (observation not all zero)."""
        batch_size, n_agents = obs.shape[:2]
        alive = (obs != 0).any(dim=-1)
        if self.attacked_agents is None:
            return alive
        self.check_attacked_agents_fit(n_agents)
        if isinstance(self.attacked_agents, int):
            scores = torch.rand(batch_size, n_agents, generator=self.generator(obs.device), device=obs.device)
            # dead agents rank after every live one (scores in [0, 1) + 1): the M are drawn among the live agents
            chosen = (scores + (~alive).float()).argsort(dim=-1)[:, : self.attacked_agents]
            mask = torch.zeros(batch_size, n_agents, dtype=torch.bool, device=obs.device)
            return mask.scatter_(1, chosen, True) & alive
        mask = torch.zeros(batch_size, n_agents, dtype=torch.bool, device=obs.device)
        mask[:, list(self.attacked_agents)] = True
        return mask & alive

    def generator(self, device: torch.device) -> torch.Generator:
        """The attack's random generator on ``device`` (created from ``seed`` on first use)."""
        if self._generator is None or self._generator.device != torch.device(device):
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.seed)
        return self._generator

    def project(self, obs: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """``o + δ`` with ``δ`` clamped to the ε-ball, then clipped to the observation bounds when enabled (and kept
        in the ε-ball should ``o`` lie outside them)."""
        perturbed = obs + delta.clamp(-self.epsilon, self.epsilon)
        if self.clip_observations and self.obs_low is not None:
            low, high = self.obs_low.to(obs.device), self.obs_high.to(obs.device)
            if low.shape[-1] != obs.shape[-1]:
                raise ValueError(
                    f"the attack's observation bounds have {low.shape[-1]} features, the observations {obs.shape[-1]}"
                )
            perturbed = torch.maximum(torch.minimum(perturbed, high), low)
            perturbed = torch.minimum(torch.maximum(perturbed, obs - self.epsilon), obs + self.epsilon)
        return perturbed

    def random_point(self, obs: torch.Tensor) -> torch.Tensor:
        """A uniform random point of the ε-ball around ``obs`` (from the attack's generator), then :meth:`project`."""
        noise = torch.rand(obs.shape, generator=self.generator(obs.device), device=obs.device, dtype=obs.dtype)
        return self.project(obs, (2 * noise - 1) * self.epsilon)

    def get_params(self) -> dict[str, Any]:
        """JSON-able settings from which :func:`sb3_marl.attacks.make_attack` rebuilds this attack (a learned attack's
        describe it only: its trained adversary is not among them)."""
        agents = self.attacked_agents
        return {
            "name": type(self).__name__,
            "epsilon": self.epsilon,
            "attacked_agents": list(agents) if isinstance(agents, tuple) else agents,
            "clip_observations": self.clip_observations,
            # bounds taken from an env are not settings: the env of the rebuilt attack gives them again
            "obs_low": self.obs_low.tolist() if self._own_bounds else None,
            "obs_high": self.obs_high.tolist() if self._own_bounds else None,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        hidden_keys = ("name", "obs_low", "obs_high")
        settings = ", ".join(f"{k}={v}" for k, v in self.get_params().items() if k not in hidden_keys)
        return f"{type(self).__name__}({settings})"


def check_perturb_inputs(
    policy: nn.Module | None,
    obs: Any,
    avail_actions: Any,
    last_action_onehot: Any,
    hidden: Any,
    state: Any = None,
    *,
    actions: Any = None,
    actions_name: str = "target_actions",
    actions_per_feature: bool = False,
    agent_mask: Any = None,
) -> None:
    """Check the inputs of an attack's public entry points (:meth:`BaseAttack.perturb`,
    :meth:`~sb3_marl.attacks.learned.LearnedAttack.perturb_with_actions`): a TypeError (not a tensor, another dtype)
    or a ValueError (another shape or device) naming the argument, its expected dtype and shape, and what was given.

    The sizes come from ``obs`` (``B``) and from the policy where it has them (``n_agents``, ``obs_dim``,
    ``n_actions``, ``hidden_dim``, as a ``QMIXPolicy``), the dtype of ``obs`` and ``hidden`` and the device of
    ``obs`` from its parameters; every other input must be on the device of ``obs``. Without a policy (an attack
    that does not consult the victim), ``hidden`` may have any shape. It runs at every attacked env step, so it reads
    metadata only (type, shape, dtype, device): no values, no device synchronisation.

    :param actions: the actions given with the inputs (a targeted attack's ``target_actions``, a learned attack's
        ``adversary_actions``), or None.
    :param actions_name: the name of ``actions`` in the messages.
    :param actions_per_feature: ``actions`` are float[B, N, O], one value per observation feature (ATLA's
        perturbation directions); otherwise int64[B, N], one action index per agent.
    :param agent_mask: the attacked agents bool[B, N], or None.
    """
    check_step_inputs(policy, obs, avail_actions, last_action_onehot)
    sizes, parameter = _policy_sizes(policy)
    batch_size, n_agents, obs_dim = obs.shape
    per_agent = [("B", batch_size), ("n_agents", n_agents)]
    hidden_shape = None if policy is None else [*per_agent, ("hidden_dim", sizes["hidden_dim"])]
    _check_tensor("hidden", hidden, None if parameter is None else parameter.dtype, hidden_shape, obs.device)
    if state is not None:
        _check_tensor("state", state, None, [("B", batch_size), ("state_dim", None)], obs.device)
    if actions is not None:
        if actions_per_feature:
            _check_tensor(actions_name, actions, None, [*per_agent, ("obs_dim", obs_dim)], obs.device)
        else:
            _check_tensor(actions_name, actions, torch.int64, per_agent, obs.device)
    if agent_mask is not None:
        _check_tensor("agent_mask", agent_mask, torch.bool, per_agent, obs.device)


def check_step_inputs(policy: nn.Module | None, obs: Any, avail_actions: Any, last_action_onehot: Any) -> None:
    """Check what ``policy`` acts on at one step, as :func:`check_perturb_inputs` checks it: ``obs`` float[B, N, O]
    (of the policy's dtype, on its device), ``avail_actions`` bool[B, N, A] and ``last_action_onehot`` float[B, N, A]
    on the device of ``obs``; a TypeError or ValueError naming the argument otherwise. A learned attack checks the
    inputs of its adversary's actions with it (:meth:`~sb3_marl.attacks.learned.LearnedAttack.adversary_actions`).
    Metadata only (type, shape, dtype, device)."""
    sizes, parameter = _policy_sizes(policy)
    dtype, device = (None, None) if parameter is None else (parameter.dtype, parameter.device)
    obs_shape = [("B", None), ("n_agents", sizes["n_agents"]), ("obs_dim", sizes["obs_dim"])]
    _check_tensor("obs", obs, dtype, obs_shape, device, "the policy")
    per_agent = [("B", obs.shape[0]), ("n_agents", obs.shape[1])]
    _check_tensor(
        "avail_actions", avail_actions, torch.bool, [*per_agent, ("n_actions", sizes["n_actions"])], obs.device
    )
    per_action = [*per_agent, ("n_actions", avail_actions.shape[-1])]
    _check_tensor("last_action_onehot", last_action_onehot, None, per_action, obs.device)


def _policy_sizes(policy: nn.Module | None) -> tuple[dict[str, int | None], nn.Parameter | None]:
    """The sizes ``policy`` has (``n_agents``, ``obs_dim``, ``n_actions``, ``hidden_dim``, as a ``QMIXPolicy``; None
    where it has none) and its first parameter, whose dtype and device its inputs must have (None: none)."""
    sizes = {name: getattr(policy, name, None) for name in ("n_agents", "obs_dim", "n_actions", "hidden_dim")}
    sizes = {name: size if isinstance(size, int) else None for name, size in sizes.items()}
    return sizes, next(policy.parameters(), None) if isinstance(policy, nn.Module) else None


def _check_tensor(
    name: str,
    value: Any,
    dtype: torch.dtype | None,
    shape: Sequence[tuple[str, int | None]] | None,
    device: torch.device | None,
    device_of: str = "obs",
) -> None:
    """A TypeError (not a tensor, another dtype) or a ValueError (another shape or device) naming ``name`` unless
    ``value`` is a tensor of ``dtype`` (None: any floating-point dtype) and of ``shape`` (its dimensions by name,
    with their size where it is known; None: any shape) on ``device``, that of ``device_of`` (None: any device)."""
    kind = "a floating-point torch tensor" if dtype is None else f"a {dtype} tensor"
    dims = "" if shape is None else " of shape [" + ", ".join(d if n is None else f"{d}={n}" for d, n in shape) + "]"
    expected = f"{name} must be {kind}{dims}"
    if not isinstance(value, torch.Tensor):
        given, module = type(value).__qualname__, type(value).__module__
        raise TypeError(f"{expected}, got {given if module == 'builtins' else f'{module}.{given}'}")
    right_dtype = value.dtype.is_floating_point if dtype is None else value.dtype == dtype
    if not right_dtype:
        raise TypeError(f"{expected}, got {value.dtype}")
    if shape is not None and (
        value.dim() != len(shape) or any(n is not None and size != n for size, (_, n) in zip(value.shape, shape))
    ):
        raise ValueError(f"{expected}, got shape {tuple(value.shape)}")
    if device is not None and value.device != device:
        raise ValueError(f"{expected} on {device} (the device of {device_of}), got one on {value.device}")


def _checked_bounds(
    obs_low: torch.Tensor | Sequence[float], obs_high: torch.Tensor | Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``obs_low`` and ``obs_high`` as float32[O] tensors, or a ValueError when their shapes differ or low > high."""
    try:
        low = torch.as_tensor(obs_low, dtype=torch.float32).flatten()
        high = torch.as_tensor(obs_high, dtype=torch.float32).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"obs_low={obs_low!r} / obs_high={obs_high!r} must be tensors or sequences of numbers (one per feature)"
        ) from None
    if low.shape != high.shape:
        raise ValueError(f"obs_low has shape {tuple(low.shape)} but obs_high has shape {tuple(high.shape)}")
    if bool(low.isnan().any() | high.isnan().any()):
        raise ValueError("obs_low and obs_high must not hold NaN (infinite bounds are allowed: no bound)")
    if bool((low > high).any()):
        raise ValueError("obs_low must be <= obs_high for every feature")
    return low, high


def check_epsilon(epsilon: float) -> float:
    """Return ``epsilon`` as a float, or raise ``ValueError`` if it is not a finite number ``>= 0``."""
    return finite_float("epsilon", epsilon, low=0.0)


def _check_attacked_agents(attacked_agents: AttackedAgents) -> int | tuple[int, ...] | None:
    if attacked_agents is None:
        return None
    allowed = "None, an int >= 1 or a sequence of agent ids"
    if isinstance(attacked_agents, bool):
        raise ValueError(f"attacked_agents must be {allowed}, got {attacked_agents!r}")
    if isinstance(attacked_agents, numbers.Integral):
        if attacked_agents < 1:
            raise ValueError(f"attacked_agents={attacked_agents}: the number of attacked agents must be >= 1")
        return int(attacked_agents)
    if isinstance(attacked_agents, Sequence) and not isinstance(attacked_agents, str):
        if any(isinstance(i, bool) or not isinstance(i, numbers.Integral) or i < 0 for i in attacked_agents):
            raise ValueError(f"attacked_agents must be non-empty ids >= 0, got {attacked_agents!r}")
        ids = tuple(int(i) for i in attacked_agents)
        if not ids:
            raise ValueError(f"attacked_agents must be non-empty ids >= 0, got {attacked_agents!r}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"attacked_agents has repeated ids: {attacked_agents!r}")
        return ids
    raise ValueError(f"attacked_agents must be {allowed}, got {attacked_agents!r}")
