"""The QMIX policy: the shared recurrent agent, the mixer, their target copies and the optimizer.

As in Stable-Baselines3, the *policy* holds every network training needs.  Targets are frozen deep copies
(``agent_target``, ``mixer_target``) kept inside the module, so one ``state_dict`` carries online and target
weights and a resumed run continues exactly.

Shapes: ``B`` episodes (batch), ``T`` time steps, ``N`` agents, ``O`` observation size, ``A`` actions,
``H`` GRU hidden size, ``S`` state size.
"""

from __future__ import annotations

import copy
import inspect
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sb3_marl.common.save_util import load_from_zip_file, save_to_zip_file
from sb3_marl.common.validation import (
    checked_optimizer,
    constructor_keywords,
    finite_array,
    finite_float,
    flag,
    json_mapping,
    mask_array,
    model_device,
    numeric_array,
    whole_number,
)
from sb3_marl.policies.agents import RNNAgent
from sb3_marl.policies.mixers import QMixer, VDNMixer

MIXERS = ("qmix", "vdn", None)

#: optimizer name -> (class, default keyword arguments); RMSprop as PyMARL, Adam as pymarl2.
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "rmsprop": (torch.optim.RMSprop, {"alpha": 0.99, "eps": 1e-5}),
    "adam": (torch.optim.Adam, {}),
}

#: Recurrent state returned by ``predict``: (GRU hidden float32[B, N, H], last-action one-hot float32[B, N, A]).
RecurrentState = tuple[np.ndarray, np.ndarray]


def greedy_actions(q_values: torch.Tensor, avail_actions: torch.Tensor) -> torch.Tensor:
    """int64[...]: the available action with the largest Q-value (``q_values`` float[..., A], ``avail_actions``
    bool[..., A])."""
    return q_values.masked_fill(~avail_actions, -math.inf).argmax(dim=-1)


def optimizer_setup(
    optimizer_class: type[torch.optim.Optimizer] | str, optimizer_kwargs: dict[str, Any]
) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
    """The optimizer class and keyword arguments that ``optimizer_class`` stands for: a ``torch.optim.Optimizer``
    subclass with ``optimizer_kwargs``, or a name of :data:`OPTIMIZERS` (QMIX's), whose defaults ``optimizer_kwargs``
    override; a ValueError naming ``optimizer_class`` otherwise."""
    if isinstance(optimizer_class, str) and optimizer_class in OPTIMIZERS:
        optimizer_class, defaults = OPTIMIZERS[optimizer_class]
        return optimizer_class, {**defaults, **optimizer_kwargs}
    if isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer):
        return optimizer_class, optimizer_kwargs
    raise ValueError(
        f"optimizer_class={optimizer_class!r} must be a torch.optim.Optimizer subclass (e.g. torch.optim.Adam) or one "
        f"of the names {sorted(OPTIMIZERS)}"
    )


def _as_tensor(value: Any, dtype: torch.dtype | None, device: torch.device) -> torch.Tensor:
    """``torch.as_tensor(value, dtype, device)``, also for numpy arrays torch cannot share: a view with negative
    strides (``obs[::-1]``) or a read-only array is copied first (Stable-Baselines3's ``predict`` takes both)."""
    if isinstance(value, np.ndarray) and (not value.flags.writeable or any(step < 0 for step in value.strides)):
        value = np.array(value)
    return torch.as_tensor(value, dtype=dtype, device=device)


class QMIXPolicy(nn.Module):
    """Recurrent per-agent Q-network (shared weights) plus a value-decomposition mixer.

    :param n_agents: number of agents ``N``.
    :param n_actions: actions per agent ``A``.
    :param obs_dim: size ``O`` of one agent's observation.
    :param state_dim: size ``S`` of the global state (read by the mixer only).
    :param learning_rate: initial learning rate of the optimizer (>= 0).
    :param mixer: ``"qmix"``, ``"vdn"`` or ``None`` (independent Q-learning: ``mix`` returns the agent values).
    :param rnn_hidden_dim: width ``H`` of the agent network and its GRU.
    :param mixing_embed_dim: width of the QMIX mixing layer.
    :param hypernet_embed: hidden width of the QMIX weight hypernetworks.
    :param obs_last_action: feed the one-hot of each agent's previous action to the agent network.
    :param obs_agent_id: feed the one-hot of each agent's index to the agent network.
    :param optimizer_class: optimizer over the agent and mixer parameters: a ``torch.optim.Optimizer`` subclass, or
        QMIX's name for one, ``"rmsprop"`` (PyMARL's: alpha 0.99, eps 1e-5) or ``"adam"``.
    :param optimizer_kwargs: extra keyword arguments of the optimizer (over a name's defaults).
    """

    def __init__(
        self,
        n_agents: int,
        n_actions: int,
        obs_dim: int,
        state_dim: int,
        learning_rate: float = 5e-4,
        mixer: str | None = "qmix",
        rnn_hidden_dim: int = 64,
        mixing_embed_dim: int = 32,
        hypernet_embed: int = 64,
        obs_last_action: bool = True,
        obs_agent_id: bool = True,
        optimizer_class: type[torch.optim.Optimizer] | str = torch.optim.RMSprop,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if mixer not in MIXERS:
            raise ValueError(f"Unknown mixer {mixer!r}; allowed: {MIXERS}")
        learning_rate = finite_float("learning_rate", learning_rate, low=0.0, meaning="0: the weights stay")
        optimizer_class, optimizer_kwargs = optimizer_setup(
            optimizer_class, json_mapping("optimizer_kwargs", optimizer_kwargs)
        )
        n_agents, n_actions, obs_dim, state_dim, rnn_hidden_dim, mixing_embed_dim, hypernet_embed = (
            whole_number(name, value, 1)
            for name, value in (
                ("n_agents", n_agents),
                ("n_actions", n_actions),
                ("obs_dim", obs_dim),
                ("state_dim", state_dim),
                ("rnn_hidden_dim", rnn_hidden_dim),
                ("mixing_embed_dim", mixing_embed_dim),
                ("hypernet_embed", hypernet_embed),
            )
        )
        obs_last_action, obs_agent_id = flag("obs_last_action", obs_last_action), flag("obs_agent_id", obs_agent_id)
        #: the constructor's arguments as JSON values (what :meth:`save` writes; the optimizer by its class name)
        self.constructor_kwargs: dict[str, Any] = {
            "n_agents": n_agents,
            "n_actions": n_actions,
            "obs_dim": obs_dim,
            "state_dim": state_dim,
            "learning_rate": learning_rate,
            "mixer": mixer,
            "rnn_hidden_dim": rnn_hidden_dim,
            "mixing_embed_dim": mixing_embed_dim,
            "hypernet_embed": hypernet_embed,
            "obs_last_action": obs_last_action,
            "obs_agent_id": obs_agent_id,
            "optimizer_class": optimizer_class.__name__,
            "optimizer_kwargs": optimizer_kwargs,
        }
        self.n_agents = n_agents
        self.n_actions = n_actions
        self.obs_dim = obs_dim
        self.state_dim = state_dim
        self.obs_last_action = obs_last_action
        self.obs_agent_id = obs_agent_id
        input_dim = obs_dim + (n_actions if obs_last_action else 0) + (n_agents if obs_agent_id else 0)
        self.agent = RNNAgent(input_dim, n_actions, rnn_hidden_dim)
        if mixer == "qmix":
            self.mixer: nn.Module | None = QMixer(n_agents, state_dim, mixing_embed_dim, hypernet_embed)
        elif mixer == "vdn":
            self.mixer = VDNMixer()
        else:
            self.mixer = None
        self.agent_target = copy.deepcopy(self.agent).requires_grad_(False)
        self.mixer_target = copy.deepcopy(self.mixer).requires_grad_(False) if self.mixer is not None else None
        self.register_buffer("agent_ids", torch.eye(n_agents), persistent=False)
        self.optimizer = checked_optimizer(optimizer_class, self.online_parameters(), learning_rate, optimizer_kwargs)

    @property
    def hidden_dim(self) -> int:
        """GRU hidden size ``H``."""
        return self.agent.hidden_dim

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.agent_ids.device

    def set_training_mode(self, mode: bool) -> None:
        """Put the networks in training (True) or evaluation (False) mode (Stable-Baselines3's policy method;
        :meth:`predict` leaves them in evaluation mode, the algorithm's ``train`` in training mode)."""
        self.train(mode)

    def online_parameters(self) -> list[nn.Parameter]:
        """The trained parameters: the agent network's and the mixer's (targets excluded)."""
        params = list(self.agent.parameters())
        if self.mixer is not None:
            params += list(self.mixer.parameters())
        return params

    def update_target(self, tau: float = 1.0) -> None:
        """Move the target agent and mixer weights toward the online ones: ``target <- tau * online + (1 - tau) *
        target`` (Polyak averaging); ``tau = 1`` is the hard copy."""
        pairs = [(self.agent_target, self.agent)]
        if self.mixer is not None:
            pairs.append((self.mixer_target, self.mixer))
        for target, online in pairs:
            if tau == 1.0:
                target.load_state_dict(online.state_dict())
                continue
            with torch.no_grad():
                for target_param, param in zip(target.parameters(), online.parameters(), strict=True):
                    target_param.lerp_(param, tau)
                for target_buffer, buffer in zip(target.buffers(), online.buffers(), strict=True):
                    target_buffer.copy_(buffer)  # running statistics are copied, as SB3's DQN does

    # ------------------------------------------------------------------ policy-only files (SB3's BasePolicy)
    def save(self, path: str | Path | io.BufferedIOBase) -> Path | io.BufferedIOBase:
        """Write the networks (online and target) and the constructor's arguments to a zip, without the optimizer
        state or any training setting (Stable-Baselines3's ``policy.save``); read it back with :meth:`load`.

        :param path: destination (``.zip`` appended unless the name ends with it), or an open binary file.
        :return: the path written (or the file object).
        """
        data = {"class": type(self).__name__, "kwargs": self.constructor_kwargs}
        return save_to_zip_file(path, data, {"policy": self.state_dict()})

    @classmethod
    def load(
        cls,
        path: str | Path | io.BufferedIOBase,
        device: torch.device | str = "auto",
        optimizer_class: type[torch.optim.Optimizer] | None = None,
    ) -> QMIXPolicy:
        """Build the policy saved with :meth:`save` (its optimizer starts fresh).

        :param path: the file (or an open binary file).
        :param device: device of the loaded policy (``"auto"``: CUDA when available, as Stable-Baselines3's).
        :param optimizer_class: the optimizer class, needed when the file names one outside ``torch.optim`` (a
            file records its optimizer by class name only); None: the ``torch.optim`` class the file names.
        """
        device = model_device(device)
        data, params = load_from_zip_file(path, device=device)
        fields = data if isinstance(data, dict) else {}
        if (
            fields.get("class") != cls.__name__
            or set(params) != {"policy"}
            or not isinstance(fields.get("kwargs"), dict)
        ):
            raise ValueError(
                f"{path} is not a {cls.__name__} file (class {fields.get('class')!r}, state dicts {sorted(params)}); "
                "a model saved with model.save() loads with its algorithm's load()"
            )
        kwargs = dict(data["kwargs"])
        names, complete = constructor_keywords(cls)
        names = [name for name in names if name != "self"]
        needed = [p.name for p in inspect.signature(cls.__init__).parameters.values() if p.default is p.empty][1:]
        missing = [name for name in [*needed, "optimizer_class"] if name not in kwargs]
        if missing:
            raise ValueError(f"{path} is not a valid {cls.__name__} file: its settings lack {missing} (of {names})")
        unknown = sorted(set(kwargs) - set(names)) if complete else []
        if unknown:
            raise ValueError(
                f"{path} holds settings {unknown} that {cls.__name__} does not take (a file of another version?); "
                f"its settings are {names}"
            )
        optimizer_name = kwargs.pop("optimizer_class")
        if not isinstance(optimizer_name, str):
            raise ValueError(
                f"{path} is not a valid {cls.__name__} file: its optimizer_class={optimizer_name!r} is no name"
            )
        if optimizer_class is not None and not (
            isinstance(optimizer_class, type)
            and issubclass(optimizer_class, torch.optim.Optimizer)
            and optimizer_class.__name__ == optimizer_name
        ):
            raise ValueError(
                f"optimizer_class={optimizer_class!r}: {path} was saved with an optimizer named {optimizer_name!r}; "
                "pass that class (a torch.optim.Optimizer)"
            )
        if optimizer_class is None:
            optimizer_class = getattr(torch.optim, optimizer_name, None)
            if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
                raise ValueError(
                    f"{path} names optimizer {optimizer_name!r}, which is not in torch.optim: pass its class as "
                    "load(..., optimizer_class=...)"
                )
        try:
            policy = cls(**kwargs, optimizer_class=optimizer_class).to(device)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: its settings do not make a valid {cls.__name__}: {error}") from None
        try:
            policy.load_state_dict(params["policy"])
        except RuntimeError as error:  # torch's size or key mismatch
            raise ValueError(
                f"{path} is not a valid {cls.__name__} file: its weights do not fit the networks that its settings "
                f"build: {error}"
            ) from None
        return policy

    # ------------------------------------------------------------------ acting
    def predict(
        self,
        observation: np.ndarray | torch.Tensor,
        state: RecurrentState | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
        avail_actions: np.ndarray | torch.Tensor | None = None,
        exploration_rate: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[np.ndarray, RecurrentState]:
        """Pick every agent's action for one step (Stable-Baselines3's ``policy.predict``, with the recurrent
        state and SMAC's available actions).

        :param observation: float[N, O] (one env) or float[B, N, O] (a batch of envs).
        :param state: the recurrent state returned by the previous call (None at the start: zeros).
        :param episode_start: bool[B]; True restarts the recurrent state of that env.
        :param deterministic: greedy when True, else epsilon-greedy at ``exploration_rate`` (as SB3's DQN policy,
            which acts greedily: with the default rate 0 both are greedy).
        :param avail_actions: bool[N, A] or bool[B, N, A]; None means every action is available.
        :param exploration_rate: epsilon in [0, 1] when not ``deterministic``.
        :param generator: random generator of the exploration (None: torch's global one).
        :return: int64 actions [N] or [B, N], and the new recurrent state (hidden [B, N, H], last action one-hot
            [B, N, A], with B = 1 for a single env).
        :raise TypeError: an argument that holds no numbers (None, a dict, strings), naming it with the shape and
            dtype expected.
        :raise ValueError: a ragged nested list, a shape that does not fit, NaN or inf in ``observation`` or
            ``state``, a mask (``avail_actions``, ``episode_start``) holding other values than True/False or 1/0.
        """
        n, o, a, h, device = self.n_agents, self.obs_dim, self.n_actions, self.hidden_dim, self.device
        if isinstance(observation, tuple) and len({tuple(getattr(item, "shape", ())) for item in observation}) > 1:
            raise ValueError(  # the agents' (or envs') observations all have one shape; the env's tuples do not
                f"observation is a {len(observation)}-tuple of arrays of different shapes, as env.reset() / env.step() "
                "return: pass its obs (the first item), with avail_actions=<its avail_actions>"
            )
        observation = numeric_array("observation", observation, f"float32 of shape ({n}, {o}) or (batch, {n}, {o})")
        obs = _as_tensor(observation, torch.float32, device)
        single = obs.dim() == 2
        if obs.dim() not in (2, 3) or obs.shape[-2:] != (n, o) or obs.numel() == 0:
            raise ValueError(f"observation has shape {tuple(obs.shape)}; expected ({n}, {o}) or (batch, {n}, {o})")
        if not bool(torch.isfinite(obs).all()):
            raise ValueError("observation holds NaN or inf: the agents cannot act on it")
        obs = obs.unsqueeze(0) if single else obs
        b = obs.shape[0]
        if avail_actions is None:
            avail = torch.ones(b, n, a, dtype=torch.bool, device=device)
        else:
            avail_actions = mask_array(
                "avail_actions", avail_actions, f"bool (or 1/0) of shape ({n}, {a}) or (batch, {n}, {a})"
            )
            avail = _as_tensor(avail_actions, None, device).bool()
            avail = avail.unsqueeze(0) if avail.dim() == 2 else avail
            if avail.shape != (b, n, a):
                expected = f"({n}, {a})" if single else f"({b}, {n}, {a})"
                raise ValueError(f"avail_actions has shape {tuple(np.shape(avail_actions))}; expected {expected}")
            blocked = (~avail.any(dim=-1)).nonzero()
            if len(blocked):
                env_index, agent = blocked[0].tolist()
                where = f"agent {agent}" if single else f"env {env_index}, agent {agent}"
                raise ValueError(f"avail_actions gives {where} no available action (every agent needs one)")
        if state is None:
            hidden, last_action = self.initial_hidden(b), torch.zeros(b, n, a, device=device)
        else:
            if not (isinstance(state, tuple | list) and len(state) == 2):
                raise ValueError(
                    "state must be the (hidden, last_action) pair that the previous predict() returned, "
                    f"not a {type(state).__name__}"
                )
            hidden = _as_tensor(
                finite_array("state[0] (hidden)", state[0], f"float32 of shape (batch, {n}, {h})"),
                torch.float32,
                device,
            )
            last_action = _as_tensor(
                finite_array("state[1] (last_action)", state[1], f"one-hot float32 of shape (batch, {n}, {a})"),
                torch.float32,
                device,
            )
            if hidden.shape != (b, n, h) or last_action.shape != (b, n, a):
                raise ValueError(
                    f"state shapes {tuple(hidden.shape)}, {tuple(last_action.shape)} do not match "
                    f"({b}, {n}, {h}), ({b}, {n}, {a})"
                )
        if episode_start is not None:
            episode_start = mask_array("episode_start", episode_start, "bool (or 1/0) of shape (batch,)")
            starts = _as_tensor(episode_start, None, device).bool()
            if starts.numel() != b:
                raise ValueError(f"episode_start has {starts.numel()} entries for {b} envs; give one per env")
            keep = ~starts.reshape(b, 1, 1)
            hidden, last_action = hidden * keep, last_action * keep
        self.set_training_mode(False)
        with torch.no_grad():
            q, hidden = self.q_values(obs, last_action, hidden)
            epsilon = 0.0 if flag("deterministic", deterministic) else exploration_rate
            actions = self.select_actions(q, avail, epsilon, generator)
        last_action = torch.nn.functional.one_hot(actions, a).float()
        actions_np = actions.cpu().numpy()
        return (actions_np[0] if single else actions_np), (hidden.cpu().numpy(), last_action.cpu().numpy())

    def initial_hidden(self, batch_size: int) -> torch.Tensor:
        """Zero GRU state for ``batch_size`` episodes: float[B, N, H]."""
        return torch.zeros(batch_size, self.n_agents, self.hidden_dim, device=self.device)

    def _agent_inputs(self, obs: torch.Tensor, last_action_onehot: torch.Tensor) -> torch.Tensor:
        """Concatenate observation, last-action one-hot and agent-id one-hot along the last axis."""
        parts = [obs]
        if self.obs_last_action:
            parts.append(last_action_onehot.to(obs.dtype))
        if self.obs_agent_id:
            parts.append(self.agent_ids.expand(*obs.shape[:-1], self.n_agents))
        return torch.cat(parts, dim=-1)

    def _check_obs(self, obs: torch.Tensor, name: str = "obs") -> None:
        if obs.shape[-2:] != (self.n_agents, self.obs_dim):
            raise ValueError(
                f"{name} has shape {tuple(obs.shape)}; expected [..., n_agents={self.n_agents}, obs_dim={self.obs_dim}]"
            )

    def q_values(
        self, obs: torch.Tensor, last_action_onehot: torch.Tensor, hidden: torch.Tensor, target: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every agent (differentiable w.r.t. ``obs``).

        :param obs: float[B, N, O] observations the agents act on.
        :param last_action_onehot: float[B, N, A] one-hot of the previous actions (zeros at an episode's start).
        :param hidden: float[B, N, H] GRU state before this step.
        :param target: use the target agent network.
        :return: Q-values float[B, N, A] and the next hidden state float[B, N, H].
        """
        self._check_obs(obs)
        b = obs.shape[0]
        agent = self.agent_target if target else self.agent
        inputs = self._agent_inputs(obs, last_action_onehot).reshape(b * self.n_agents, 1, -1)
        q, h = agent(inputs, hidden.reshape(b * self.n_agents, -1))
        return q.view(b, self.n_agents, self.n_actions), h.view(b, self.n_agents, -1)

    def q_values_sequence(
        self,
        obs: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden0: torch.Tensor | None = None,
        target: bool = False,
    ) -> torch.Tensor:
        """Q-values over whole episodes in one fused GRU call.

        :param obs: float[B, T, N, O].
        :param last_action_onehot: float[B, T, N, A], one-hot of the action taken at ``t - 1``.
        :param hidden0: float[B, N, H] state before step 0; zeros when None.
        :param target: use the target agent network.
        :return: float[B, T, N, A].
        """
        inputs, hidden0 = self._sequence_inputs(obs, last_action_onehot, hidden0)
        q, _ = (self.agent_target if target else self.agent)(inputs, hidden0)
        return self._unflatten_sequence(q, obs.shape[0])

    def hidden_sequence(
        self, obs: torch.Tensor, last_action_onehot: torch.Tensor, hidden0: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The online agents' GRU state *before* each step of whole episodes, float[B, T, N, H], in one fused call.

        Arguments as :meth:`q_values_sequence`; entry ``t`` is the ``hidden`` that :meth:`q_values` takes at step
        ``t`` (``hidden0`` at ``t = 0``).
        """
        inputs, flat_hidden0 = self._sequence_inputs(obs, last_action_onehot, hidden0)
        after = self.agent.hidden_states(inputs, flat_hidden0)
        before = torch.cat([flat_hidden0.unsqueeze(1), after[:, :-1]], dim=1)
        return self._unflatten_sequence(before, obs.shape[0])

    def _sequence_inputs(
        self, obs: torch.Tensor, last_action_onehot: torch.Tensor, hidden0: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-(episode, agent) input sequences float[B*N, T, D] and initial states float[B*N, H]."""
        self._check_obs(obs)
        b, t = obs.shape[:2]
        if hidden0 is None:
            hidden0 = self.initial_hidden(b)
        inputs = self._agent_inputs(obs, last_action_onehot).permute(0, 2, 1, 3).reshape(b * self.n_agents, t, -1)
        return inputs, hidden0.reshape(b * self.n_agents, -1)

    def _unflatten_sequence(self, values: torch.Tensor, batch_size: int) -> torch.Tensor:
        """float[B*N, T, X] -> float[B, T, N, X]."""
        return values.view(batch_size, self.n_agents, *values.shape[1:]).permute(0, 2, 1, 3)

    def mix(self, agent_qs: torch.Tensor, states: torch.Tensor, target: bool = False) -> torch.Tensor:
        """Team value from the chosen-action values.

        :param agent_qs: float[B, T, N]; :param states: float[B, T, S]; :param target: use the target mixer.
        :return: float[B, T], or the unchanged float[B, T, N] when there is no mixer.
        """
        mixer = self.mixer_target if target else self.mixer
        return agent_qs if mixer is None else mixer(agent_qs, states)

    @staticmethod
    def select_actions(
        q: torch.Tensor,
        avail_actions: torch.Tensor,
        epsilon: float | torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Per-agent epsilon-greedy over the available actions (PyMARL's ``EpsilonGreedyActionSelector``).

        :param q: float[B, N, A] Q-values.
        :param avail_actions: bool[B, N, A]; every agent needs at least one available action.
        :param epsilon: probability in [0, 1] that an agent picks uniformly among its available actions: one for
            the batch, or float[B], one per episode of the batch.
        :param generator: random generator on ``q``'s device (None: torch's global one).
        :return: int64[B, N] actions, never an unavailable one.
        """
        if isinstance(epsilon, torch.Tensor):
            if epsilon.shape != q.shape[:1]:
                raise ValueError(f"epsilon has shape {tuple(epsilon.shape)}; expected ({q.shape[0]},), one per episode")
            if epsilon.numel() and not (epsilon.min() >= 0.0 and epsilon.max() <= 1.0):
                raise ValueError(f"epsilon={epsilon.tolist()} has values outside [0, 1]")
            epsilon = epsilon[:, None]
        elif not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon={epsilon} is outside [0, 1]")
        avail = avail_actions.bool()
        greedy = greedy_actions(q, avail)
        if not isinstance(epsilon, torch.Tensor) and epsilon == 0.0:
            return greedy
        # A uniform random number on each available action: its argmax is a uniform available action.
        random_scores = torch.rand(q.shape, device=q.device, generator=generator) + 1.0
        random_actions = (random_scores * avail).argmax(dim=-1)
        explore = torch.rand(q.shape[:-1], device=q.device, generator=generator) < epsilon
        return torch.where(explore, random_actions, greedy)
