"""Tests of the robust QMIX variants (sb3_marl.robust): regulariser, schedules, defences, save/load."""

from __future__ import annotations

import pytest
import torch
from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule
from torch import nn

from sb3_marl.attacks import PGD
from sb3_marl.robust.regularizer import hidden_before_steps, hinge_regularizer
from sb3_marl.robust.schedules import StepSchedule, make_schedule, schedule_to_dict


class LinearAgent(nn.Module):
    """Q = obs @ weight + bias for every agent (hidden state passed through unchanged)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())

    def q_values(self, obs, last_action_onehot, hidden):
        return obs @ self.weight + self.bias, hidden + 1


def alive_obs(*shape: int) -> torch.Tensor:
    """Observations (0, 1): feature 0 at zero, feature 1 (ignored by the agents' Q-values) marks them alive."""
    obs = torch.zeros(*shape, 2)
    obs[..., 1] = 1.0
    return obs


def regularizer_of(agent: LinearAgent, obs: torch.Tensor, epsilon: float = 0.2, hinge_c: float = 10.0):
    avail = torch.ones(*obs.shape[:2], agent.bias.shape[0], dtype=torch.bool)
    last = torch.zeros(avail.shape)
    hidden = torch.zeros(*obs.shape[:2], 1)
    attack = PGD(epsilon, n_steps=3, objective="margin", clip_observations=False, seed=0)
    return hinge_regularizer(agent, obs, avail, last, hidden, attack, hinge_c)


def test_regularizer_zero_when_margin_exceeds_c():
    # Q(a0) - Q(a1) = 20 - 0.5 * |obs| > c = 10 everywhere in the ball: the floor is reached, nothing to pay.
    agent = LinearAgent(torch.tensor([[0.0, 0.5], [0.0, 0.5]]), torch.tensor([20.0, 0.0]))
    reg = regularizer_of(agent, torch.rand(4, 3, 2))
    assert reg.shape == (4, 3)
    assert torch.equal(reg, torch.zeros(4, 3))


def test_regularizer_positive_and_exceeds_c_when_the_ball_flips_the_action():
    # Clean obs (0, 1): Q = (0.1, 0); moving obs[0] by +0.2 gives Q(a1) = 1.0 > Q(a0): the greedy action flips.
    agent = LinearAgent(torch.tensor([[0.0, 5.0], [0.0, 0.0]]), torch.tensor([0.1, 0.0]))
    reg = regularizer_of(agent, alive_obs(2, 3))
    assert (reg > 10.0).all()
    # the worst case of the ball was found: margin 5 * 0.2 - 0.1 = 0.9, plus c
    torch.testing.assert_close(reg.detach(), torch.full((2, 3), 10.9))
    reg.sum().backward()
    assert agent.weight.grad is not None and agent.weight.grad.abs().sum() > 0


def test_regularizer_between_zero_and_c_when_margin_inside_hinge():
    # a0 stays greedy in the ball but by less than c: -c < margin < 0 -> 0 < reg < c.
    agent = LinearAgent(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.tensor([3.0, 0.0]))
    reg = regularizer_of(agent, alive_obs(1, 2))
    torch.testing.assert_close(reg.detach(), torch.full((1, 2), 10.0 - 3.0 + 0.2))


def test_regularizer_ignores_agents_with_one_available_action():
    agent = LinearAgent(torch.tensor([[0.0, 5.0], [0.0, 0.0]]), torch.tensor([0.1, 0.0]))
    obs = alive_obs(1, 2)
    avail = torch.tensor([[[True, True], [True, False]]])
    attack = PGD(0.2, n_steps=1, objective="margin", clip_observations=False, seed=0)
    reg = hinge_regularizer(agent, obs, avail, torch.zeros(1, 2, 2), torch.zeros(1, 2, 1), attack, 10.0)
    assert reg[0, 0] > 10.0 and reg[0, 1] == 0.0


def test_hidden_before_steps_matches_stepping():
    agent = LinearAgent(torch.zeros(2, 2), torch.zeros(2))
    hidden = hidden_before_steps(agent, torch.zeros(2, 4, 3, 2), torch.zeros(2, 4, 3, 2), torch.zeros(2, 3, 1))
    assert hidden.shape == (2, 4, 3, 1)
    assert hidden[0, :, 0, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "schedule", [StepSchedule(0.0, 0.1, 0.5), ConstantSchedule(0.3), LinearSchedule(1.0, 0.0, 0.5)]
)
def test_schedule_round_trip(schedule):
    rebuilt = make_schedule(schedule_to_dict(schedule), "kappa")
    for progress in (1.0, 0.8, 0.51, 0.49, 0.0):
        assert rebuilt(progress) == schedule(progress)


def test_step_schedule_switches_at_half():
    schedule = StepSchedule()
    assert schedule(1.0) == 0.0 and schedule(0.51) == 0.0
    assert schedule(0.5) == 0.1 and schedule(0.0) == 0.1


def test_bad_schedules_raise():
    with pytest.raises(ValueError, match="kappa"):
        make_schedule(lambda _: 0.1, "kappa")
    with pytest.raises(ValueError, match="unknown schedule type"):
        make_schedule({"type": "cosine"}, "kappa")
    with pytest.raises(ValueError, match="switch_fraction"):
        StepSchedule(switch_fraction=1.5)
    assert make_schedule(0.2, "kappa")(0.3) == 0.2
