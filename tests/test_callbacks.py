"""Callbacks: the SB3 protocol fires as documented, stops training, and SB3's built-ins work on our models."""

import re
import warnings

import numpy as np
import pytest

from sb3_marl.common.callbacks import (
    BaseCallback,
    CheckpointCallback,
    EvalCallback,
    EveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnWinRate,
)
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.qmix import QMIX
from tests.helpers import StopWhenAnEpisodeEnds


class Recorder(BaseCallback):
    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.events: list[str] = []
        self.stop_after = stop_after

    def _on_training_start(self) -> None:
        self.events.append("training_start")
        assert "total_timesteps" in self.locals

    def _on_rollout_start(self) -> None:
        self.events.append("rollout_start")

    def _on_step(self) -> bool:
        self.events.append("step")
        assert {"actions", "reward", "terminated"} <= set(self.locals)
        return self.stop_after is None or self.n_calls < self.stop_after

    def _on_rollout_end(self) -> None:
        self.events.append("rollout_end")

    def _on_training_end(self) -> None:
        self.events.append("training_end")


def _model(n_envs: int = 2) -> QMIX:
    return QMIX(CueMatchingEnv(n_envs=n_envs, seed=0), seed=0, batch_size=2, device="cpu")


def test_hooks_fire_in_order_and_count_env_steps():
    model, recorder = _model(n_envs=3), Recorder()
    model.learn(50, callback=recorder)
    assert re.fullmatch(r"training_start( rollout_start( step)+ rollout_end)+ training_end", " ".join(recorder.events))
    n_steps = recorder.events.count("step")
    assert model.num_timesteps == 3 * n_steps >= 50
    assert recorder.events.count("rollout_start") == recorder.events.count("rollout_end")


def test_callback_returning_false_stops_training():
    model, recorder = _model(), Recorder(stop_after=5)
    model.learn(10_000, callback=recorder)
    assert recorder.events.count("step") == 5 and model.num_timesteps == 10


class EpisodeInfos(BaseCallback):
    """Collects the ``episode`` entries of ``infos`` (SB3's Monitor shape) and checks each step's ``infos``."""

    def __init__(self) -> None:
        super().__init__()
        self.episodes: list[dict] = []
        self.wins: list[bool] = []

    def _on_step(self) -> bool:
        infos, dones = self.locals["infos"], self.locals["dones"]
        assert len(infos) == len(dones) and all(isinstance(info["battle_won"], bool) for info in infos)
        assert ["episode" in info for info in infos] == dones.tolist()
        for info in infos:  # SB3's success and truncation flags where an episode ends
            assert ("is_success" in info) == ("episode" in info) == ("TimeLimit.truncated" in info)
            if "episode" in info:
                assert info["is_success"] is info["battle_won"]
                assert info["TimeLimit.truncated"] is info["episode_limit"]
        # SB3's terminal_observation: the finished episode's final observations (here also new_obs's row)
        assert ["terminal_observation" in info for info in infos] == dones.tolist()
        for env in dones.nonzero()[0]:
            np.testing.assert_array_equal(infos[env]["terminal_observation"], self.locals["new_obs"][env].numpy())
        self.episodes += [info["episode"] for info in infos if "episode" in info]
        self.wins += [info["is_success"] for info in infos if "episode" in info]
        return True


def test_infos_give_each_finished_episode_as_sb3s_monitor_does():
    model, callback = _model(), EpisodeInfos()
    model.learn(60, callback=callback)
    logged = [{"r": info["r"], "l": info["l"]} for info in model.ep_info_buffer]
    assert len(callback.episodes) >= 10 and callback.episodes == logged


def test_infos_give_sb3s_success_and_truncation_flags_where_an_episode_ends():
    """Two-step cue matching: a game won is one that matched to the time limit (so also truncated)."""
    model = QMIX(CueMatchingEnv(n_envs=2, episode_limit=2, seed=0), seed=0, batch_size=2, device="cpu")
    callback = EpisodeInfos()
    model.learn(200, callback=callback)
    logged = [bool(info["won"]) for info in model.ep_info_buffer]  # the last 100 episodes
    assert len(callback.wins) > len(logged) and callback.wins[-len(logged) :] == logged
    assert any(callback.wins) and not all(callback.wins)


def test_training_resumes_after_a_stop_on_the_step_an_episode_ended():
    model = _model()
    model.learn(10_000, callback=StopWhenAnEpisodeEnds())
    stopped_at, stored = model.num_timesteps, model.replay_buffer.n_stored
    assert stopped_at < 10_000 and stored >= 1  # the episode that ended on the stopping step was stored
    model.learn(40, reset_num_timesteps=False)  # the finished env was reset: stepping it again does not fail
    assert model.num_timesteps >= stopped_at + 40 and model.replay_buffer.n_stored > stored


def test_sb3_stop_on_max_episodes_reads_our_locals():
    model = _model(n_envs=2)
    model.learn(10_000, callback=StopTrainingOnMaxEpisodes(max_episodes=3))  # SB3: 3 episodes per env
    # SB3 stops at the step on which the envs' finished episodes reach 2 x 3 (7 when both envs finish on that step)
    assert model.replay_buffer.n_stored in (6, 7) and model.num_timesteps < 10_000


def test_function_callbacks_and_lists_are_converted():
    calls = []
    model = _model()
    model.learn(20, callback=lambda locals_, globals_: calls.append(1) or True)
    assert len(calls) == model.num_timesteps // 2
    first, second = Recorder(), Recorder()
    model.learn(20, callback=[first, second])
    assert first.events == second.events and "step" in first.events


def test_eval_callback_saves_results_and_best_and_stops(tmp_path):
    model = _model()
    stop = StopTrainingOnWinRate(win_rate_threshold=0.0)
    eval_callback = EvalCallback(
        CueMatchingEnv(n_envs=2, seed=1),
        callback_on_new_best=stop,
        n_eval_episodes=5,
        eval_freq=10,
        log_path=tmp_path,
        best_model_save_path=tmp_path,
        verbose=0,
    )
    model.learn(10_000, callback=eval_callback)
    assert model.num_timesteps == 20  # stopped at the first evaluation
    results = np.load(tmp_path / "evaluations.npz")
    assert results["results"].shape == (1, 5) and results["wins"].shape == (1, 5)
    assert results["timesteps"].tolist() == [20]
    assert (tmp_path / "best_model.zip").exists()
    assert eval_callback.best_win_rate == results["wins"].mean()
    # Stable-Baselines3's names for the outcomes, in memory and on disk
    assert eval_callback.evaluations_successes == [results["successes"][0].tolist()]


@pytest.mark.parametrize("child", ["callback_after_eval", "callback_on_new_best"])
def test_stop_on_win_rate_waits_for_the_threshold(child, monkeypatch):
    """Training goes on while the best win rate is under the threshold and stops at the evaluation that reaches it,
    as a child called after every evaluation or only on a new best model."""
    scripted = iter([0.25, 0.5, 0.25, 0.75, 0.0])

    def fake_evaluate(model, env, n_eval_episodes, **kwargs):
        win_rate = next(scripted)
        wins = [i < win_rate * n_eval_episodes for i in range(n_eval_episodes)]
        return [1.0] * n_eval_episodes, [10] * n_eval_episodes, wins

    monkeypatch.setattr("sb3_marl.common.callbacks.evaluate_policy", fake_evaluate)
    stop = StopTrainingOnWinRate(win_rate_threshold=0.7)
    eval_callback = EvalCallback(CueMatchingEnv(n_envs=2, seed=1), n_eval_episodes=4, eval_freq=5, **{child: stop})
    model = _model()
    model.learn(10_000, callback=eval_callback)
    assert eval_callback.evaluations_timesteps == [10, 20, 30, 40]  # the 4th evaluation wins 0.75
    assert model.num_timesteps == 40


def test_stop_on_win_rate_needs_an_eval_parent():
    with pytest.raises(ValueError, match="1.5"):
        StopTrainingOnWinRate(1.5)
    model = _model()
    with pytest.raises(RuntimeError, match="EvalCallback"):
        model.learn(10, callback=StopTrainingOnWinRate(0.5))


def test_no_model_improvement_follows_the_best_model(tmp_path, monkeypatch):
    """A new best model (higher win rate) with a lower mean return is an improvement; the run stops after two
    evaluations in a row without a new best model. Stable-Baselines3's version, watching the highest mean return
    alone, would stop one evaluation earlier."""
    scripted = iter([(0.5, 1.0), (1.0, 0.5), (1.0, 0.4), (1.0, 0.3), (1.0, 0.2)])

    def fake_evaluate(model, env, n_eval_episodes, **kwargs):
        win_rate, reward = next(scripted)
        wins = [i < win_rate * n_eval_episodes for i in range(n_eval_episodes)]
        return [reward] * n_eval_episodes, [10] * n_eval_episodes, wins

    monkeypatch.setattr("sb3_marl.common.callbacks.evaluate_policy", fake_evaluate)
    stop = StopTrainingOnNoModelImprovement(max_no_improvement_evals=1)
    eval_callback = EvalCallback(
        CueMatchingEnv(n_envs=2, seed=1),
        callback_after_eval=stop,
        n_eval_episodes=4,
        eval_freq=5,
        log_path=tmp_path,
        verbose=0,
    )
    _model().learn(10_000, callback=eval_callback)
    assert eval_callback.evaluations_timesteps == [10, 20, 30, 40]
    assert eval_callback.best_score == (1.0, 0.5)
    assert (eval_callback.best_win_rate, eval_callback.best_mean_reward) == (1.0, 1.0)  # maxima over evaluations
    assert np.load(tmp_path / "evaluations.npz")["timesteps"].tolist() == [10, 20, 30, 40]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    with pytest.raises(ValueError, match="max_no_improvement_evals=-1 must be an integer >= 0"):
        StopTrainingOnNoModelImprovement(max_no_improvement_evals=-1)
    with pytest.raises(ValueError, match="min_evals=1.5 must be an integer >= 0"):
        StopTrainingOnNoModelImprovement(max_no_improvement_evals=1, min_evals=1.5)


def test_sb3_checkpoint_and_every_n_callbacks_work(tmp_path):
    model = _model()
    fired = Recorder()
    checkpoint = CheckpointCallback(save_freq=20, save_path=tmp_path, name_prefix="ckpt", save_replay_buffer=True)
    model.learn(80, callback=[checkpoint, EveryNTimesteps(40, fired)], progress_bar=True)
    # every 20 calls, i.e. 40 env steps of the 2 envs, named after the env steps (SB3's names)
    assert sorted(p.name for p in tmp_path.glob("ckpt_*")) == [
        "ckpt_40_steps.zip",
        "ckpt_80_steps.zip",
        "ckpt_replay_buffer_40_steps.pkl",
        "ckpt_replay_buffer_80_steps.pkl",
    ]
    assert fired.events.count("step") == 2
    assert QMIX.load(tmp_path / "ckpt_40_steps.zip").num_timesteps == 40


def test_eval_callback_warns_about_another_map_unless_told_not_to():
    class OtherMap(CueMatchingEnv):
        map_name = "cue_matching_variant"

    for eval_env_class, warn, expected in ((OtherMap, True, 1), (OtherMap, False, 0), (CueMatchingEnv, True, 0)):
        callback = EvalCallback(eval_env_class(n_envs=2, seed=1), eval_freq=100, verbose=0, warn=warn)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _model().learn(10, callback=callback)
        messages = [str(w.message) for w in caught if "EvalCallback" in str(w.message)]
        assert len(messages) == expected, (eval_env_class.__name__, warn, messages)
        if expected:
            assert (
                "'cue_matching_variant' (OtherMap)" in messages[0] and "'cue_matching' (CueMatchingEnv)" in messages[0]
            )


def test_eval_callback_warns_about_other_game_settings():
    """Same map and sizes, another game (sparse rewards): the evaluations' returns and best model would mislead."""
    from sb3_marl.envs import make_env

    model = QMIX(make_env("3m", n_envs=1, seed=0), seed=0, batch_size=2, buffer_size=10)
    for eval_kwargs, expected in (({"reward_sparse": True}, 1), ({}, 0)):
        callback = EvalCallback(make_env("3m", n_envs=1, seed=1, **eval_kwargs), eval_freq=1000, verbose=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.learn(10, callback=callback)
        messages = [str(w.message) for w in caught if "EvalCallback" in str(w.message)]
        assert len(messages) == expected, (eval_kwargs, messages)
        if expected:
            assert "{'reward_sparse': True} while the model trains with {}" in messages[0]


@pytest.mark.parametrize("eval_env", [None, 123, np.zeros(3)])
def test_eval_callback_and_evaluate_policy_refuse_what_is_not_an_env(eval_env):
    with pytest.raises(TypeError, match="eval_env must be a map name or a BatchedMultiAgentEnv"):
        EvalCallback(eval_env)
    with pytest.raises(TypeError, match=f"must be a BatchedMultiAgentEnv .*got {type(eval_env).__name__}"):
        evaluate_policy(_model(), eval_env, 1)


def test_eval_callback_refuses_an_env_of_other_sizes_before_training():
    model = _model()
    callback = EvalCallback(CueMatchingEnv(n_envs=2, n_agents=3, seed=1), eval_freq=100, verbose=0)
    with pytest.raises(ValueError, match=r"has \(n_agents, obs_shape, n_actions\) = \(3, .* the model expects \(2,"):
        model.learn(500, callback=callback)
    assert model.num_timesteps == 0  # refused at the start, not at the first evaluation


def test_eval_callback_refuses_the_training_env():
    """Each evaluation would reset the episodes in progress; with eval_freq under an episode's length, none would
    ever finish and learn() would never return."""
    model = _model()
    with pytest.raises(ValueError, match="EvalCallback's eval_env is the model's training env"):
        model.learn(500, callback=EvalCallback(model.get_env(), eval_freq=2, verbose=0))


def test_eval_callback_checks_its_flag_and_attack_before_training():
    """An attack name, or an attack for agents the env lacks, failed at the first evaluation, eval_freq steps in."""
    from sb3_marl.attacks import FGSM

    with pytest.raises(ValueError, match="deterministic='False' must be True or False"):
        EvalCallback(CueMatchingEnv(), deterministic="False")
    with pytest.raises(TypeError, match="attack='fgsm': give an attack object"):
        EvalCallback(CueMatchingEnv(), attack="fgsm")
    model = QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=4).learn(100)
    steps = model.num_timesteps
    callback = EvalCallback(CueMatchingEnv(seed=1), eval_freq=10_000, attack=FGSM(0.1, attacked_agents=[4]))
    with pytest.raises(ValueError, match=r"attacked agent ids \[4\] do not exist"):
        model.learn(100, callback=callback)
    assert model.num_timesteps == steps  # refused before the counters were reset


def test_eval_callback_takes_sb3s_arguments_in_sb3s_order(tmp_path):
    """SB3's documented EvalCallback call passes render=False (a TypeError before); render=True is refused clearly,
    and the attack, which SB3 lacks, is keyword only (it sat at SB3's render position)."""
    callback = EvalCallback(
        CueMatchingEnv(seed=1),
        best_model_save_path=tmp_path,
        log_path=tmp_path,
        eval_freq=500,
        deterministic=True,
        render=False,
    )
    assert callback.eval_freq == 500 and callback.attack is None
    positional = EvalCallback(CueMatchingEnv(), None, None, 4, 50, None, None, True, False, 0, False)
    assert (positional.n_eval_episodes, positional.eval_freq, positional.verbose, positional.warn) == (4, 50, 0, False)
    with pytest.raises(ValueError, match="render=True: EvalCallback does not draw"):
        EvalCallback(CueMatchingEnv(), render=True)
    with pytest.raises(ValueError, match="render='no' must be True or False"):
        EvalCallback(CueMatchingEnv(), render="no")


def test_callback_arguments_are_checked_and_a_function_returning_none_is_warned_about(tmp_path):
    """SB3's CheckpointCallback saved at every step for save_freq=-1 (200 files from learn(200)) and divided by zero
    for 0; a non-callback child of EvalCallback failed at learn(); a print-only function stopped training silently."""
    from sb3_marl.common.callbacks import CheckpointCallback

    for save_freq in (-1, 0):
        with pytest.raises(ValueError, match=f"save_freq={save_freq}"):
            CheckpointCallback(save_freq, tmp_path)
    with pytest.raises(TypeError, match="callback_on_new_best=5 must be a BaseCallback"):
        EvalCallback(CueMatchingEnv(), callback_on_new_best=5)
    with pytest.raises(TypeError, match="log_path=5 must be a path"):
        EvalCallback(CueMatchingEnv(), log_path=5)
    model = QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=4)
    with pytest.warns(UserWarning, match="returned None, which stops training"):
        model.learn(100, callback=lambda local_vars, global_vars: None)
    assert model.num_timesteps == 2  # one batched step, as in Stable-Baselines3


def test_callback_paths_names_and_verbosity_are_checked_when_built(tmp_path):
    """save_path=5 failed in posixpath when training started, name_prefix=None wrote None_52_steps.zip, and
    EvalCallback's verbose="x" failed at its first evaluation, after the training time was spent."""
    with pytest.raises(TypeError, match=r"save_path=5 must be a path \(a str or a pathlib.Path\)"):
        CheckpointCallback(2, save_path=5)
    with pytest.raises(TypeError, match=r"name_prefix=None must be a str \(the files are <name_prefix>_<steps>_steps"):
        CheckpointCallback(2, save_path=tmp_path, name_prefix=None)
    with pytest.raises(ValueError, match="save_replay_buffer='yes' must be True or False"):
        CheckpointCallback(2, tmp_path, save_replay_buffer="yes")
    for build in (
        lambda: EvalCallback(CueMatchingEnv(), eval_freq=2, verbose="x"),
        lambda: CheckpointCallback(2, tmp_path, verbose="x"),
        lambda: StopTrainingOnWinRate(0.5, verbose="x"),
        lambda: StopTrainingOnNoModelImprovement(1, verbose="x"),
    ):
        with pytest.raises(ValueError, match="verbose='x' must be an integer >= 0"):
            build()
