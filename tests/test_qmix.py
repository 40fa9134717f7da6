"""QMIX: TD targets against a hand computation, seeding, input validation, hooks and a learning check."""

import copy
import types
import warnings

import numpy as np
import pytest
import torch
from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.utils import LinearSchedule

from sb3_marl.adversaries import MAPPO
from sb3_marl.common.base_class import batch_env_seed, offset_seed
from sb3_marl.common.buffers import PrioritizedEpisodeReplayBuffer
from sb3_marl.common.callbacks import BaseCallback, EvalCallback
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.envs.simulator import SMACSimulator
from sb3_marl.qmix import QMIX
from sb3_marl.qmix.qmix import previous_actions_onehot
from sb3_marl.robust import ATLAQMIX, PAADQMIX, RegularizedQMIX, RobustQMIXFGSM


def _model(**kwargs) -> QMIX:
    return QMIX(CueMatchingEnv(n_envs=2, n_agents=2, n_actions=3, episode_limit=3, seed=0), device="cpu", **kwargs)


def _hand_batch(model: QMIX) -> dict[str, torch.Tensor]:
    """Two episodes: a true termination after 2 transitions and a timeout after 3 (bootstraps)."""
    n, a, o, s = 2, 3, model.env_shapes["obs_shape"], model.env_shapes["state_shape"]
    g = torch.Generator().manual_seed(3)
    batch = {
        "obs": torch.randn(2, 4, n, o, generator=g),
        "state": torch.randn(2, 4, s, generator=g),
        "avail_actions": torch.ones(2, 4, n, a, dtype=torch.bool),
        "actions": torch.randint(a - 1, (2, 4, n), generator=g),
        "reward": torch.tensor([[1.0, 0.5, 0.0, 0.0], [1.0, 2.0, 3.0, 0.0]]),
        "terminated": torch.tensor([[False, True, False, False], [False, False, False, False]]),
        "filled": torch.tensor([[True, True, False, False], [True, True, True, False]]),
    }
    batch["avail_actions"][:, :, 0, 0] = False  # agent 0 may never pick action 0
    batch["avail_actions"][0, 3] = False  # padding
    batch["actions"][:, :, 0] += 1
    return batch


@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize(
    ("td_lambda", "lambda_traces", "alpha"),
    [(0.0, "peng", 0.0), (0.6, "peng", 0.0), (0.6, "watkins", 0.0), (0.0, "peng", 0.5), (0.6, "watkins", 0.5)],
)
def test_targets_match_hand_computation(double_q, td_lambda, lambda_traces, alpha):
    model = _model(
        double_q=double_q, td_lambda=td_lambda, lambda_traces=lambda_traces, advantage_learning=alpha, gamma=0.9, seed=1
    )
    policy = model.policy
    with torch.no_grad():  # make the online net differ from the target
        for p in policy.agent.parameters():
            p.add_(0.3 * torch.randn_like(p))
    batch = _hand_batch(model)

    # Hand computation, step by step (PyMARL's GRUCell loop).
    def q_steps(target: bool) -> torch.Tensor:
        hidden, last, out = policy.initial_hidden(2), torch.zeros(2, 2, 3), []
        for t in range(4):
            q, hidden = policy.q_values(batch["obs"][:, t], last, hidden, target=target)
            out.append(q)
            last = torch.nn.functional.one_hot(batch["actions"][:, t], 3).float()
        return torch.stack(out, 1)

    def greedy(b: int, t: int) -> torch.Tensor:
        """The bootstrap's greedy actions of episode b at step t."""
        chooser = q_steps(False)[b, t] if double_q else q_steps(True)[b, t]
        return chooser.masked_fill(~batch["avail_actions"][b, t], -float("inf")).argmax(-1)

    with torch.no_grad():
        # Episode 1 (3 transitions): a non-greedy joint action at step 1 (agent 1 deviates), the greedy one at
        # step 2, so that Watkins's traces cut once and continue once. Q at step t depends on actions before t only.
        batch["actions"][1, 1] = greedy(1, 1)
        batch["actions"][1, 1, 1] = (batch["actions"][1, 1, 1] + 1) % 3
        batch["actions"][1, 2] = greedy(1, 2)
        computed, targets = [], model._targets  # the loss's per-step targets

        def recorded_targets(*args):  # noqa: ANN002, ANN202
            computed.append(targets(*args))
            return computed[-1]

        model._targets = recorded_targets
        _, stats = model._td_loss(batch)
        q_online, q_target = q_steps(False), q_steps(True)
        expected = torch.zeros(2, 3)
        for b, length in ((0, 2), (1, 3)):
            q_bar, on_greedy = [], []
            for t in range(1, length + 1):
                avail = batch["avail_actions"][b, t]
                chooser = q_online[b, t] if double_q else q_target[b, t]
                best = chooser.masked_fill(~avail, -float("inf")).argmax(-1)
                on_greedy.append(bool((batch["actions"][b, t] == best).all()))
                chosen = q_target[b, t].gather(-1, best[:, None]).squeeze(-1)
                q_bar.append(policy.mixer_target(chosen.view(1, 1, 2), batch["state"][b, t].view(1, 1, -1)).item())
            if b == 1:
                assert on_greedy[:2] == [False, True]
            g_next = q_bar[-1]
            for t in reversed(range(length)):
                not_done = 0.0 if batch["terminated"][b, t] else 1.0
                cut = t == length - 1 or (lambda_traces == "watkins" and not on_greedy[t])
                boot = q_bar[t] if cut else (1 - td_lambda) * q_bar[t] + td_lambda * g_next
                # Advantage learning: the target's gap between its greedy joint action and the one taken.
                q_t = q_target[b, t].masked_fill(~batch["avail_actions"][b, t], -float("inf"))
                state_t = batch["state"][b, t].view(1, 1, -1)
                best_t = policy.mixer_target(q_t.max(-1).values.view(1, 1, 2), state_t).item()
                taken = q_target[b, t].gather(-1, batch["actions"][b, t][:, None]).view(1, 1, 2)
                gap = best_t - policy.mixer_target(taken, state_t).item()
                assert gap >= 0.0
                g_next = batch["reward"][b, t].item() - alpha * gap + 0.9 * not_done * boot
                expected[b, t] = g_next
    mask = batch["filled"][:, :-1]
    torch.testing.assert_close(computed[0][mask], expected[mask], rtol=1e-5, atol=1e-6)
    assert stats["target_mean"].item() == pytest.approx(expected[mask].mean().item(), rel=1e-5)
    # The episode that ended by true termination does not bootstrap at its last step.
    if alpha == 0.0:
        assert computed[0][0, 1].item() == pytest.approx(0.5)


def test_watkins_traces_cut_per_agent_without_a_mixer():
    """Independent learners: each agent's trace is cut at its own non-greedy action, not at the team's."""
    model = _model(mixer=None, td_lambda=0.5, lambda_traces="watkins", gamma=0.9)
    batch = {  # two transitions that time out (no termination), the final observation at step 2, padding at 3
        "reward": torch.tensor([[1.0, 2.0, 0.0, 0.0]]),
        "terminated": torch.zeros(1, 4, dtype=torch.bool),
        "filled": torch.tensor([[True, True, False, False]]),
        # at step 1 agent 0 is greedy, agent 1 is not; the unfilled steps hold the greedy actions
        "actions": torch.tensor([[[0, 0], [1, 2], [0, 0], [0, 0]]]),
    }
    next_values = torch.tensor([[[10.0, 20.0], [30.0, 40.0], [1000.0, 1000.0]]])  # Qbar at steps 1-3, per agent
    greedy_next = torch.tensor([[[1, 1], [0, 0], [0, 0]]])
    targets = model._targets(batch, batch["reward"][:, :-1], next_values, greedy_next)
    last = [2.0 + 0.9 * 30.0, 2.0 + 0.9 * 40.0]  # the episode's last transition bootstraps fully, never from padding
    assert targets[0, 1].tolist() == pytest.approx(last)
    blended_agent0 = 1.0 + 0.9 * (0.5 * 10.0 + 0.5 * last[0])
    cut_agent1 = 1.0 + 0.9 * 20.0
    assert targets[0, 0].tolist() == pytest.approx([blended_agent0, cut_agent1])


def test_advantage_learning_gap_is_per_agent_without_a_mixer():
    model = _model(mixer=None, advantage_learning=0.5, seed=0)
    batch = _hand_batch(model)
    obs, last = batch["obs"], previous_actions_onehot(batch["actions"], 3)
    with torch.no_grad():
        target_q = model.policy.q_values_sequence(obs, last, target=True)
        gap = model._target_action_gap(batch, target_q)
    assert gap.shape == (2, 3, 2) and (gap >= 0).all() and (gap > 0).any()
    q_t = target_q[:, :-1].masked_fill(~batch["avail_actions"][:, :-1], -float("inf"))
    taken = target_q[:, :-1].gather(-1, batch["actions"][:, :-1, :, None]).squeeze(-1)
    expected = (q_t.max(-1).values - taken) * batch["filled"][:, :-1, None]
    torch.testing.assert_close(gap, expected)
    loss, _ = model._td_loss(batch)  # the per-agent rewards broadcast against the per-agent targets
    assert loss.isfinite()
    model.lower_bound_coef = 1.0  # and the per-agent returns against the per-agent Q-values
    bounded_loss, stats = model._td_loss(batch)
    assert bounded_loss > loss and stats["lower_bound_shortfall"] > 0.0


def test_loss_trains_only_online_networks():
    model = _model(seed=0)
    batch = _hand_batch(model)
    loss, _ = model._td_loss(batch)
    loss.backward()
    policy = model.policy
    targets = [*policy.agent_target.parameters(), *policy.mixer_target.parameters()]
    assert all(p.grad is None for p in targets)
    online = [*policy.agent.parameters(), *policy.mixer.parameters()]
    assert all(p.grad is not None for p in online)
    assert all(p.grad.abs().sum() > 0 for p in policy.agent.parameters())


def test_huber_loss_is_quadratic_below_delta_and_linear_above():
    squared = _model(seed=0)
    batch = _hand_batch(squared)
    loss, stats = squared._td_loss(batch)
    errors_below = _model(seed=0, huber_delta=1e6)  # every TD error below delta: the squared loss
    assert errors_below._td_loss(batch)[0].item() == pytest.approx(loss.item(), rel=1e-6)
    # Every TD error above a tiny delta: 2 * delta * |error| - delta ** 2 per filled step.
    delta = 1e-4
    errors_above = _model(seed=0, huber_delta=delta)
    mean_abs_error = stats["td_error_abs"].item()
    assert mean_abs_error > 10 * delta
    assert errors_above._td_loss(batch)[0].item() == pytest.approx(2 * delta * mean_abs_error - delta**2, rel=1e-4)


def test_episode_returns_sum_the_rewards_and_bootstrap_only_after_a_timeout():
    """The lower bound's returns: lambda 1, never cut by Watkins's traces, no bootstrap after a termination."""
    model = _model(td_lambda=0.5, lambda_traces="watkins", gamma=0.9)
    batch = {  # episode 0 terminates after 2 transitions, episode 1 times out after 3
        "reward": torch.tensor([[1.0, 2.0, 0.0, 0.0], [1.0, 2.0, 3.0, 0.0]]),
        "terminated": torch.tensor([[False, True, False, False], [False, False, False, False]]),
        "filled": torch.tensor([[True, True, False, False], [True, True, True, False]]),
    }
    next_values = torch.tensor([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])  # Qbar at steps 1-3
    returns = model._episode_returns(batch, batch["reward"][:, :-1], next_values)
    assert returns[0, :2].tolist() == pytest.approx([1.0 + 0.9 * 2.0, 2.0])
    last = 3.0 + 0.9 * 60.0
    assert returns[1].tolist() == pytest.approx([1.0 + 0.9 * (2.0 + 0.9 * last), 2.0 + 0.9 * last, last])


@pytest.mark.parametrize("huber_delta", [None, 1.0])
def test_lower_bound_loss_adds_only_the_shortfall_below_the_returns(huber_delta):
    batch = _hand_batch(_model())
    plain = _model(seed=0, huber_delta=huber_delta)
    bounded = _model(seed=0, huber_delta=huber_delta, lower_bound_coef=0.5)
    policy = bounded.policy
    q_tot = _q_tot_taken(bounded, batch)
    mask = batch["filled"][:, :-1]

    # Returns far below Q_tot: no shortfall, the loss is the TD loss.
    low = {**batch, "reward": batch["reward"] - 200.0 * batch["filled"]}
    loss_bounded, stats = bounded._td_loss(low)
    assert stats["lower_bound_shortfall"].item() == 0.0
    assert loss_bounded.item() == pytest.approx(plain._td_loss(low)[0].item(), rel=1e-6)

    # Returns far above Q_tot: the loss grows by half the TD loss's own function of the shortfall.
    high = {**batch, "reward": batch["reward"] + 50.0 * batch["filled"]}
    loss_plain, _ = plain._td_loss(high)
    loss_bounded, stats = bounded._td_loss(high)
    with torch.no_grad():
        next_values, _ = bounded._bootstrap_values(high, *_q_pair(bounded, high))
        shortfall = (bounded._episode_returns(high, high["reward"][:, :-1], next_values) - q_tot)[mask]
    assert (shortfall > 10.0).all()
    assert stats["lower_bound_shortfall"].item() == pytest.approx(shortfall.mean().item(), rel=1e-5)
    expected_extra = 0.5 * bounded._regression_loss(shortfall).item() / mask.sum().item()
    assert loss_bounded.item() - loss_plain.item() == pytest.approx(expected_extra, rel=1e-4)
    # A small step on the lower-bound term alone raises Q_tot.
    bounded.lower_bound_coef = 0.0
    (loss_bounded - bounded._td_loss(high)[0]).backward()
    with torch.no_grad():
        for p in policy.parameters():
            if p.grad is not None:
                p.sub_(1e-3 * p.grad)
        assert (_q_tot_taken(bounded, batch) - q_tot)[mask].mean() > 0


def _q_tot_taken(model: QMIX, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The online ``Q_tot`` of the actions taken at steps ``0..T-1`` of ``batch``."""
    policy = model.policy
    q = policy.q_values_sequence(batch["obs"], previous_actions_onehot(batch["actions"], 3))
    taken = q[:, :-1].gather(-1, batch["actions"][:, :-1, :, None]).squeeze(-1)
    return policy.mix(taken, batch["state"][:, :-1])


def _q_pair(model: QMIX, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The target and online Q-values of ``batch``: the arguments of ``_bootstrap_values``."""
    last = previous_actions_onehot(batch["actions"], 3)
    policy = model.policy
    return policy.q_values_sequence(batch["obs"], last, target=True), policy.q_values_sequence(batch["obs"], last)


@pytest.mark.parametrize("huber_delta", [None, 1.0])
def test_prioritized_replay_weighs_each_episode_and_returns_its_mean_error(huber_delta):
    model = _model(td_lambda=0.5, gamma=0.9, huber_delta=huber_delta, lower_bound_coef=0.5, seed=2)
    batch = _hand_batch(model)
    uniform_loss, _ = model._compute_loss(batch)
    index = torch.tensor([0, 1])
    loss, stats = model._compute_loss({**batch, "replay_index": index, "replay_weights": torch.ones(2)})
    assert torch.allclose(loss, uniform_loss)
    # each episode alone (the other one's filled mask cleared) gives its own share of the loss and its priority
    mask = batch["filled"][:, :-1]
    shares, priorities = [], []
    for episode in range(2):
        alone = {**batch, "filled": batch["filled"] & (torch.arange(2)[:, None] == episode)}
        share, alone_stats = model._compute_loss(alone)
        n_steps = mask[episode].sum()
        shares.append(share * n_steps / mask.sum())
        priorities.append(alone_stats["td_error_abs"] + 0.5 * alone_stats["lower_bound_shortfall"])
    assert torch.allclose(loss, shares[0] + shares[1])
    assert torch.allclose(stats["replay_priorities"], torch.stack(priorities))
    weights = torch.tensor([0.25, 1.0])
    weighted, _ = model._compute_loss({**batch, "replay_index": index, "replay_weights": weights})
    assert torch.allclose(weighted, 0.25 * shares[0] + shares[1])


@pytest.mark.parametrize("time_flag", [None, "state_timestep_number", "obs_timestep_number"])
def test_a_timeout_is_terminal_only_where_the_time_step_is_observed(time_flag):
    """PyMARL bootstraps through the episode limit; with the time step in the state or the observations the limit
    is part of the task, and the bootstrap read values at a time step (1.0) that no episode trains."""
    env_kwargs = {"compile": False, **({time_flag: True} if time_flag else {})}
    model = QMIX("3m", n_envs=8, env_kwargs=env_kwargs, batch_size=4000, buffer_size=4000, seed=0, device="cpu")
    assert model.get_env().time_observed is (time_flag is not None)
    model.learn(1500)  # random play, no update: some episodes reach 3m's limit of 60 steps
    buffer = model.replay_buffer
    lengths = buffer.data["filled"][: buffer.n_stored].sum(dim=1)
    last = buffer.data["terminated"][torch.arange(buffer.n_stored), lengths - 1]
    timeouts = lengths == model.env_shapes["episode_limit"]
    assert timeouts.any() and (~timeouts).any()
    assert last[~timeouts].all()  # a battle's end is terminal either way
    observed = time_flag is not None
    assert bool(last[timeouts].all()) is observed and bool(last[timeouts].any()) is observed
    # the learned adversaries' envs pass the flag on (their learners bootstrap as the victim does), and SB3's
    # TimeLimit.truncated (bootstrap through it) is set only where the timeout is not terminal
    from sb3_marl.adversaries import PerturbationAdversaryEnv

    assert PerturbationAdversaryEnv(model.get_env(), model, 0.1).time_observed is observed

    class Truncations(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.flags: list[bool] = []

        def _on_step(self) -> bool:
            self.flags += [info["TimeLimit.truncated"] for info in self.locals["infos"] if info.get("episode_limit")]
            return True

    callback = Truncations()
    model.learn(1500, callback=callback)
    assert callback.flags and set(callback.flags) == {not observed}


def test_prioritized_replay_learns_updates_priorities_and_is_saved(tmp_path):
    model = _model(batch_size=4, prioritized_replay_alpha=0.6, prioritized_replay_beta=0.5, seed=0)
    model.learn(20)
    buffer = model.replay_buffer
    assert isinstance(buffer, PrioritizedEpisodeReplayBuffer)
    betas, given = [], []
    sample, compute_loss = buffer.sample, model._compute_loss

    def recording_sample(batch_size, generator=None, beta=1.0):
        betas.append(beta)
        return sample(batch_size, generator, beta)

    def recording_loss(batch):
        loss, stats = compute_loss(batch)
        given.append((batch["replay_index"], stats["replay_priorities"].clone()))
        return loss, stats

    buffer.sample, model._compute_loss = recording_sample, recording_loss
    model.learn(200)
    # importance sampling: beta rises linearly from prioritized_replay_beta towards 1 over learn()
    assert 0.5 < betas[0] < 0.52 and 0.98 < betas[-1] <= 1.0 and betas == sorted(betas)
    betas.clear()
    model.learn(5)  # one rollout of two 3-step episodes overshoots the budget: beta stops at 1
    assert betas[-1] == 1.0 and max(betas) == 1.0
    model.learn(200)
    betas.clear()  # a continued call ramps over its own steps (it started part-way up, at about 0.75 here, before)
    model.learn(200, reset_num_timesteps=False)
    assert 0.5 < betas[0] < 0.52 and 0.98 < betas[-1] <= 1.0 and betas == sorted(betas)
    # each update writes the priorities that the loss gave into the rows it sampled
    index, priorities = given[-1]
    assert torch.equal(buffer.priorities[index], priorities) and not torch.all(priorities == priorities[0])
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "buffer")
    loaded = QMIX.load(tmp_path / "model", env=CueMatchingEnv(n_envs=2, n_agents=2, n_actions=3, episode_limit=3))
    assert (loaded.prioritized_replay_alpha, loaded.prioritized_replay_beta) == (0.6, 0.5)
    loaded.load_replay_buffer(tmp_path / "buffer")
    assert torch.equal(loaded.replay_buffer.priorities[: len(buffer)], buffer.priorities[: len(buffer)])


def test_prioritized_replay_needs_a_loss_that_gives_priorities(monkeypatch):
    model = _model(batch_size=2, prioritized_replay_alpha=0.6)
    monkeypatch.setattr(model, "_compute_loss", lambda batch: (model._td_loss(batch)[0], {}))
    with pytest.raises(ValueError, match="returned no 'replay_priorities'"):
        model.learn(50)


def test_same_seed_reproduces_a_run_exactly():
    def run(seed: int) -> list[torch.Tensor]:
        model = QMIX(CueMatchingEnv(n_envs=3, seed=123), seed=seed, batch_size=4, device="cpu")
        model.learn(300)
        return [p.detach().clone() for p in model.policy.parameters()]

    first, second, other = run(7), run(7), run(8)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_learning_with_a_batch_larger_than_the_buffer_is_refused():
    model = _model(batch_size=8, buffer_size=4)  # allowed: a loaded model may only predict
    with pytest.raises(ValueError, match="batch_size=8 exceeds buffer_size=4"):
        model.learn(10)


def test_unseeded_models_draw_their_own_exploration():
    """seed=None: the algorithm's generator (epsilon-greedy draws, replay sampling) starts from the system's entropy,
    not from torch's fixed default seed of a new generator."""
    first, second = _model(), _model()
    assert first._generator.initial_seed() != second._generator.initial_seed()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mixer": "qplex"}, "mixer='qplex'"),
        ({"optimizer_class": "sgd"}, "optimizer_class='sgd'"),
        ({"td_lambda": 1.5}, "td_lambda=1.5"),
        ({"lambda_traces": "tree"}, "lambda_traces='tree'"),
        ({"gamma": -0.1}, "gamma=-0.1"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": 4.5}, "batch_size=4.5 must be an integer >= 1"),
        ({"buffer_size": True}, "buffer_size=True must be an integer"),
        ({"gradient_steps": "2"}, "gradient_steps='2' must be an integer >= 0"),
        ({"train_freq": 0}, "train_freq=0 must be an integer >= 1"),
        ({"train_freq": (4, "step")}, r"train_freq=\(4, 'step'\): rollouts are whole episodes"),
        ({"optimizer_kwargs": 5}, "optimizer_kwargs=5 must be a mapping of settings"),
        ({"policy_kwargs": "rnn"}, "policy_kwargs='rnn' must be a mapping of settings"),
        ({"n_envs": 0}, "n_envs=0 must be an integer >= 1"),
        ({"max_grad_norm": 0.0}, r"max_grad_norm=0.0 must be a finite number > 0"),
        ({"max_grad_norm": -1.0}, "max_grad_norm=-1.0"),
        ({"learning_rate": -1.0}, "learning_rate=-1.0 must be a finite number >= 0"),
        ({"learning_rate": {"type": "linear", "start": 1e-3, "end": -1e-3, "end_fraction": 1.0}}, "ends at -0.001"),
        ({"learning_rate": {"type": "linear", "start": 1e-3}}, r"bad linear schedule settings .*'end_fraction'\]"),
        ({"learning_rate": float("nan")}, "learning_rate=nan"),
        ({"seed": -1}, "seed=-1 must be an integer >= 0"),
        ({"seed": 2**32}, r"seed=4294967296 must be an integer in \[0, 4294967295\]"),
        ({"seed": 1.5}, "seed=1.5"),
        ({"double_q": "yes"}, "double_q='yes' must be True or False"),
        ({"stats_window_size": 0}, "stats_window_size=0 must be an integer >= 1"),
        ({"verbose": 1.5}, "verbose=1.5 must be an integer >= 0"),
        ({"gamma": 10**400}, "gamma=1000"),  # too large for a float: refused, not an OverflowError
        ({"gamma": float("nan")}, r"gamma=nan must be a finite number in \[0, 1\]"),
        ({"learning_rate": lambda progress: 1e-3}, "cannot be saved as JSON"),
        ({"learning_rate": {"type": "cosine"}}, "unknown schedule type 'cosine'"),
        ({"exploration_final_eps": 2.0}, "exploration_final_eps=2.0"),
        ({"tau": 0.0}, r"tau=0.0 must be a finite number in \(0, 1\] \(1: hard copy"),
        ({"tau": 1.5}, "tau=1.5"),
        ({"tau": "1e-1"}, "tau='1e-1' must be a finite number"),
        ({"tau": True}, "tau=True must be a finite number"),
        ({"huber_delta": 0.0}, r"huber_delta=0.0 must be a finite number > 0 \(None: squared error\)"),
        ({"huber_delta": "1"}, "huber_delta='1'"),
        ({"advantage_learning": 1.0}, r"advantage_learning=1.0 must be a finite number in \[0, 1\)"),
        ({"advantage_learning": -0.1}, "advantage_learning=-0.1"),
        ({"lower_bound_coef": -1.0}, r"lower_bound_coef=-1.0 must be a finite number >= 0 \(0: off\)"),
        ({"lower_bound_coef": float("nan")}, "lower_bound_coef=nan"),
        ({"exploration_spread": -1.0}, "exploration_spread=-1.0 must be a finite number >= 0"),
        ({"exploration_spread": float("inf")}, "exploration_spread=inf"),
        ({"exploration_spread": "2"}, "exploration_spread='2'"),
        ({"prioritized_replay_alpha": -0.5}, r"prioritized_replay_alpha=-0.5 must be a finite number in \[0, 1\]"),
        # Schaul et al.'s range: alpha=30 overflowed the priorities' powers into "invalid multinomial distribution"
        (
            {"prioritized_replay_alpha": 30},
            r"prioritized_replay_alpha=30 must be a finite number in \[0, 1\] \(0: unif",
        ),
        ({"optimizer_class": []}, r"optimizer_class=\[\]; allowed: \['adam', 'rmsprop'\]"),  # was: unhashable type
        ({"prioritized_replay_beta": 1.5}, r"prioritized_replay_beta=1.5 must be a finite number in \[0, 1\]"),
        ({"policy_kwargs": {"optimizer_class": "adam"}}, r"\['optimizer_class'\] is set by QMIX's optimizer"),
        ({"policy_kwargs": {"mixer": "vdn"}}, r"policy_kwargs\['mixer'\] is set by QMIX's mixer argument"),
        ({"policy_kwargs": {"obs_dim": 4}}, r"policy_kwargs\['obs_dim'\] is set by the env"),
        ({"policy_kwargs": {"net_arch": [64]}}, r"'net_arch'\] is not a QMIXPolicy setting; allowed: \['rnn"),
        # SB3's custom-policy example: named as no setting (was: "cannot be saved with the model", as if a string
        # activation would do)
        ({"policy_kwargs": {"activation_fn": torch.nn.ReLU}}, r"'activation_fn'\] is not a QMIXPolicy setting"),
        ({"policy_kwargs": types.MappingProxyType({"net_arch": [64]})}, r"'net_arch'\] is not a QMIXPolicy setting"),
        ({"optimizer_kwargs": {"lr": 1e-3}}, r"optimizer_kwargs\['lr'\]: the learning rate is QMIX's learning_rate"),
    ],
)
def test_bad_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _model(**kwargs)


class _RecordActing(BaseCallback):
    """Records, at each batched step, the epsilons the envs acted with and which agents acted greedily."""

    def __init__(self) -> None:
        super().__init__()
        self.epsilons: list[torch.Tensor] = []
        self.greedy: list[torch.Tensor] = []

    def _on_step(self) -> bool:
        q, avail, actions = self.locals["q"], self.locals["rs"].avail, self.locals["actions"]
        self.epsilons.append(torch.as_tensor(self.locals["epsilon"]))
        self.greedy.append(actions == q.masked_fill(~avail.bool(), -float("inf")).argmax(-1))
        return True


def test_exploration_spread_gives_each_env_its_epsilon():
    assert _model()._env_exploration_rates(2) == 1.0  # no spread: the schedule's number
    model = _model(exploration_spread=2.0, exploration_initial_eps=0.1, exploration_final_eps=0.1)
    torch.testing.assert_close(model._env_exploration_rates(3), torch.tensor([0.1, 0.01, 0.001]))
    assert model._env_exploration_rates(1) == 0.1

    # Env 1 explores with 0.5 ** 41 (never, in practice) while env 0 follows the schedule's 0.5.
    model = _model(exploration_spread=40.0, exploration_initial_eps=0.5, exploration_final_eps=0.5, seed=0)
    recorder = _RecordActing()
    model.learn(600, callback=recorder)
    epsilons, greedy = torch.stack(recorder.epsilons), torch.stack(recorder.greedy)  # [T, 2], [T, 2 envs, 2 agents]
    torch.testing.assert_close(epsilons, torch.tensor([0.5, 0.5**41]).expand_as(epsilons))
    assert greedy[:, 1].all()
    assert 0.55 < greedy[:, 0].float().mean() < 0.8  # 0.5 + 0.5 / 3 expected


def test_predict_takes_numpy_views_torch_cannot_share():
    """A reversed view (negative strides) failed inside torch and a read-only array warned; SB3 takes both."""
    model = _model(seed=0)
    obs = np.random.default_rng(0).random((4, 2, 2)).astype(np.float32)
    avail = np.ones((4, 2, 3), dtype=bool)
    avail[:, :, 0] = [[True, False], [False, True], [True, True], [False, False]]
    expected, _ = model.predict(np.ascontiguousarray(obs[::-1]), avail_actions=np.ascontiguousarray(avail[::-1]))
    read_only = obs[::-1].copy()
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "The given NumPy array is not writable" warning
        for observation in (obs[::-1], read_only):
            actions, (hidden, _) = model.predict(
                observation, avail_actions=avail[::-1], episode_start=np.zeros(8, dtype=bool)[::2]
            )
            np.testing.assert_array_equal(actions, expected)
        model.predict(obs[::-1], state=(np.asarray(hidden)[::-1], np.zeros((4, 2, 3), dtype=np.float32)[::-1]))


def test_a_float64_default_dtype_is_refused_before_anything_is_built(monkeypatch):
    monkeypatch.setattr(torch, "get_default_dtype", lambda: torch.float64)  # as torch.set_default_dtype(float64)
    for build, user in ((lambda: SMACSimulator("3m"), "the simulator"), (lambda: QMIX("3m"), "QMIX")):
        with pytest.raises(RuntimeError, match=rf"default dtype is torch.float64: {user} computes in torch.float32"):
            build()


def test_bad_env_and_predict_inputs_are_rejected():
    with pytest.raises(TypeError, match="env must be a BatchedMultiAgentEnv, a map name or None, got int"):
        QMIX(42)
    for cls in (QMIX, RobustQMIXFGSM, RegularizedQMIX, ATLAQMIX, PAADQMIX, MAPPO):
        for args in (("MlpPolicy", "3m"), ("MlpPolicy",)):  # Stable-Baselines3's Algo("MlpPolicy", env)
            with pytest.raises(ValueError, match=rf"{cls.__name__}\('MlpPolicy', ...\): there is no policy argument"):
                cls(*args)
    with pytest.raises(TypeError, match=r"QMIX\(CueMatchingEnv, ...\): env is the class CueMatchingEnv; pass an"):
        QMIX(CueMatchingEnv)  # the parentheses forgotten: was read as SB3's policy argument
    model = _model(seed=0)
    with pytest.raises(ValueError, match=r"observation has shape \(2, 5\); expected \(2, 2\)"):
        model.predict(torch.zeros(2, 5).numpy())
    with pytest.raises(ValueError, match=r"avail_actions has shape \(2, 2\); expected \(2, 3\)"):  # one env: its shape
        model.predict(torch.zeros(2, 2).numpy(), avail_actions=torch.ones(2, 2, dtype=torch.bool).numpy())
    with pytest.raises(ValueError, match=r"avail_actions has shape \(4, 2, 2\); expected \(4, 2, 3\)"):
        model.predict(torch.zeros(4, 2, 2).numpy(), avail_actions=torch.ones(4, 2, 2, dtype=torch.bool).numpy())
    blocked = torch.ones(4, 2, 3, dtype=torch.bool)
    blocked[2, 1] = False
    with pytest.raises(ValueError, match=r"avail_actions gives env 2, agent 1 no available action"):
        model.predict(torch.zeros(4, 2, 2).numpy(), avail_actions=blocked.numpy())
    with pytest.raises(ValueError, match="avail_actions gives agent 0 no available action"):
        model.predict(torch.zeros(2, 2).numpy(), avail_actions=torch.zeros(2, 3, dtype=torch.bool).numpy())
    with pytest.raises(ValueError, match="episode_start has 2 entries for 1 envs"):
        model.predict(torch.zeros(2, 2).numpy(), episode_start=[True, False])
    with pytest.raises(ValueError, match=r"state must be the \(hidden, last_action\) pair .* not a ndarray"):
        model.predict(torch.zeros(2, 2).numpy(), state=np.zeros((2, model.policy.hidden_dim)))
    env = model.get_env()
    reset = env.reset()
    with pytest.raises(
        ValueError,
        match=r"observation is a 3-tuple of arrays of different shapes, as env.reset\(\) / env.step\(\) return",
    ):
        model.predict(reset)
    with pytest.raises(ValueError, match="observation is a 3-tuple"):  # numpy arrays too
        model.predict(tuple(item.numpy() for item in reset))
    with pytest.raises(ValueError, match="observation is a 6-tuple"):
        model.predict(env.step(torch.as_tensor(model.predict(reset[0], avail_actions=reset[2])[0])))
    per_agent = tuple(np.eye(2, dtype=np.float32))  # a tuple of the agents' observations is an observation
    assert model.predict(per_agent)[0].shape == (2,)
    per_env = tuple(np.zeros((3, 2, 2), dtype=np.float32))  # and a tuple of 3 envs' observations a batch
    assert model.predict(per_env)[0].shape == (3, 2)


def test_predict_recurrent_state_and_masks():
    model = _model(seed=0)
    obs = torch.eye(2).numpy()
    avail = torch.tensor([[False, True, True], [True, False, False]]).numpy()
    actions, state = model.predict(obs, avail_actions=avail)
    assert actions.shape == (2,) and avail[[0, 1], actions].all()
    actions2, state2 = model.predict(obs, state=state, avail_actions=avail)
    assert state2[0].shape == (1, 2, model.policy.hidden_dim) and state2[1].shape == (1, 2, 3)
    assert not (state2[0] == state[0]).all()  # the GRU state moves on
    _, restarted = model.predict(obs, state=state, episode_start=[True], avail_actions=avail)
    assert (restarted[0] == state[0]).all()  # a restart equals a fresh call
    batch_actions, _ = model.predict(torch.zeros(5, 2, 2).numpy(), deterministic=False)
    assert batch_actions.shape == (5, 2)


def test_train_freq_takes_stable_baselines3s_episode_form():
    assert _model(train_freq=(4, "episode")).train_freq == 4 and _model(train_freq=[3, "episode"]).train_freq == 3
    assert _model(train_freq=TrainFreq(2, TrainFrequencyUnit.EPISODE)).train_freq == 2
    with pytest.raises(ValueError, match="rollouts are whole episodes"):
        _model(train_freq=TrainFreq(2, TrainFrequencyUnit.STEP))


def test_the_highest_model_seeds_wrap_into_the_env_seed_range():
    """Env ``b`` of a batch plays seed ``seed + b``, an unsigned 32-bit number: a model seed near 2**32 gives the
    batch a wrapped seed instead of a refused env (the model keeps its own seed)."""
    assert batch_env_seed(2**32 - 1, 2) == 0 and batch_env_seed(7, 2) == 7 and batch_env_seed(None, 2) is None
    model = QMIX("3m", n_envs=2, seed=2**32 - 1, batch_size=2)
    assert model.seed == 2**32 - 1 and model.env.seed_value == 0
    model.learn(100)
    assert model.env.seed_value == 0


def test_predict_leaves_the_networks_in_evaluation_mode_and_train_in_training_mode():
    """Stable-Baselines3's habit: ``predict`` calls ``policy.set_training_mode(False)``, ``train`` sets True."""
    model = _model(seed=0, batch_size=2)
    model.policy.set_training_mode(True)
    # episode_start may be the env's own terminated tensor (on the env's device)
    model.predict(torch.eye(2).numpy(), episode_start=torch.tensor([True]))
    assert not model.policy.training and not model.policy.agent.training
    model.learn(80)
    assert model.policy.training


def test_perturbing_subclass_stores_clean_and_perturbed_observations():
    class ShiftedQMIX(QMIX):
        def _extra_episode_fields(self):
            return {"obs_perturbed": ((self.env_shapes["n_agents"], self.env_shapes["obs_shape"]), torch.float32)}

        def _acting_observations(self, obs, state, avail_actions, last_action_onehot, hidden):
            return obs + 0.5

    model = ShiftedQMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=2, device="cpu")
    model.learn(40)
    data, n = model.replay_buffer.data, len(model.replay_buffer)
    filled = data["filled"][:n]
    assert torch.equal(data["obs_perturbed"][:n][filled], data["obs"][:n][filled] + 0.5)


@pytest.mark.slow
def test_qmix_learns_cue_matching():
    env = CueMatchingEnv(n_envs=8, n_agents=3, n_actions=4, episode_limit=5, seed=0)
    model = QMIX(env, seed=0, exploration_timesteps=3000, target_update_interval=50, device="cpu")
    win_rate_before, _, _ = evaluate_policy(model, CueMatchingEnv(n_envs=4, n_agents=3, seed=1), 64)
    model.learn(10_000)
    win_rate, mean_reward, _ = evaluate_policy(model, CueMatchingEnv(n_envs=4, n_agents=3, seed=1), 64)
    assert win_rate_before < 0.2
    assert win_rate >= 0.9 and mean_reward >= 4.5


@pytest.mark.slow
def test_qmix_wins_3m_on_the_simulator():
    model = QMIX(
        SMACSimulator("3m", n_envs=8, seed=0),
        seed=0,
        optimizer_class="adam",
        learning_rate=1e-3,
        td_lambda=0.6,
        gradient_steps=4,
        target_update_interval=8,
        tau=0.1,
        device="cpu",
    )
    # hyperparams/qmix.yml's 3m settings. Test win rate at 50k / 75k / 100k steps, seeds 0-2 (AMD EPYC VM, 1 thread):
    # 0.94 / 1.00 / 1.00, 0.41 / 0.97 / 0.97, 0.66 / 0.97 / 1.00; with the mixer's broadcast sums (other rounding; Intel
    # Xeon VM, 1 thread) 0.03 / 0.75 / 1.00, 0.34 / 1.00 / 1.00, 0.84 / 1.00 / 0.97: 100k leaves a margin that 75k did
    # not. One update per rollout and hard target copies, used before, swung on the AMD VM from 0.94 at 25k to 0.03 at
    # 50k and 1.00 at 75k (seed 0).
    model.learn(100_000)
    win_rate, _, _ = evaluate_policy(model, SMACSimulator("3m", n_envs=8, seed=1000), 32)
    assert win_rate >= 0.8


def test_learning_rate_schedule_drives_the_optimizer_and_survives_save_load(tmp_path):
    model = _model(seed=0, batch_size=2, learning_rate=LinearSchedule(1e-3, 0.0, 1.0))
    model.learn(60)
    rate = model.policy.optimizer.param_groups[0]["lr"]
    assert 0.0 <= rate < 1e-3  # decayed with the progress of learn()
    assert rate == pytest.approx(1e-3 * model._current_progress_remaining, abs=1e-3 * 6 / 60)
    assert model.learning_rate == {"type": "linear", "start": 1e-3, "end": 0.0, "end_fraction": 1.0}
    loaded = QMIX.load(model.save(tmp_path / "scheduled.zip"), device="cpu")
    assert [loaded.lr_schedule(p) for p in (1.0, 0.5, 0.0)] == [model.lr_schedule(p) for p in (1.0, 0.5, 0.0)]


def test_soft_target_updates_average_the_weights_and_tau_survives_save_load(tmp_path):
    """``tau < 1``: each update moves every target weight by ``tau`` toward the online weight (SB3's DQN ``tau``)."""
    env = CueMatchingEnv(n_envs=2, seed=0)
    model = QMIX(env, seed=0, batch_size=2, tau=0.25, target_update_interval=2, device="cpu")
    policy = model.policy
    targets = [*policy.agent_target.parameters(), *policy.mixer_target.parameters()]
    before = [p.detach().clone() for p in targets]
    with torch.no_grad():
        for param in policy.online_parameters():
            param.add_(1.0)
    model._episode_num = 2  # one target update is due
    model._update_target_if_due()
    online = policy.online_parameters()
    for target, old, new in zip(targets, before, online, strict=True):
        torch.testing.assert_close(target, 0.75 * old + 0.25 * new)
    model._update_target_if_due()  # not due again before two more episodes
    for target, old, new in zip(targets, before, online, strict=True):
        torch.testing.assert_close(target, 0.75 * old + 0.25 * new)
    assert QMIX.load(model.save(tmp_path / "soft.zip"), device="cpu").tau == 0.25


def test_a_second_learn_that_resets_the_counters_still_updates_the_targets():
    """``learn(reset_num_timesteps=True)`` restarts the episode count and the target-update bookkeeping with it."""
    model = _model(seed=0, batch_size=2, target_update_interval=4)
    model.learn(60)  # 20 episodes of 3 steps: the last target update at episode 20
    with torch.no_grad():
        for param in model.policy.agent_target.parameters():
            param.add_(100.0)  # mark the targets
    model.learn(18)  # 6 episodes: an update is due at episode 4
    assert all(p.abs().max() < 50.0 for p in model.policy.agent_target.parameters())


def _record_reset_seeds(env: CueMatchingEnv) -> list[int | None]:
    """Make ``env`` log the ``seed`` of each of its resets (partial resets of finished episodes included)."""
    seeds: list[int | None] = []
    reset = env.reset

    def recording_reset(*args, seed=None, **kwargs):
        seeds.append(seed)
        return reset(*args, seed=seed, **kwargs)

    env.reset = recording_reset
    return seeds


def test_the_env_is_seeded_once_per_seeding_as_in_stable_baselines3(tmp_path):
    """The first reset after ``set_random_seed`` (called with ``seed`` when the model is built or loaded) is seeded,
    later ones continue the env's stream: a second ``learn(reset_num_timesteps=True)`` plays new episodes."""
    model = _model(seed=5, batch_size=2)
    seeds = _record_reset_seeds(model.env)
    model.learn(12)
    model.learn(12)  # resets the counters and starts fresh episodes, unseeded
    full_resets = [seed for seed in seeds if seed is not None]
    assert seeds[0] == 5 and full_resets == [5] and len(seeds) > 2
    model.set_random_seed(9)
    model.learn(6)
    assert [seed for seed in seeds if seed is not None] == [5, 9]

    env = CueMatchingEnv(n_envs=2, n_agents=2, n_actions=3, episode_limit=3, seed=1)
    loaded_seeds = _record_reset_seeds(env)
    QMIX.load(model.save(tmp_path / "model"), env=env).learn(6)
    assert loaded_seeds[0] == 5


def test_set_random_seed_checks_its_seed_and_changes_nothing_when_refused():
    """The constructor's seed check, and a refused seed is not kept for the env's next reset."""
    model = _model(seed=5, batch_size=2)
    model.set_random_seed(np.int64(7))
    assert model._pending_env_seed == 7 and type(model._pending_env_seed) is int
    refused = ((3.5, r"seed=3.5 must be an integer >= 0"), (2**40, r"must be an integer in \[0, 4294967295\]"))
    for bad, message in refused:
        with pytest.raises(ValueError, match=message):
            model.set_random_seed(bad)
        assert model._pending_env_seed == 7


class InterruptWhenAnEpisodeEnds(BaseCallback):
    """Raises KeyboardInterrupt (a user's Ctrl-C) at the first step after 100 on which an episode ends."""

    def _on_step(self) -> bool:
        if self.num_timesteps > 100 and bool(self.locals["terminated"].any()):
            raise KeyboardInterrupt
        return True


def test_training_continues_after_an_interrupted_step():
    """The interrupted step's episodes are dropped and the next learn() starts new ones: the rollout used to stay one
    step behind the env ("env 0 has terminated and was not reset", or actions from stale masks)."""
    model = QMIX("3m", n_envs=2, seed=0, batch_size=4, buffer_size=50, device="cpu")
    with pytest.raises(KeyboardInterrupt):
        model.learn(2000, callback=InterruptWhenAnEpisodeEnds())
    steps = model.num_timesteps
    model.learn(200, reset_num_timesteps=False)
    assert model.num_timesteps >= steps + 200


def test_set_env_continues_episodes_only_in_the_same_env():
    """force_reset=False keeps the episodes in progress, which only the env they run in can continue; another env
    (whose first steps used to act on the old env's observations and masks) is refused."""
    model = QMIX("3m", n_envs=2, seed=0, batch_size=4, buffer_size=50, device="cpu").learn(100)
    rollout = model._rollout
    steps_in_progress = rollout.t.clone()
    assert steps_in_progress.max() > 0  # 100 steps of 3m: episodes are in progress
    model.set_env(model.get_env(), force_reset=False)
    assert model._rollout is rollout and torch.equal(rollout.t, steps_in_progress)
    model.learn(50, reset_num_timesteps=False)
    assert model._rollout is rollout  # the same episodes went on
    model.set_env(model.get_env())
    assert model._rollout is None  # force_reset (the default) drops them: the next learn() starts new ones
    env = model.get_env()
    with pytest.raises(ValueError, match="force_reset=False continues the episodes in progress"):
        model.set_env("3m", force_reset=False)
    assert model.get_env() is env
    model.set_env("3m")
    model.learn(50, reset_num_timesteps=False)


def test_derived_seeds_stay_within_numpys_range():
    """A helper model or second env seeded ``seed + k`` wraps around instead of failing past 2**32 - 1."""
    assert offset_seed(2**32 - 1, 1) == 0 and offset_seed(5, 1000) == 1005 and offset_seed(None, 1) is None


def test_learning_without_a_log_folder_prints_and_writes_no_folder(tmp_path, monkeypatch, capsys):
    """Stable-Baselines3's logger makes an empty ``$TMPDIR/SB3-<date>`` folder on every ``learn``; ours makes none."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    for verbose in (0, 1):
        _model(verbose=verbose, batch_size=2).learn(30, log_interval=1)
        assert ("ep_rew_mean" in capsys.readouterr().out) == (verbose == 1)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("SB3-")] == []
    logs = tmp_path / "tb"
    _model(tensorboard_log=str(logs)).learn(10, tb_log_name="run")
    assert [p.name for p in logs.iterdir()] == ["run_1"] and any((logs / "run_1").iterdir())


def test_a_refused_learn_call_keeps_the_models_counters(tmp_path):
    """learn() reset the counters before checking its callback: a refused call (a callback of the wrong type, SB3's
    EvalCallback, a TensorBoard folder under a file) wiped a trained model's step and episode counts."""
    import gymnasium
    import stable_baselines3.common.callbacks as sb3_callbacks

    model = QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=4).learn(300)
    before = (model.num_timesteps, model._episode_num, list(model.ep_info_buffer), model._total_timesteps)
    refused = [
        ([5], r"callback=\[5\]: a callback is a BaseCallback, a list of them, a function"),
        (5, "callback=5: a callback is a BaseCallback, a list of them, a function"),
        (sb3_callbacks.EvalCallback(gymnasium.make("CartPole-v1")), "stable_baselines3's EvalCallback steps a Gym"),
    ]
    for callback, message in refused:
        with pytest.raises(TypeError, match=message):
            model.learn(100, callback=callback)
        assert (model.num_timesteps, model._episode_num, list(model.ep_info_buffer), model._total_timesteps) == before
    (tmp_path / "a_file").write_text("")
    model.tensorboard_log = str(tmp_path / "a_file" / "tb")  # the logger cannot make its folder
    with pytest.raises(OSError):
        model.learn(100)
    assert (model.num_timesteps, model._episode_num, list(model.ep_info_buffer), model._total_timesteps) == before
    model.tensorboard_log = None
    for name in ("reset_num_timesteps", "progress_bar"):
        with pytest.raises(ValueError, match=f"{name}='False' must be True or False"):
            model.learn(100, **{name: "False"})
    model.learn(100, reset_num_timesteps=False)  # still usable, and continues from the kept counters
    assert model.num_timesteps >= before[0] + 100
    # a refused call leaves no TensorBoard run behind (an empty run, and the next run was numbered _2)
    model.tensorboard_log = str(tmp_path / "tb")
    model.learn(10, tb_log_name="run")
    with pytest.raises(ValueError, match="eval_env is the model's training env"):
        model.learn(10, tb_log_name="run", callback=EvalCallback(model.get_env()))
    with pytest.raises(ValueError, match="eval_env is the model's training env"):  # continuing run_1: kept
        model.learn(10, tb_log_name="run", callback=EvalCallback(model.get_env()), reset_num_timesteps=False)
    model.learn(10, tb_log_name="run")
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["run_1", "run_2"]
    assert all(any(run.iterdir()) for run in (tmp_path / "tb").iterdir())


def test_devices_and_misplaced_env_settings_are_named():
    """torch's device errors did not say which argument; make_env(device='cuda') without CUDA was an AssertionError
    from torch; env_kwargs={'n_envs': 2} was make_env's "got multiple values for keyword argument"."""
    from sb3_marl.envs import make_env

    with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
        QMIX("3m", device="gpu")
    with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
        make_env("3m", device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda': CUDA is not available"):
            make_env("3m", device="cuda")
    with pytest.raises(ValueError, match="n_envs, seed are QMIX's own arguments"):
        QMIX("3m", env_kwargs={"n_envs": 2, "seed": 1})
    with pytest.raises(ValueError, match="n_envs=4, but the env instance given steps 2 episodes at once"):
        QMIX(make_env("3m", n_envs=2, seed=0), n_envs=4)  # was ignored silently: training ran 2 envs
    assert QMIX(make_env("3m", n_envs=2, seed=0), n_envs=2).n_envs == 2
    model = QMIX(CueMatchingEnv(seed=0), seed=0)
    with pytest.raises(ValueError, match="force_reset='False' must be True or False"):
        model.set_env(CueMatchingEnv(seed=1), force_reset="False")


def test_optimizer_settings_paths_and_non_finite_inputs_are_named(tmp_path):
    """torch's optimizer errors named neither the optimizer nor the setting; os.fspath's did not name the argument;
    NaN observations were acted on (argmax of NaN: action 0) and exclude="gamma" was read letter by letter."""
    with pytest.raises(ValueError, match=r"optimizer_kwargs\['momentum'\]=inf of RMSprop: numbers must be finite"):
        QMIX(CueMatchingEnv(), optimizer_kwargs={"momentum": float("inf")})
    with pytest.raises(ValueError, match=r"Adam refused optimizer_kwargs=\{'betas': \[0.9\]\}"):
        QMIX(CueMatchingEnv(), optimizer_class="adam", optimizer_kwargs={"betas": [0.9]})
    with pytest.raises(TypeError, match="tensorboard_log=5 must be a path"):
        QMIX(CueMatchingEnv(), tensorboard_log=5)
    model = QMIX(CueMatchingEnv(), seed=0)
    with pytest.raises(TypeError, match="path=5 must be a path"):
        model.save(5)
    with pytest.raises(TypeError, match=r"exclude='gamma' must be a list of names, e.g. \['gamma'\]"):
        model.save(tmp_path / "m", exclude="gamma")
    for bad in (np.full((2, 3), np.nan), np.full((2, 3), np.inf)):
        with pytest.raises(ValueError, match="observation holds NaN or inf"):
            model.predict(bad)
    with pytest.raises(ValueError, match=r"observation has shape \(0, 2, 3\)"):
        model.predict(np.zeros((0, 2, 3)))


def test_a_refused_constructor_closes_the_env_it_built_and_load_names_its_arguments(tmp_path, monkeypatch):
    """A setting refused after the env was built from a map name left it open (an SC2 env keeps StarCraft II
    running); load(5) and load_replay_buffer(5) gave os.fspath's message; load(force_reset=np.True_) was refused."""
    from sb3_marl.envs.simulator import SMACSimulator

    closed: list[str] = []
    monkeypatch.setattr(SMACSimulator, "close", lambda self: closed.append(self.map_name))
    with pytest.raises(ValueError, match="momentum"):
        QMIX("3m", optimizer_kwargs={"momentum": float("inf")})
    with pytest.raises(ValueError, match="symmetric about x = 16"):
        QMIX("3s_vs_3z", mirror_augmentation=True)
    assert closed == ["3m", "3s_vs_3z"]
    env = SMACSimulator("3m")
    with pytest.raises(ValueError, match="momentum"):  # an env given as an instance is the caller's: left open
        QMIX(env, optimizer_kwargs={"momentum": float("inf")})
    assert closed == ["3m", "3s_vs_3z"]
    with pytest.raises(TypeError, match="path=5 must be a path"):
        QMIX.load(5)
    model = QMIX(CueMatchingEnv(seed=0), seed=0)
    with pytest.raises(TypeError, match="path=5 must be a path"):
        model.load_replay_buffer(5)
    assert QMIX.load(model.save(tmp_path / "m"), force_reset=np.True_).seed == 0


def test_a_diverging_update_is_refused_before_it_poisons_the_weights():
    """A learning rate of 1e6 ended training with NaN weights and train/loss nan, silently (and saved them)."""
    model = _model(learning_rate=1e6, optimizer_class="adam", max_grad_norm=1e9, batch_size=2, buffer_size=4, seed=0)
    message = (
        r"The gradients of QMIX's update \d+ are not finite \(NaN or inf\): training diverged\. The usual causes are a "
        r"learning_rate too high \(learning_rate=1000000\.0\) or a max_grad_norm too large to clip the gradients "
        r"\(max_grad_norm=1000000000\.0\); lower them\. The update was not applied: the networks and the optimizer "
        r"keep their values from before it, untouched by NaN\."
    )
    with pytest.raises(RuntimeError, match=message):
        model.learn(2000)
    assert all(torch.isfinite(value).all() for value in model.policy.state_dict().values())


def test_a_refused_update_changes_no_weight_optimizer_state_or_priority():
    """The check reads the gradients' norm before the optimizer step: the networks, the optimizer's moments, the
    replay priorities and the update count stay as they were (a learning-rate schedule is named with its rate)."""
    schedule = {"type": "linear", "start": 1e-3, "end": 1e-4, "end_fraction": 1.0}
    model = _model(learning_rate=schedule, prioritized_replay_alpha=0.6, batch_size=2, buffer_size=4, seed=0)
    model.learn(100)
    weights, optimizer = copy.deepcopy(model.policy.state_dict()), copy.deepcopy(model.policy.optimizer.state_dict())
    priorities, n_updates = model.replay_buffer.priorities.clone(), model._n_updates
    compute_loss = model._compute_loss

    def nan_loss(batch):
        loss, stats = compute_loss(batch)
        return loss * float("nan"), stats

    model._compute_loss = nan_loss
    with pytest.raises(
        RuntimeError, match=rf"update {n_updates + 1} are not finite .*'start': 0\.001.*\(this update's rate:"
    ):
        model.learn(100, reset_num_timesteps=False)
    assert all(torch.equal(value, weights[name]) for name, value in model.policy.state_dict().items())
    after = model.policy.optimizer.state_dict()["state"]
    assert all(torch.equal(after[i][key], optimizer["state"][i][key]) for i in after for key in after[i])
    assert torch.equal(model.replay_buffer.priorities, priorities) and model._n_updates == n_updates


def test_a_model_of_another_map_is_named_before_its_augmentations(tmp_path):
    """Loading a 2m_vs_1z model trained with mirror_augmentation into 3m reported that 3m is not symmetric, not that
    its shapes differ."""
    from sb3_marl.envs import make_env

    path = QMIX("2m_vs_1z", mirror_augmentation=True, device="cpu").save(tmp_path / "mirrored")
    with pytest.raises(ValueError, match=r"Env '3m' has shapes .* but the model was built for '2m_vs_1z' with shapes"):
        QMIX.load(path, env="3m")
    model = QMIX.load(path)
    with pytest.raises(ValueError, match=r"Env '3m' has shapes .* but the model was built for '2m_vs_1z'"):
        model.set_env(make_env("3m"))


def test_tb_log_name_is_checked_and_named_in_the_callbacks_locals(capsys):
    """tb_log_name=5 failed in posixpath with TensorBoard (ignored without it); SB3's StopTrainingOnMaxEpisodes,
    which reads tb_log_name from the callbacks' locals, printed "the None model"."""
    from sb3_marl.common.callbacks import StopTrainingOnMaxEpisodes

    model = _model(seed=0)
    with pytest.raises(TypeError, match=r"tb_log_name=5 must be a str \(the run's folder name under tensorboard_log\)"):
        model.learn(50, tb_log_name=5)
    assert model.num_timesteps == 0
    model.learn(50, callback=StopTrainingOnMaxEpisodes(1, verbose=1))
    assert "because the QMIX model reached max_episodes=1" in capsys.readouterr().out
    model.learn(50, callback=StopTrainingOnMaxEpisodes(1, verbose=1), tb_log_name="run")
    assert "because the run model reached" in capsys.readouterr().out
