"""A tiny cooperative batched env for fast tests of the algorithms (no simulator needed)."""

from __future__ import annotations

import torch

from sb3_marl.envs.base import BatchedMultiAgentEnv, ResetReturn, StepReturn, check_joint_actions


class CueMatchingEnv(BatchedMultiAgentEnv):
    """Each step every agent sees a random cue in ``[0, n_actions - 1)`` and must play the action of that index.

    The team gets reward 1 when every agent matched its cue; one mismatch ends the episode (a loss).  Matching
    for ``episode_limit`` steps in a row ends the episode by timeout and counts as a win, so episodes have
    lengths 1..``episode_limit`` and both true terminations and timeouts occur.  The last action index is
    unavailable to even-numbered agents, so an algorithm that ignores availability masks crashes.

    Observation of agent ``i``: one-hot of its cue (size ``n_actions - 1``); the time is not observed, so a
    timeout is not predictable from the observation (as in SMAC).
    State: all observations concatenated.

    :param n_envs: episodes stepped together.
    :param n_agents: agents per episode.
    :param n_actions: actions per agent (>= 2).
    :param episode_limit: maximum episode length in steps.
    :param seed: seed of the env's generator.
    :param device: torch device of every tensor.
    """

    map_name = "cue_matching"
    n_enemies = 0

    def __init__(
        self,
        n_envs: int = 1,
        n_agents: int = 2,
        n_actions: int = 4,
        episode_limit: int = 5,
        seed: int | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if n_actions < 2:
            raise ValueError(f"n_actions={n_actions} must be >= 2")
        self.n_envs, self.n_agents, self.n_actions, self.episode_limit = n_envs, n_agents, n_actions, episode_limit
        self.obs_shape = n_actions - 1
        self.state_shape = n_agents * (n_actions - 1)
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        if seed is not None:
            self.generator.manual_seed(seed)
        self.t = torch.zeros(n_envs, dtype=torch.int64, device=self.device)
        self.cues = torch.zeros(n_envs, n_agents, dtype=torch.int64, device=self.device)
        self.finished = torch.ones(n_envs, dtype=torch.bool, device=self.device)
        self.avail = torch.ones(n_envs, n_agents, n_actions, dtype=torch.bool, device=self.device)
        self.avail[:, 0::2, -1] = False
        self.stats = {"battles_won": 0, "battles_game": 0, "timeouts": 0}

    def _observe(self) -> ResetReturn:
        obs = torch.nn.functional.one_hot(self.cues, self.n_actions - 1).float()
        return obs, obs.reshape(self.n_envs, -1), self.avail.clone()

    def _draw_cues(self, mask: torch.Tensor) -> None:
        new = torch.randint(self.n_actions - 1, self.cues.shape, device=self.device, generator=self.generator)
        self.cues = torch.where(mask.unsqueeze(-1), new, self.cues)

    def reset(self, env_mask: torch.Tensor | None = None, seed: int | None = None) -> ResetReturn:
        if seed is not None:
            self.generator.manual_seed(seed)
        mask = torch.ones(self.n_envs, dtype=torch.bool, device=self.device) if env_mask is None else env_mask
        self.t = torch.where(mask, 0, self.t)
        self.finished &= ~mask
        self._draw_cues(mask)
        return self._observe()

    def step(self, actions: torch.Tensor) -> StepReturn:
        actions = check_joint_actions(
            actions, self.avail, stopped=self.finished, stopped_message="Env {env} has terminated and was not reset"
        )
        matched = (actions == self.cues).all(dim=-1)
        self.t += 1
        timeout = matched & (self.t >= self.episode_limit)
        terminated = ~matched | timeout
        self.finished = terminated.clone()
        self._draw_cues(~terminated)
        self.stats["battles_game"] += int(terminated.sum())
        self.stats["battles_won"] += int(timeout.sum())
        self.stats["timeouts"] += int(timeout.sum())
        info = {
            "battle_won": timeout,
            "episode_limit": timeout,
            "dead_allies": torch.zeros(self.n_envs, dtype=torch.int64, device=self.device),
            "dead_enemies": torch.zeros(self.n_envs, dtype=torch.int64, device=self.device),
        }
        return (*self._observe(), matched.float(), terminated, info)

    def get_stats(self) -> dict[str, float]:
        games = max(self.stats["battles_game"], 1)
        return {
            **{k: float(v) for k, v in self.stats.items()},
            "battles_draw": float(self.stats["timeouts"] - self.stats["battles_won"]),
            "win_rate": self.stats["battles_won"] / games,
            "restarts": 0.0,
        }
