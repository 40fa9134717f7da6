"""Weight averages of QMIX's agent network and the choice of the network a trained model keeps.

The greedy policy of a QMIX agent network can change a lot between late updates (a 2m_vs_1z kite won in one
opening and lost in the other, or lost altogether for a few thousand steps). :class:`AgentWeightAverages` keeps
exponential moving averages of the agent network's weights (Polyak averaging), updated after every training round;
QMIX's ``agent_snapshots`` copy the online network at given fractions of training; :func:`select_final_agent` plays
greedy validation episodes with the online network, the target network, each average and each snapshot, and keeps
the one that wins most.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.common.validation import finite_float, is_finite_number


class AgentWeightAverages(nn.Module):
    """Exponential moving averages of an agent network's weights, one per rate.

    Each average starts as the network's weights at the first :meth:`update` (after the first training round, not
    at the random initialisation) and then moves ``rate`` of the way to the weights at every update.

    :param agent: the agent network whose weights are averaged (copied for the averages' shapes).
    :param rates: the averages' rates, each in (0, 1): about ``1 / rate`` updates make up an average.
    """

    def __init__(self, agent: nn.Module, rates: Sequence[float]) -> None:
        super().__init__()
        self.rates = tuple(float(rate) for rate in rates)
        self.averages = nn.ModuleList(_frozen_copy(agent) for _ in self.rates)
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def update(self, agent: nn.Module) -> None:
        """Move every average toward ``agent``'s current weights (the first update copies them)."""
        weights = agent.state_dict()
        for average, rate in zip(self.averages, self.rates):
            if int(self.n_updates) == 0:
                average.load_state_dict(weights)
            else:
                for name, value in average.state_dict().items():
                    value.lerp_(weights[name], rate)
        self.n_updates += 1

    def candidates(self) -> dict[str, dict[str, torch.Tensor]]:
        """The averages' weights by name (``"average 0.01"``, ...); none before the first update."""
        if int(self.n_updates) == 0:
            return {}
        return {average_name(rate): average.state_dict() for rate, average in zip(self.rates, self.averages)}


def average_name(rate: float) -> str:
    """The candidate name of the weight average of ``rate`` (``"average 0.01"``): rates that print alike share it."""
    return f"average {rate:g}"


def snapshot_name(fraction: float) -> str:
    """The candidate name of the online network copied at ``fraction`` of a ``learn`` call (``"snapshot 0.6"``)."""
    return f"snapshot {fraction:g}"


def weight_average_rates(rates: Any) -> list[float]:
    """``rates`` checked as ``weight_averages``: a list of distinct rates, each a finite number in (0, 1).

    :raise ValueError: naming the rate at fault and its index.
    """
    return _distinct_fractions("weight_averages", rates, average_name, "rate", "[0.01]")


def snapshot_fractions(fractions: Any) -> list[float]:
    """``fractions`` checked as ``agent_snapshots``: a list of distinct fractions of a ``learn`` call's env steps,
    each a finite number in (0, 1), in increasing order.

    :raise ValueError: naming the fraction at fault and its index.
    """
    return sorted(_distinct_fractions("agent_snapshots", fractions, snapshot_name, "fraction", "[0.6, 0.8]"))


def _distinct_fractions(
    setting: str, values: Any, candidate_name: Callable[[float], str], kind: str, example: str
) -> list[float]:
    """``values`` checked as a list of finite numbers in (0, 1) whose candidate names differ."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{setting}={values!r} must be a list of {kind}s in (0, 1), e.g. {example}")
    checked = [
        finite_float(f"{setting}[{index}]", value, 0.0, 1.0, low_open=True, high_open=True)
        for index, value in enumerate(values)
    ]
    names = [candidate_name(value) for value in checked]  # equal candidate names would hide a candidate
    repeated = sorted({name.split(" ", 1)[1] for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{setting}={list(values)!r} repeats the {kind}(s) {', '.join(repeated)}: give each once")
    return checked


def _frozen_copy(agent: nn.Module) -> nn.Module:
    return copy.deepcopy(agent).requires_grad_(False)


def select_final_agent(model: Any, n_episodes: int, online: dict[str, torch.Tensor]) -> tuple[str, dict[str, float]]:
    """Play ``n_episodes`` greedy episodes in ``model``'s training env with each candidate agent network (the online
    one, the target one, each of ``model.agent_averages``, then each of ``model.snapshot_weights``) and load the one
    that does best into ``model.policy.agent`` (ties: the earlier candidate, so the online network keeps its place
    unless beaten). Once a candidate wins every episode (an adversary's: none), the later ones are not played (none
    of them could be chosen): the choice is the one all candidates' episodes would give, at less validation time.

    "Best" is the most battles won, or the fewest for a model whose env's ``battle_won`` is its opponent's
    (``battle_won_is_a_loss``, e.g. PA-AD's director). Validation plays the training env as it is, without an attack
    of its own (a robust variant's training attack is not applied). The training env's episodes in progress are
    dropped (its next ``learn`` starts new ones, see :func:`~sb3_marl.common.evaluation.evaluate_policy`); test
    episodes played on other env seeds stay unseen. When an episode fails or is interrupted (Ctrl-C), the online
    network is put back before the exception goes on.

    :param online: a copy of the online network's weights (:func:`cloned_weights`), the first candidate.
    :return: the chosen candidate's name and the validation win rate (``battle_won``'s rate) of every candidate
        played, in candidate order (a candidate sharing the weights of one played is listed too).
    """
    policy = model.policy
    candidates = {
        "online": online,
        "target": policy.agent_target.state_dict(),
        **(model.agent_averages.candidates() if model.agent_averages is not None else {}),
        **model.snapshot_weights,
    }
    sign = -1.0 if getattr(model, "battle_won_is_a_loss", False) else 1.0
    win_rates: dict[str, float] = {}
    chosen = "online"
    unbeatable = 1.0 if sign > 0 else 0.0  # every validation episode won (an adversary's: lost)
    played: dict[int, float] = {}  # by id of the weights: snapshots of one training round share one copy
    try:
        for name, weights in candidates.items():
            if id(weights) not in played:
                if unbeatable in played.values():
                    continue
                policy.agent.load_state_dict(weights)
                played[id(weights)] = evaluate_policy(model, model.get_env(), n_episodes)[0]
            win_rates[name] = played[id(weights)]
        chosen = max(win_rates, key=lambda name: sign * win_rates[name])  # the first of equal ones
    finally:
        policy.agent.load_state_dict(candidates[chosen])
    return chosen, win_rates


def checked_final_selection(path: Any, value: Any) -> tuple[str, dict[str, float]] | None:
    """``final_selection`` as read from the model file ``path`` (JSON keeps the pair as a list): None, or the kept
    candidate's name and the validation win rates by candidate name, each in [0, 1], the kept one among them.

    :raise ValueError: naming the file, when the value is not of that shape.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        chosen, win_rates = value
        if (
            isinstance(chosen, str)
            and isinstance(win_rates, dict)
            and chosen in win_rates
            and all(isinstance(name, str) for name in win_rates)
            and all(is_finite_number(rate) and 0.0 <= rate <= 1.0 for rate in win_rates.values())
        ):
            return chosen, {name: float(rate) for name, rate in win_rates.items()}
    raise ValueError(
        f"{path} is not a valid model file: its final_selection={value!r} is not null or a pair [name of the kept "
        "network, {candidate name: validation win rate in [0, 1]}] naming one of its candidates"
    )


def cloned_weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``module``'s weights (its state dict, each tensor cloned), unaffected by later updates."""
    return {name: value.clone() for name, value in module.state_dict().items()}
