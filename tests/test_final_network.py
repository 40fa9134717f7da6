"""Weight averages of QMIX's agent network and the final-network choice (sb3_marl.qmix.final_network)."""

import copy
from pathlib import Path

import pytest
import torch

from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.qmix import QMIX, final_network
from sb3_marl.qmix.final_network import AgentWeightAverages, cloned_weights
from tests.helpers import rewrite_data


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


def _trained(**kwargs) -> QMIX:
    """A QMIX trained 2000 steps on the cue env with one weight average (and ``kwargs``)."""
    return QMIX(
        CueMatchingEnv(n_envs=4, seed=0),
        seed=0,
        batch_size=4,
        exploration_timesteps=1000,
        weight_averages=[0.1],
        **kwargs,
    ).learn(2000)


@pytest.fixture(scope="module")
def trained_once() -> QMIX:
    """``_trained()``, trained once for the module: tests take a copy (``trained``)."""
    return _trained()


@pytest.fixture(scope="module")
def chosen_once() -> QMIX:
    """``_trained(final_selection_episodes=16)``: learn() ended with the final choice. Tests take a copy."""
    return _trained(final_selection_episodes=16)


@pytest.fixture
def trained(trained_once: QMIX) -> QMIX:
    """A copy of ``trained_once`` of the test's own (deep copies train on exactly as the original would)."""
    return copy.deepcopy(trained_once)


@pytest.fixture
def chosen(chosen_once: QMIX) -> QMIX:
    """A copy of ``chosen_once`` of the test's own."""
    return copy.deepcopy(chosen_once)


@pytest.fixture(scope="module")
def chosen_path(chosen_once: QMIX, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``chosen_once`` saved (a file the tests only read)."""
    return chosen_once.save(tmp_path_factory.mktemp("final_network") / "m")


def _validation_win_rates(monkeypatch, rates, fail_at=None):
    """Make the choice's validation episodes return ``rates`` in candidate order (raise KeyboardInterrupt at
    candidate ``fail_at``); returns the weights each evaluation played with."""
    played = []

    def fake_evaluate_policy(model, env, n_eval_episodes):
        played.append(cloned_weights(model.policy.agent))
        if len(played) - 1 == fail_at:
            raise KeyboardInterrupt
        return rates[len(played) - 1], 0.0, 0.0

    monkeypatch.setattr(final_network, "evaluate_policy", fake_evaluate_policy)
    return played


def _same(weights, module):
    return all(torch.equal(weights[name], value) for name, value in module.state_dict().items())


def test_learn_keeps_the_candidate_that_wins_most_validation_episodes(chosen, tmp_path):
    model = chosen
    chosen, win_rates = model.final_selection
    candidates = ["online", "target", "average 0.1"]
    assert list(win_rates) == candidates[: len(win_rates)]  # the ones after a candidate that won all 16 do not play
    assert len(win_rates) == len(candidates) or max(win_rates.values()) == 1.0
    assert chosen == next(name for name, rate in win_rates.items() if rate == max(win_rates.values()))
    # the averages are saved with the model and the rates shape the file: a load cannot change them
    loaded = QMIX.load(model.save(tmp_path / "m"))
    assert torch.equal(loaded.agent_averages.n_updates, model.agent_averages.n_updates)
    for a, b in zip(loaded.agent_averages.parameters(), model.agent_averages.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="weight_averages"):
        QMIX.load(tmp_path / "m.zip", weight_averages=[0.2])


@pytest.mark.parametrize(("loss_is_a_win", "kept"), [(False, "target"), (True, "average 0.1")])
def test_the_kept_network_is_loaded_and_an_adversary_keeps_the_one_its_opponent_beats_least(
    monkeypatch, trained, loss_is_a_win, kept
):
    """An adversary (battle_won_is_a_loss, e.g. PA-AD's director) kept the network its victim beat most."""
    model = trained
    model.battle_won_is_a_loss = loss_is_a_win
    target, average = cloned_weights(model.policy.agent_target), cloned_weights(model.agent_averages.averages[0])
    played = _validation_win_rates(monkeypatch, [0.5, 0.9, 0.1])
    chosen, win_rates = final_network.select_final_agent(model, 16, cloned_weights(model.policy.agent))
    assert (chosen, win_rates) == (kept, {"online": 0.5, "target": 0.9, "average 0.1": 0.1})
    assert _same(played[1], model.policy.agent_target) and _same(average, model.agent_averages.averages[0])
    assert _same(target if kept == "target" else average, model.policy.agent)


@pytest.mark.parametrize(
    ("loss_is_a_win", "rates", "kept"), [(False, [0.5, 1.0], "target"), (True, [0.5, 0.0], "target")]
)
def test_candidates_after_one_that_cannot_be_beaten_do_not_play(monkeypatch, trained, loss_is_a_win, rates, kept):
    """A candidate that won every validation episode (an adversary's: lost every one) is chosen whatever the later
    ones win, so they are not played (2s3z: up to 7 x 64 episodes after an online network that won all 64)."""
    model = trained
    model.battle_won_is_a_loss = loss_is_a_win
    played = _validation_win_rates(monkeypatch, [*rates, 1.0 - rates[1]])
    chosen, win_rates = final_network.select_final_agent(model, 16, cloned_weights(model.policy.agent))
    assert len(played) == 2 and (chosen, win_rates) == (kept, {"online": 0.5, "target": rates[1]})
    assert _same(played[1], model.policy.agent_target) and _same(played[1], model.policy.agent)


def test_a_choice_logs_only_its_own_candidates(monkeypatch, chosen):
    """A choice that played fewer candidates than an earlier one, not yet written (learn(log_interval=None)), left
    the earlier choice's final_selection/* values to be written with its own."""
    model = chosen
    _validation_win_rates(monkeypatch, [0.5, 0.9, 0.1])
    model._on_learn_end(1, None)
    _validation_win_rates(monkeypatch, [1.0])
    model._on_learn_end(1, None)
    logged = {key: value for key, value in model.logger.name_to_value.items() if key.startswith("final_selection/")}
    assert logged == {"final_selection/online": 1.0}


def test_an_interrupted_choice_puts_the_online_network_back(monkeypatch, chosen):
    """Ctrl-C during the target's validation episodes left the target's weights in the online network (and the
    zoo saves a model on Ctrl-C); a model whose earlier learn() had kept another network still named that one."""
    model = chosen
    _validation_win_rates(monkeypatch, [0.5, 0.9, 0.1])
    model._on_learn_end(1, None)
    assert model.final_selection[0] == "target"
    online = cloned_weights(model.policy.agent)
    _validation_win_rates(monkeypatch, [0.5, 0.9, 0.1], fail_at=1)
    with pytest.raises(KeyboardInterrupt):
        model._on_learn_end(1, None)
    assert _same(online, model.policy.agent) and _same(model.agent_before_selection, model.policy.agent)
    assert model.final_selection is None  # the online network, as trained


def test_the_choice_is_logged_counts_no_steps_and_runs_only_after_updates(monkeypatch, chosen):
    """The final_selection/* values were recorded but never written; a learn() call that trained nothing played
    the validation episodes again and could swap the network."""
    model = chosen
    counters = (model.num_timesteps, model._episode_num, list(model.ep_info_buffer), model._n_updates)
    dumped = []
    monkeypatch.setattr(model.logger, "dump", lambda step=0: dumped.append((step, dict(model.logger.name_to_value))))
    model._on_learn_end(1, None)  # learn(log_interval=None): recorded, not written
    assert dumped == [] and "final_selection/online" in model.logger.name_to_value
    online = cloned_weights(model.policy.agent)
    model._on_learn_end(1, 4)
    assert (model.num_timesteps, model._episode_num, list(model.ep_info_buffer), model._n_updates) == counters
    assert online.keys() == model.agent_before_selection.keys()
    assert all(torch.equal(online[name], model.agent_before_selection[name]) for name in online)
    step, values = dumped[-1]
    assert step == model.num_timesteps
    assert {key: values[key] for key in values if key.startswith("final_selection/")} == {
        f"final_selection/{name.replace(' ', '_')}": rate for name, rate in model.final_selection[1].items()
    }
    selection = model.final_selection
    weights = cloned_weights(model.policy.agent)
    played = _validation_win_rates(monkeypatch, [0.0, 1.0, 1.0])
    model.learn(0, reset_num_timesteps=False)  # no rollout, no update: nothing to choose
    assert played == [] and model.final_selection is selection and _same(weights, model.policy.agent)
    model.final_selection_episodes = 0
    model.learn(100, reset_num_timesteps=False)  # trained without a choice: the online network as trained
    assert played == [] and model.final_selection is None and model.agent_before_selection is None


def test_a_scrambled_online_network_loses_the_choice(trained):
    """The online network is kept only when no candidate beats it: with its weights scrambled after training, a
    trained average or the target wins the validation episodes."""
    model = trained
    assert model.final_selection is None  # final_selection_episodes 0: the online network as trained
    with torch.no_grad():
        for parameter in model.policy.agent.parameters():
            parameter.normal_(generator=torch.Generator().manual_seed(1))
    model.final_selection_episodes = 16
    model._on_learn_end(1, None)
    chosen, win_rates = model.final_selection
    assert chosen != "online" and win_rates[chosen] > win_rates["online"]


def test_snapshots_of_the_online_network_are_candidates_taken_at_fractions_of_each_learn_call(monkeypatch):
    """A network that learned the game and lost it again late in training (2s3z seed 12 won 0.99 at 125k steps,
    0.64 at 205k) is only found among copies of the online network taken during training."""
    model = QMIX(
        CueMatchingEnv(n_envs=4, seed=0),
        seed=0,
        batch_size=4,
        exploration_timesteps=1000,
        agent_snapshots=[0.5, 0.25],
        final_selection_episodes=8,
    )
    trained = []  # (env steps of this learn call, the online network) after each training round
    train = QMIX.train

    def recording_train(self, gradient_steps, batch_size):
        train(self, gradient_steps, batch_size)
        trained.append((self.num_timesteps - self._num_timesteps_at_start, cloned_weights(self.policy.agent)))

    monkeypatch.setattr(QMIX, "train", recording_train)
    _validation_win_rates(monkeypatch, [0.5] * 8)  # no candidate wins all its games: each one plays
    for start, budget in ((0, 2000), (None, 1000)):  # a later learn call takes its own, at its own fractions
        trained.clear()
        model.learn(budget, reset_num_timesteps=start is not None)
        assert list(model.snapshot_weights) == ["snapshot 0.25", "snapshot 0.5"]
        for fraction in (0.25, 0.5):
            weights = next(w for steps, w in trained if steps >= fraction * budget)
            assert weights.keys() == model.snapshot_weights[f"snapshot {fraction}"].keys()
            assert all(torch.equal(w, model.snapshot_weights[f"snapshot {fraction}"][k]) for k, w in weights.items())
        assert list(model.final_selection[1]) == ["online", "target", "snapshot 0.25", "snapshot 0.5"]


def test_a_snapshot_shared_by_several_fractions_plays_once(monkeypatch, trained):
    """Fractions passed in one training round share one copy: its validation episodes were played once per name."""
    model = trained
    shared = cloned_weights(model.policy.agent)
    model.snapshot_weights = {"snapshot 0.1": shared, "snapshot 0.2": shared}
    played = _validation_win_rates(monkeypatch, [0.5, 0.25, 0.75, 1.0])
    chosen, win_rates = final_network.select_final_agent(model, 16, cloned_weights(model.policy.agent))
    assert len(played) == 4  # online, target, the average, the shared snapshot
    assert win_rates == {"online": 0.5, "target": 0.25, "average 0.1": 0.75, "snapshot 0.1": 1.0, "snapshot 0.2": 1.0}
    assert chosen == "snapshot 0.1" and _same(shared, model.policy.agent)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agent_snapshots": [0.5]}, r"agent_snapshots=\[0.5\] are candidates of the final choice, which final_sel"),
        ({"agent_snapshots": [1.0], "final_selection_episodes": 8}, r"agent_snapshots\[0\]=1.0 must be a finite"),
        ({"agent_snapshots": [0.5, 0.5], "final_selection_episodes": 8}, r"repeats the fraction\(s\) 0.5"),
        ({"agent_snapshots": "0.5", "final_selection_episodes": 8}, r"must be a list of fractions in \(0, 1\)"),
        ({"weight_averages": 0.01}, "weight_averages=0.01 must be a list of rates"),
        ({"weight_averages": [0.0]}, r"weight_averages\[0\]=0.0 must be a finite number in \(0, 1\)"),
        ({"weight_averages": [0.1, 1.0]}, r"weight_averages\[1\]=1.0 must be"),
        ({"weight_averages": [0.01, 0.010]}, r"repeats the rate\(s\) 0.01"),  # one candidate name hid the other
        ({"weight_averages": None}, "weight_averages=None must be a list of rates"),
        ({"final_selection_episodes": -1}, "final_selection_episodes=-1 must be an integer >= 0"),
        ({"final_selection_episodes": 1.5}, "final_selection_episodes=1.5 must be an integer >= 0"),
        ({"final_selection_episodes": True}, "final_selection_episodes=True must be an integer >= 0"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QMIX(CueMatchingEnv(), **kwargs)


def test_a_saved_model_tells_which_network_it_holds(tmp_path, chosen, trained):
    """final_selection was not saved: a loaded model could not tell a weight average from the network as trained."""
    model = chosen
    loaded = QMIX.load(model.save(tmp_path / "m"))
    assert loaded.final_selection == model.final_selection and isinstance(loaded.final_selection, tuple)
    assert _same(cloned_weights(model.policy.agent), loaded.policy.agent)  # the kept network is the saved one
    assert loaded.agent_before_selection is None  # the online network's weights are not saved
    assert QMIX.load(model.save(tmp_path / "m2", exclude=["final_selection"])).final_selection is None
    assert QMIX.load(trained.save(tmp_path / "m3")).final_selection is None  # no choice: none recorded
    # one file per save, so that each load reads the file it means (the intact one was overwritten and never read)
    with_snapshots = _trained(agent_snapshots=[0.5], final_selection_episodes=4)
    intact = with_snapshots.save(tmp_path / "snapshots")
    without_episodes = with_snapshots.save(tmp_path / "snapshots_no_episodes", exclude=["final_selection_episodes"])
    message = r"snapshots_no_episodes.zip: its settings do not make a valid QMIX: agent_snapshots=\[0.5\]"
    with pytest.raises(ValueError, match=message):
        QMIX.load(without_episodes)
    assert QMIX.load(intact).final_selection_episodes == 4
    assert QMIX.load(intact, final_selection_episodes=8).final_selection_episodes == 8
    model.train(gradient_steps=1, batch_size=4)  # trained on (a checkpoint in a later learn): the online network
    assert model.final_selection is None and model.agent_before_selection is None


@pytest.mark.parametrize(
    "value",
    [
        "average 0.1",  # not a pair
        ["online"],
        ["average 0.5", {"online": 1.0}],  # the kept network is not a candidate
        ["online", {"online": 1.5}],  # a win rate outside [0, 1]
        ["online", {"online": "high"}],
        ["online", {"online": True}],
        [1, {"1": 1.0}],
        ["online", [["online", 1.0]]],
    ],
)
def test_a_malformed_saved_choice_is_named(tmp_path, chosen_path, value):
    rewrite_data(
        chosen_path,
        tmp_path / "bad.zip",
        lambda data: {**data, "counters": {**data["counters"], "final_selection": value}},
    )
    with pytest.raises(ValueError, match=r"bad.zip is not a valid model file: its final_selection=.* is not null or a"):
        QMIX.load(tmp_path / "bad.zip")
