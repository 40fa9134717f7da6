"""evaluate_policy: exact episode count, per-episode results, attacks applied every step, the step callback and
the reward threshold, bad inputs."""

import numpy as np
import pytest
import torch

from sb3_marl.common.callbacks import BaseCallback, CallbackList, EveryNTimesteps, StopTrainingOnMaxEpisodes
from sb3_marl.common.evaluation import evaluate_policy, play_episodes
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.qmix import QMIX


class CountingAttack:
    """Replaces every observation by zeros (no clean one is: each agent sees its cue) and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def perturb(self, policy, obs, avail_actions, last_action_onehot, hidden, state=None):
        self.calls += 1
        assert obs.shape[1:] == (policy.n_agents, policy.obs_dim) and hidden.shape[-1] == policy.hidden_dim
        return torch.zeros_like(obs)


@pytest.fixture(scope="module")
def model() -> QMIX:
    """A QMIX that learned the cue env, shared by the module's tests: they only evaluate it (a test that trains it or
    changes its mode takes ``fresh_model``)."""
    env = CueMatchingEnv(n_envs=8, seed=0)
    return QMIX(env, seed=0, exploration_timesteps=2000, target_update_interval=50, device="cpu").learn(4000)


@pytest.fixture
def fresh_model() -> QMIX:
    """An untrained QMIX of this test's own, for the tests that change a model (its mode, a learn() call)."""
    return QMIX(CueMatchingEnv(n_envs=8, seed=0), seed=0, device="cpu")


@pytest.mark.parametrize("n_envs", [1, 3, 8])
def test_counts_exactly_n_episodes(model, n_envs):
    rewards, lengths, wins = evaluate_policy(
        model, CueMatchingEnv(n_envs=n_envs, seed=2), 7, return_episode_rewards=True
    )
    assert len(rewards) == len(lengths) == len(wins) == 7
    assert all(1 <= length <= 5 for length in lengths)
    assert all(won == (length == 5) for won, length in zip(wins, lengths))


def test_summary_and_attack(model, monkeypatch):
    """The attack perturbs the observations of every step, and the agents act on what it returns (an evaluation that
    attacked only some steps passed the old check, one call or more)."""
    win_rate, mean_reward, std_reward = evaluate_policy(model, CueMatchingEnv(n_envs=4, seed=2), 16)
    assert 0.0 <= win_rate <= 1.0 and std_reward >= 0.0
    attack, acted_on, steps = CountingAttack(), [], []
    q_values = type(model.policy).q_values

    def recording_q_values(policy, obs, *args):
        acted_on.append(obs.clone())
        return q_values(policy, obs, *args)

    monkeypatch.setattr(type(model.policy), "q_values", recording_q_values)
    attacked_win_rate, attacked_reward, _ = evaluate_policy(
        model, CueMatchingEnv(n_envs=4, seed=2), 16, attack=attack, callback=lambda *_: steps.append(None)
    )
    assert len(steps) >= 5 and attack.calls == len(acted_on) == len(steps)  # one attack per step
    assert not any(obs.any() for obs in acted_on)  # the agents saw the perturbed (all-zero) observations only
    # Without its cue an agent cannot match: the attack must hurt a policy that learned anything.
    assert win_rate > 0.5 and attacked_win_rate < win_rate and attacked_reward < mean_reward


def test_step_callback_and_reward_threshold(model):
    steps = []

    def record(locals_, globals_):
        steps.append((locals_["actions"].shape, locals_["terminated"].clone()))
        assert "evaluate_policy" in globals_

    env = CueMatchingEnv(n_envs=2, seed=2)
    rewards, lengths, _ = evaluate_policy(model, env, 4, callback=record, return_episode_rewards=True)
    assert all(shape == (2, env.n_agents) for shape, _ in steps)
    assert len(steps) >= max(lengths) and sum(int(done.sum()) for _, done in steps) >= 4
    mean_reward = sum(rewards) / len(rewards)
    evaluate_policy(model, CueMatchingEnv(n_envs=2, seed=2), 4, reward_threshold=mean_reward - 0.01)
    with pytest.raises(AssertionError, match="Mean reward below threshold"):
        evaluate_policy(model, CueMatchingEnv(n_envs=2, seed=2), 4, reward_threshold=mean_reward + 0.01)


def test_play_episodes_counts_each_envs_quota_and_reports_which_envs_count(model):
    """The loop under evaluate_policy and zoo/enjoy.py's Player: env i counts quota[i] episodes and keeps running
    uncounted after; after_step sees which envs count and each step's returns before the ended envs reset."""
    policy, env = model.policy, CueMatchingEnv(n_envs=3, seed=4)
    quota = torch.tensor([3, 0, 1])
    ended_counting = torch.zeros(3, dtype=torch.int64)
    step_returns = []

    def act(obs, state, avail, last_action, hidden):
        with torch.no_grad():
            q, hidden = policy.q_values(obs, last_action, hidden)
        return policy.select_actions(q, avail, 0.0), q, hidden

    def after_step(step):
        ended = step["terminated"] & step["counting"]
        ended_counting.add_(ended.long())
        step_returns.extend(step["episode_return"][ended].tolist())

    played = play_episodes(policy, env, quota, act, after_step)
    assert ended_counting.tolist() == [3, 0, 1]
    assert played.returns == step_returns and len(played.lengths) == len(played.wins) == 4
    assert all(won == (length == 5) for won, length in zip(played.wins, played.lengths))


def test_rejects_bad_inputs(model):
    with pytest.raises(ValueError, match="n_eval_episodes=0"):
        evaluate_policy(model, CueMatchingEnv(), 0)
    with pytest.raises(ValueError, match="n_eval_episodes=2.5 must be an integer >= 1"):
        evaluate_policy(model, CueMatchingEnv(), 2.5)
    with pytest.raises(ValueError, match="expects"):
        evaluate_policy(model, CueMatchingEnv(n_agents=3), 2)
    with pytest.raises(ValueError, match="a QMIXPolicy does not have: pass the algorithm"):
        evaluate_policy(model.policy, CueMatchingEnv(), 2, deterministic=False)
    # greedy play needs no exploration: a bare policy plays as its model does
    assert evaluate_policy(model.policy, CueMatchingEnv(seed=3), 4) == evaluate_policy(model, CueMatchingEnv(seed=3), 4)


def test_a_failing_attack_leaves_the_policy_in_training_mode(fresh_model):
    class FailingAttack:
        def perturb(self, *args):
            raise RuntimeError("attack failed")

    fresh_model.policy.train()
    with pytest.raises(RuntimeError, match="attack failed"):
        evaluate_policy(fresh_model, CueMatchingEnv(n_envs=2, seed=2), 2, attack=FailingAttack())
    assert fresh_model.policy.training


def test_attacks_take_the_env_feature_ranges_unless_told_not_to_clip():
    from sb3_marl.attacks import FGSM
    from sb3_marl.envs import SMACSimulator

    env = SMACSimulator("3m", n_envs=2, seed=0)
    model = QMIX(env, seed=0, device="cpu")
    clipped, unclipped = FGSM(0.2), FGSM(0.2, clip_observations=False)
    for attack in (clipped, unclipped):
        evaluate_policy(model, env, 2, attack=attack)
        assert torch.equal(attack.obs_low, env.obs_low) and torch.equal(attack.obs_high, env.obs_high)
    obs, state, avail = env.reset()
    args = (model.policy, obs, avail, torch.zeros(*avail.shape), model.policy.initial_hidden(2), state)
    outside = [
        ((p < env.obs_low) | (p > env.obs_high)).any().item() for p in (a.perturb(*args) for a in (clipped, unclipped))
    ]
    assert outside == [False, True]


class EvaluateInTheTrainingEnv(BaseCallback):
    """Plays two evaluation episodes in the model's own training env at the 7th env step."""

    def _on_step(self) -> bool:
        if self.n_calls == 7:
            evaluate_policy(self.model, self.model.get_env(), n_eval_episodes=2)
        return True


def test_evaluating_in_the_training_env_restarts_its_episodes():
    """evaluate_policy resets the env it plays in: given ``model.get_env()``, the model's episodes in progress are
    dropped and training starts new ones, between learn() calls and from a callback (it went on from the stale
    observations: an action the reset had made unavailable, or one stored episode made of two)."""
    model = QMIX("3m", n_envs=2, seed=0, batch_size=2, buffer_size=50, device="cpu").learn(100)
    evaluate_policy(model, model.get_env(), n_eval_episodes=2)
    stored = len(model.replay_buffer)
    model.learn(200, reset_num_timesteps=False)
    model.learn(200, callback=EvaluateInTheTrainingEnv(), reset_num_timesteps=False)
    assert len(model.replay_buffer) > stored
    filled = model.replay_buffer.data["filled"][: len(model.replay_buffer)]
    assert torch.equal(filled, torch.arange(filled.shape[1]) < filled.sum(1, keepdim=True))
    actions, avail = model.replay_buffer.data["actions"], model.replay_buffer.data["avail_actions"]
    chosen_available = avail[: len(model.replay_buffer)].gather(-1, actions[: len(model.replay_buffer), ..., None])
    assert bool(chosen_available[filled].all())  # every stored action was available where it was taken


class EvaluateWhenAnEpisodeEnds(BaseCallback):
    """Evaluates in the model's training env at every step where a training episode ended; counts those episodes."""

    def __init__(self) -> None:
        super().__init__()
        self.episodes_ended = 0

    def _on_step(self) -> bool:
        ended = int(np.sum(self.locals["dones"]))
        self.episodes_ended += ended
        if ended:
            evaluate_policy(self.model, self.training_env, n_eval_episodes=1)
        return self.n_calls < 2000  # a bound for the old code, which never finished a rollout here


def test_episodes_that_end_when_a_callback_evaluates_in_the_training_env_are_kept():
    """The episodes that ended at the step where a callback reset the training env are whole: they are stored and
    counted, and the rollout ends there, so learn() keeps to its budget (they were dropped, and with an evaluation
    at every episode's end no rollout ever finished: learn(400) ran until the callback stopped it at 4000 steps)."""
    callback = EvaluateWhenAnEpisodeEnds()
    model = QMIX("3m", n_envs=2, seed=0, learning_starts=10**9, batch_size=2, buffer_size=200, device="cpu")
    model.learn(400, callback=callback, log_interval=None)
    assert model.num_timesteps < 600
    assert callback.episodes_ended > 0
    assert model._episode_num == callback.episodes_ended == len(model.replay_buffer) == len(model.ep_info_buffer)


def test_stable_baselines3_keywords_and_callbacks(fresh_model):
    """SB3's evaluate_policy keywords: warn is accepted, render=True refused clearly; SB3's own EvalCallback (which
    needs a Gymnasium env) is refused with the way to ours."""
    from stable_baselines3.common.callbacks import EvalCallback as SB3EvalCallback

    model = fresh_model  # learn() is called on it
    summary = evaluate_policy(model, CueMatchingEnv(seed=3), 4, warn=False)
    assert summary == evaluate_policy(model, CueMatchingEnv(seed=3), 4)
    with pytest.raises(ValueError, match="render=True: evaluate_policy does not draw"):
        evaluate_policy(model, CueMatchingEnv(), 2, render=True)
    with pytest.raises(ValueError, match="warn='no' must be True or False"):
        evaluate_policy(model, CueMatchingEnv(), 2, warn="no")
    sb3_eval = SB3EvalCallback.__new__(SB3EvalCallback)  # SB3 refuses our env in its constructor already
    nested = EveryNTimesteps(100, CallbackList([StopTrainingOnMaxEpisodes(5), sb3_eval]))
    for callback in (sb3_eval, [StopTrainingOnMaxEpisodes(5), sb3_eval], nested):
        with pytest.raises(TypeError, match="use sb3_marl.common.callbacks.EvalCallback"):
            model.learn(10, callback=callback)


def test_flags_and_attacks_are_checked_before_anything_is_played(model):
    """The string "False" was taken as True; an attack name, or an attack for agents the env lacks, failed at the
    first step (after the training env's episodes in progress had been dropped)."""
    from sb3_marl.attacks import FGSM

    env = CueMatchingEnv(n_envs=2, seed=2)
    for name in ("deterministic", "return_episode_rewards"):
        with pytest.raises(ValueError, match=f"{name}='False' must be True or False"):
            evaluate_policy(model, env, 2, **{name: "False"})
    with pytest.raises(ValueError, match="reward_threshold='5'"):
        evaluate_policy(model, env, 2, reward_threshold="5")
    with pytest.raises(TypeError, match="attack='fgsm': give an attack object, e.g. sb3_marl.attacks.make_attack"):
        evaluate_policy(model, env, 2, attack="fgsm")
    with pytest.raises(TypeError, match="attack must be an attack"):
        evaluate_policy(model, env, 2, attack=0.2)
    with pytest.raises(ValueError, match="attacked_agents=5 but the env has only 2 agents"):
        evaluate_policy(model, env, 2, attack=FGSM(0.1, attacked_agents=5))
    with pytest.raises(ValueError, match="obs_low / obs_high have 7 features, the env's observations 3"):
        evaluate_policy(model, env, 2, attack=FGSM(0.1, obs_low=[0.0] * 7, obs_high=[1.0] * 7))


def test_what_is_no_model_callback_or_attack_is_named_before_anything_is_played(fresh_model, tmp_path):
    """A path, the class, None or a model without networks failed with "has no attribute 'n_agents'"; callback="x"
    failed after the first env step; the class FGSM failed in check_fits_env(); reward_threshold="1" was "a finite
    number finite"."""
    from sb3_marl.attacks import FGSM

    env = CueMatchingEnv(n_envs=2, seed=2)
    not_models = [
        ("m.zip", r"model='m.zip' is a path: load the model first, e.g. QMIX.load\('m.zip'\), and pass it"),
        (tmp_path / "m.zip", r"model=PosixPath\('.*m.zip'\) is a path: load the model first, e.g. QMIX.load\("),
        (QMIX, r"model=QMIX is a class: pass a model, e.g. QMIX\(env, ...\) or QMIX.load\(path\)"),
        (None, r"model must be an sb3-marl algorithm \(e.g. QMIX\) or its QMIXPolicy, got None"),
        (
            QMIX(CueMatchingEnv(), _init_setup_model=False),
            r"the QMIX model has no policy yet \(built with _init_setup_model=False\): call its _setup_model\(\) first",
        ),
    ]
    for model, message in not_models:
        with pytest.raises(TypeError, match=message):
            evaluate_policy(model, env, 2)
    fresh_model.learn(4)  # episodes in progress, which an evaluation in the training env would drop
    rollout = fresh_model._rollout
    with pytest.raises(TypeError, match=r"callback='x' must be a function f\(locals, globals\) or None"):
        evaluate_policy(fresh_model, fresh_model.get_env(), 2, callback="x")
    assert fresh_model._rollout is rollout  # refused before playing
    with pytest.raises(TypeError, match=r"attack=FGSM is a class: pass an attack object built from it, FGSM\(...\)"):
        evaluate_policy(fresh_model, env, 2, attack=FGSM)
    with pytest.raises(ValueError, match=r"^reward_threshold='1' must be a finite number or None \(no check\)$"):
        evaluate_policy(fresh_model, env, 2, reward_threshold="1")
