"""Weight averages of QMIX's agent network and the final-network choice (sb3_marl.qmix.final_network)."""

import pytest
import torch

from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.qmix import QMIX
from sb3_marl.qmix.final_network import AgentWeightAverages


def test_averages_start_at_the_first_update_and_then_move_by_their_rate():
    agent = torch.nn.Linear(2, 2)
    averages = AgentWeightAverages(agent, [0.5, 0.25])
    assert averages.candidates() == {}  # nothing to offer before the first training round
    with torch.no_grad():
        agent.weight.fill_(1.0)
    averages.update(agent)  # a copy, not a step from the random initial weights
    with torch.no_grad():
        agent.weight.fill_(3.0)
    averages.update(agent)
    candidates = averages.candidates()
    assert list(candidates) == ["average 0.5", "average 0.25"]
    assert torch.equal(candidates["average 0.5"]["weight"], torch.full((2, 2), 2.0))
    assert torch.equal(candidates["average 0.25"]["weight"], torch.full((2, 2), 1.5))


def test_learn_keeps_the_candidate_that_wins_most_validation_episodes(tmp_path):
    model = QMIX(
        CueMatchingEnv(n_envs=4, seed=0),
        seed=0,
        batch_size=4,
        exploration_timesteps=1000,
        weight_averages=[0.1],
        final_selection_episodes=16,
    ).learn(2000)
    chosen, win_rates = model.final_selection
    assert list(win_rates) == ["online", "target", "average 0.1"]
    assert win_rates[chosen] == max(win_rates.values())
    assert chosen == next(name for name, rate in win_rates.items() if rate == max(win_rates.values()))
    candidates = {"target": model.policy.agent_target, "average 0.1": model.agent_averages.averages[0]}
    if chosen in candidates:  # the online weights were replaced by the chosen network's
        for kept, source in zip(model.policy.agent.parameters(), candidates[chosen].parameters()):
            assert torch.equal(kept, source)
    # the averages are saved with the model and the rates shape the file: a load cannot change them
    loaded = QMIX.load(model.save(tmp_path / "m"))
    assert torch.equal(loaded.agent_averages.n_updates, model.agent_averages.n_updates)
    for a, b in zip(loaded.agent_averages.parameters(), model.agent_averages.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="weight_averages"):
        QMIX.load(tmp_path / "m.zip", weight_averages=[0.2])


def test_a_scrambled_online_network_loses_the_choice():
    """The online network is kept only when no candidate beats it: with its weights scrambled after training, a
    trained average or the target wins the validation episodes."""
    model = QMIX(
        CueMatchingEnv(n_envs=4, seed=0), seed=0, batch_size=4, exploration_timesteps=1000, weight_averages=[0.1]
    ).learn(2000)
    assert model.final_selection is None  # final_selection_episodes 0: the online network as trained
    with torch.no_grad():
        for parameter in model.policy.agent.parameters():
            parameter.normal_(generator=torch.Generator().manual_seed(1))
    model.final_selection_episodes = 16
    model._on_learn_end()
    chosen, win_rates = model.final_selection
    assert chosen != "online" and win_rates[chosen] > win_rates["online"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight_averages": 0.01}, "weight_averages=0.01 must be a list of rates"),
        ({"weight_averages": [0.0]}, "weight_averages rate"),
        ({"weight_averages": [1.0]}, "weight_averages rate"),
        ({"final_selection_episodes": -1}, "final_selection_episodes"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QMIX(CueMatchingEnv(), **kwargs)
