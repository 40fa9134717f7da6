"""ATLAQMIX / PAADQMIX alternation, save/load/resume, train_attacker, and MAPPO's non-finite guard (toy env)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from sb3_marl.adversaries import MAPPO, NonFiniteTrainingError, PerturbationAdversaryEnv, QMIXDirector
from sb3_marl.adversaries.policies import MAPPOPolicy
from sb3_marl.attacks.learned import ATLAAttack, PAADAttack
from sb3_marl.common.base_class import offset_seed
from sb3_marl.common.callbacks import LogEveryNTimesteps
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.envs import make_env as make_smac_env
from sb3_marl.qmix import QMIX
from sb3_marl.robust.atla import ATLAQMIX
from sb3_marl.robust.paad import PAADQMIX
from sb3_marl.robust.train_attacker import train_attacker
from tests.helpers import StopWhenAnEpisodeEnds, rewrite_data

ADVERSARY_KWARGS = {
    ATLAQMIX: {"n_steps": 8, "batch_size": 32, "n_epochs": 2},
    PAADQMIX: {"batch_size": 4, "exploration_timesteps": 200, "buffer_size": 50},
}


def make_env(seed: int = 0) -> CueMatchingEnv:
    return CueMatchingEnv(n_envs=4, n_agents=2, n_actions=4, episode_limit=5, seed=seed)


def make_model(cls: type, **kwargs):  # noqa: ANN003, ANN201
    settings = {
        "epsilon": 0.2,
        "adversary_kwargs": ADVERSARY_KWARGS[cls],
        "victim_phase_timesteps": 100,
        "adversary_phase_timesteps": 64,
        "batch_size": 4,
        "buffer_size": 50,
        "seed": 0,
        "policy_kwargs": {"rnn_hidden_dim": 16},
        **kwargs,
    }
    return cls(make_env(), **settings)


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_another_training_attack_is_refused(cls: type) -> None:
    """The learned adversary is the training attack: an attack argument (a typo included) was silently dropped."""
    for attack in ("foo", "pgd"):
        with pytest.raises(ValueError, match=f"attack='{attack}': {cls.__name__} always trains against its learned"):
            make_model(cls, attack=attack)


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_adversary_n_envs_other_than_the_training_envs_is_named(cls: type) -> None:
    """The adversary plays in the model's training env: adversary_kwargs n_envs=16 was ignored (MAPPO's docstring
    said unused), then refused by the base class as "the env instance given", which the user never passed."""
    n_envs = make_env().n_envs
    with pytest.raises(ValueError, match=rf"adversary_kwargs\['n_envs'\]=16: the adversary plays in {cls.__name__}'s"):
        make_model(cls, adversary_kwargs={**ADVERSARY_KWARGS[cls], "n_envs": 16})
    assert make_model(cls, adversary_kwargs={**ADVERSARY_KWARGS[cls], "n_envs": n_envs}).adversary.n_envs == n_envs


def _check_listed_settings(message: str, prefix: str, adversary_class: type) -> None:
    """``message`` is ``prefix`` and the list of ``adversary_class``'s settings: its constructor keywords, but those
    the adversary's owner sets (its env, env_kwargs, backend, _init_setup_model)."""
    assert message.startswith(prefix)
    listed = ast.literal_eval(message[len(prefix) :])
    assert {"learning_rate", "gamma", "policy_kwargs", "seed"} <= set(listed)
    assert not {"self", "env", "env_kwargs", "backend", "_init_setup_model"} & set(listed)
    assert ("n_steps" in listed) is (adversary_class is MAPPO)


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_adversary_kwargs_the_adversary_does_not_take_or_the_model_sets_are_named(cls: type) -> None:
    """An unknown key was MAPPO's "__init__() got an unexpected keyword argument 'foo'" (no list of its settings),
    env and _init_setup_model were "got multiple values for argument", and a bad value (seed=-5) read as the model's
    own setting ("PAADQMIX refuses its settings: seed=-5 must be an integer >= 0")."""
    name, adversary = cls.__name__, MAPPO if cls is ATLAQMIX else QMIXDirector
    with pytest.raises(ValueError) as error:
        make_model(cls, adversary_kwargs={**ADVERSARY_KWARGS[cls], "foo": 1})
    prefix = f"adversary_kwargs['foo'] is not a setting of {name}'s adversary, a {adversary.__name__}; its settings: "
    _check_listed_settings(str(error.value), prefix, adversary)
    for key, value, message in (
        ("env", "3m", f"['env'] is set by {name}: the adversary plays in its env"),
        (
            "env_kwargs",
            {},
            f"['env_kwargs'] is set by {name}: the adversary plays in its env, with that env's settings",
        ),
        ("_init_setup_model", True, f"['_init_setup_model'] is set by {name}: it builds the adversary itself"),
    ):
        with pytest.raises(ValueError) as error:
            make_model(cls, adversary_kwargs={**ADVERSARY_KWARGS[cls], key: value})
        assert str(error.value) == f"adversary_kwargs{message}"
    with pytest.raises(ValueError) as error:
        make_model(cls, adversary_kwargs={**ADVERSARY_KWARGS[cls], "gamma": 2})
    assert str(error.value) == (
        f"adversary_kwargs (settings of {name}'s {adversary.__name__} adversary): gamma=2 must be a finite number in "
        "[0, 1]"
    )


@pytest.mark.parametrize("kind", ["atla", "paad"])
def test_train_attackers_adversary_kwargs_are_named(kind: str) -> None:
    """n_envs=3 for a batch of 2 built by train_attacker was refused as "the env instance given", which the user
    never gave; unknown keys and keys train_attacker sets were TypeErrors of the adversary's constructor."""
    victim = QMIX(make_env(), batch_size=4, seed=0, policy_kwargs={"rnn_hidden_dim": 8})
    adversary = MAPPO if kind == "atla" else QMIXDirector
    for adversary_kwargs, message in (
        (
            {"n_envs": 3},
            "adversary_kwargs['n_envs']=3: the adversary plays in train_attacker's env, which steps 4 episodes at "
            "once; leave it out (the adversary's n_envs is that env's)",
        ),
        ({"env": "3m"}, "adversary_kwargs['env'] is set by train_attacker: the adversary plays in its env"),
    ):
        with pytest.raises(ValueError) as error:
            train_attacker(victim, kind, 0.2, total_timesteps=8, env=make_env(), adversary_kwargs=adversary_kwargs)
        assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        train_attacker(victim, kind, 0.2, total_timesteps=8, env=make_env(), adversary_kwargs={"foo": 1})
    prefix = f"adversary_kwargs['foo'] is not a setting of train_attacker's adversary, a {adversary.__name__}; its "
    _check_listed_settings(str(error.value), prefix + "settings: ", adversary)
    with pytest.raises(ValueError, match=r"^adversary_kwargs=\[1\] must be a mapping of settings \(a dict\) or None$"):
        train_attacker(victim, kind, 0.2, total_timesteps=8, env=make_env(), adversary_kwargs=[1])


def test_each_training_logs_its_adversary_beside_its_own_run(tmp_path: Path) -> None:
    """The adversary's TensorBoard run is named after the victim's: two trainings (they used to share one
    ``ATLAQMIX_adversary_0`` with overlapping steps) and every adversary phase of one training continue their own."""
    for _ in range(2):
        make_model(ATLAQMIX, tensorboard_log=str(tmp_path)).learn(250, tb_log_name="run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_1", "run_1_adversary_0", "run_2", "run_2_adversary_0"]


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_the_adversary_follows_the_victims_log_interval_none_and_its_set_logger(cls: type, tmp_path: Path) -> None:
    """learn(log_interval=None) still let the adversary dump at its own interval, and with a logger from set_logger
    (no tensorboard_log) the adversary's statistics went nowhere."""
    from stable_baselines3.common.logger import configure

    for log_interval, dumps in ((None, False), (4, True)):
        model, recorder = make_model(cls), _DumpRecorder()
        model.adversary.set_logger(recorder)
        model.learn(250, log_interval=log_interval)
        assert model._n_adversary_phases >= 1 and bool(recorder.dumped) is dumps
    model = make_model(cls)
    model.set_logger(configure(str(tmp_path / "custom"), ["csv"]))
    model.learn(250)
    rows = (tmp_path / "custom_adversary" / "progress.csv").read_text().splitlines()
    assert len(rows) >= 2 and "time/total_timesteps" in rows[0]  # a header and logged rows
    assert model.adversary.logger.get_dir() == str(tmp_path / "custom_adversary")
    model.set_logger(configure(str(tmp_path / "second"), ["csv"]))  # the adversary's follows a new victim logger
    model.learn(250)
    assert model.adversary.logger.get_dir() == str(tmp_path / "second_adversary")


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_a_learned_attack_for_other_sizes_is_refused_before_playing(cls: type) -> None:
    """The check passed and evaluate_policy (an EvalCallback's first evaluation, hours into a training) failed
    inside the adversary with a shape error that did not name it."""
    attack = make_model(cls).attack
    attack.check_fits_env(make_env())
    other = CueMatchingEnv(n_envs=4, n_agents=3, n_actions=4, episode_limit=5, seed=0)
    with pytest.raises(
        ValueError, match=rf"the {type(attack).__name__}'s adversary \(\w+\) was made for .*'n_agents': 2"
    ):
        attack.check_fits_env(other)
    victim = QMIX(other, seed=0, policy_kwargs={"rnn_hidden_dim": 16})
    with pytest.raises(ValueError, match="was made for"):
        evaluate_policy(victim, other, 4, attack=attack)


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_alternation_follows_schedule(cls: type) -> None:
    model = make_model(cls)
    assert isinstance(model.attack, ATLAAttack if cls is ATLAQMIX else PAADAttack)
    assert (model.attack.adversary if cls is ATLAQMIX else model.attack.director) is model.adversary
    phases: list[tuple[int, int]] = []  # (victim steps, adversary steps) when each adversary phase starts
    original = model.adversary.learn

    def spy_learn(total_timesteps: int, **kwargs):  # noqa: ANN003, ANN202
        phases.append((model.num_timesteps, model.adversary.num_timesteps))
        assert total_timesteps == 64
        return original(total_timesteps, **kwargs)

    model.adversary.learn = spy_learn
    victim_before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(450)
    assert model.num_timesteps >= 450
    assert len(phases) == 4 == model._n_adversary_phases
    for i, (victim_steps, adversary_steps) in enumerate(phases):
        # each adversary phase starts after >= 100 more victim steps (a rollout crosses the budget) ...
        assert 100 * (i + 1) <= victim_steps < 100 * (i + 1) + 4 * 5 * (i + 1) + 1
        # ... and the adversary got its own 64-step budget each time
        assert adversary_steps >= 64 * i
    assert model.adversary.num_timesteps >= 4 * 64
    assert any(not torch.equal(v, model.policy.state_dict()[k]) for k, v in victim_before.items())


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_save_load_resume_keeps_both_networks(cls: type, tmp_path: Path) -> None:
    model = make_model(cls)
    model.learn(250)
    path = model.save(tmp_path / "model.zip")
    loaded = cls.load(path, env=make_env(1))
    for mine, theirs in ((model.policy, loaded.policy), (model.adversary.policy, loaded.adversary.policy)):
        for key, value in mine.state_dict().items():
            assert torch.equal(value, theirs.state_dict()[key]), key
    assert loaded.adversary.policy.optimizer.state_dict()["state"]  # optimizer moments restored
    assert loaded.adversary.num_timesteps == model.adversary.num_timesteps > 0
    assert (loaded._victim_phase_progress, loaded._n_adversary_phases) == (
        model._victim_phase_progress,
        model._n_adversary_phases,
    )
    assert loaded.epsilon == 0.2 and loaded.adversary_kwargs == ADVERSARY_KWARGS[cls]
    obs = torch.rand(3, 2, loaded.env.obs_shape)
    assert (model.predict(obs)[0] == loaded.predict(obs)[0]).all()
    phases_before, adversary_steps = loaded._n_adversary_phases, loaded.adversary.num_timesteps
    loaded.learn(150, reset_num_timesteps=False)
    assert loaded.num_timesteps >= model.num_timesteps + 150
    assert loaded._n_adversary_phases > phases_before
    assert loaded.adversary.num_timesteps > adversary_steps
    # predict-only load: the adversary's networks come with it
    predict_only = cls.load(path)
    for key, value in model.adversary.policy.state_dict().items():
        assert torch.equal(value, predict_only.adversary.policy.state_dict()[key]), key
    architecture = {"net_arch": [8]} if cls is ATLAQMIX else {"rnn_hidden_dim": 128}
    with pytest.raises(ValueError, match=r"adversary_kwargs\['policy_kwargs'\]=.* differs from the saved adversary's"):
        cls.load(path, adversary_kwargs={**ADVERSARY_KWARGS[cls], "policy_kwargs": architecture})


def test_the_directors_replay_buffer_and_weight_averages_come_back(tmp_path: Path) -> None:
    """PA-AD's director is a QMIX with a replay buffer and (here) weight averages: both were lost on save / load."""
    model = make_model(PAADQMIX, adversary_kwargs={**ADVERSARY_KWARGS[PAADQMIX], "weight_averages": [0.1]})
    model.learn(250)
    director = model.adversary
    assert director.replay_buffer.n_stored > 0 and int(director.agent_averages.n_updates) > 0
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer")
    loaded = PAADQMIX.load(tmp_path / "model.zip", env=make_env(1))
    averaged = director.agent_averages.candidates()
    for name, weights in loaded.adversary.agent_averages.candidates().items():
        for key, value in weights.items():
            assert torch.equal(value, averaged[name][key]), (name, key)
    assert int(loaded.adversary.agent_averages.n_updates) == int(director.agent_averages.n_updates)
    loaded.load_replay_buffer(tmp_path / "buffer")
    assert loaded.adversary.replay_buffer.n_stored == director.replay_buffer.n_stored
    for key, value in director.replay_buffer.data.items():
        assert torch.equal(loaded.adversary.replay_buffer.data[key], value), key
    # a buffer written before the director's first phase removes an older director file; loading it warns
    fresh = make_model(PAADQMIX)
    fresh.learn(60)  # within the first victim phase: the director has no buffer yet
    assert fresh.save_replay_buffer(tmp_path / "buffer") == tmp_path / "buffer.pkl"
    assert not (tmp_path / "buffer_adversary.pkl").exists()
    with pytest.warns(UserWarning, match=r"No adversary replay buffer .*buffer_adversary.pkl beside"):
        loaded.load_replay_buffer(tmp_path / "buffer")


def test_a_refused_director_buffer_gives_the_victims_buffer_back(tmp_path: Path) -> None:
    model = make_model(PAADQMIX)
    model.learn(250)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    (tmp_path / "buffer_adversary.pkl").write_bytes(b"")
    other = make_model(PAADQMIX, seed=1)
    other.learn(120)
    victim_buffer = other.replay_buffer
    with pytest.raises(ValueError, match="buffer_adversary.pkl"):
        other.load_replay_buffer(tmp_path / "buffer.pkl")
    assert other.replay_buffer is victim_buffer


def test_atla_saves_no_adversary_buffer(tmp_path: Path) -> None:
    model = make_model(ATLAQMIX)
    model.learn(120)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["buffer.pkl"]
    model.load_replay_buffer(tmp_path / "buffer.pkl")  # no warning about an adversary buffer: MAPPO keeps none


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_a_checkpoint_mid_rollout_resumes_the_victim_phase_to_the_step(cls: type, tmp_path: Path) -> None:
    """The victim phase's progress counted only whole rollouts: a checkpoint taken between steps resumed the phase
    with up to a rollout more to go, and every later phase started later than in the uninterrupted run."""

    class SaveAt(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 136:  # mid-rollout: rollouts of 4 envs x 5 steps
                self.model.save(tmp_path / "checkpoint.zip")
            return True

    def phase_starts(model) -> list[int]:  # noqa: ANN001
        starts: list[int] = []
        original = model.adversary.learn

        def spy_learn(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            starts.append(model.num_timesteps)
            return original(*args, **kwargs)

        model.adversary.learn = spy_learn
        return starts

    model = make_model(cls, victim_phase_timesteps=60)
    uninterrupted = phase_starts(model)
    model.learn(400, callback=SaveAt())
    loaded = cls.load(tmp_path / "checkpoint.zip", env=make_env())
    assert loaded.num_timesteps == 136 and loaded._victim_phase_progress == 136 - uninterrupted[1]
    resumed = phase_starts(loaded)
    loaded.learn(200 - 136, reset_num_timesteps=False)
    # the phase in progress ends where it ended uninterrupted (later phases follow the resumed episodes' lengths)
    assert resumed[0] == next(start for start in uninterrupted if start > 136)


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
@pytest.mark.parametrize(
    ("adversary_counters", "message"),
    [
        ({"num_timesteps": "abc"}, r"its counter num_timesteps='abc' is not a int \(a counter of its adversary, "),
        ({"bogus": 1}, r"holds adversary counters \['bogus'\] that"),
    ],
)
def test_a_malformed_adversary_counter_is_named(cls: type, tmp_path: Path, adversary_counters, message) -> None:
    """The adversary's counters were set from the file unchecked (a string step count failed in its next learn)."""
    model = make_model(cls)
    model.learn(120)
    path = model.save(tmp_path / "model.zip")

    def edit(data: dict) -> dict:
        counters = data["counters"]
        return {
            **data,
            "counters": {**counters, "adversary_counters": {**counters["adversary_counters"], **adversary_counters}},
        }

    rewrite_data(path, tmp_path / "bad.zip", edit)
    with pytest.raises(ValueError, match=message):
        cls.load(tmp_path / "bad.zip")


def test_a_direct_adversary_phase_leaves_the_victim_to_start_new_episodes() -> None:
    """``train_adversary`` called between two ``learn`` calls: the adversary reset the shared env under the victim's
    episodes in progress, and the victim then acted on stale observations ("action 0 is not available")."""
    model = ATLAQMIX(
        "3m",
        adversary_kwargs=ADVERSARY_KWARGS[ATLAQMIX],
        victim_phase_timesteps=10_000,
        n_envs=2,
        batch_size=2,
        buffer_size=10,
        seed=1,
        policy_kwargs={"rnn_hidden_dim": 8},
        device="cpu",
    )
    model.learn(40, callback=StopWhenAnEpisodeEnds())  # stops as one env's episode ends: the other is running
    assert model._rollout is not None and bool((model._rollout.t > 0).any())
    model.train_adversary(64)
    model.learn(60, reset_num_timesteps=False)
    assert model._n_adversary_phases == 1 and model.adversary.num_timesteps >= 64


def test_the_pa_ad_director_logs_the_victims_win_rate_as_such() -> None:
    """The director's env reports the victim's wins: logged as rollout/victim_win_rate (as MAPPO's), not as its own."""
    from stable_baselines3.common.logger import Logger

    class KeyLogger(Logger):
        def __init__(self) -> None:
            super().__init__(folder=None, output_formats=[])
            self.keys: set[str] = set()

        def record(self, key: str, value, exclude=None) -> None:  # noqa: ANN001
            self.keys.add(key)
            super().record(key, value, exclude)

    for cls in (PAADQMIX, ATLAQMIX):  # the director, and MAPPO (which shares the episode record since)
        model = make_model(cls)
        model.adversary.set_logger(logger := KeyLogger())
        model.train_adversary(64)
        assert "rollout/victim_win_rate" in logger.keys and "rollout/ep_rew_mean" in logger.keys, cls
        assert not {"rollout/win_rate", "rollout/success_rate"} & logger.keys, cls
        # an adversary file written before the shared record names the win flag "victim_won"
        model.adversary.recent_episodes = [{"r": 1.0, "l": 3, "victim_won": 1.0}]
        assert model.adversary.recent_episodes == [{"won": 1.0, "r": 1.0, "l": 3}]
        model.adversary.dump_logs()


def test_alternating_rejects_bad_schedule() -> None:
    with pytest.raises(ValueError, match="victim_phase_timesteps"):
        make_model(ATLAQMIX, victim_phase_timesteps=0)
    with pytest.raises(ValueError, match="TargetActionAdversaryEnv"):
        QMIXDirector(make_env())


@pytest.mark.parametrize("kind", ["atla", "paad"])
def test_train_attacker_against_saved_model(kind: str, tmp_path: Path) -> None:
    victim = QMIX(make_env(), batch_size=4, seed=0, policy_kwargs={"rnn_hidden_dim": 16})
    victim.learn(100)
    path = victim.save(tmp_path / "victim.zip")
    kwargs = ADVERSARY_KWARGS[ATLAQMIX if kind == "atla" else PAADQMIX]
    attack = train_attacker(path, kind, 0.2, total_timesteps=64, env=make_env(), adversary_kwargs=kwargs, seed=0)
    assert isinstance(attack, ATLAAttack if kind == "atla" else PAADAttack)
    env = make_env()
    obs, state, avail = env.reset()
    perturbed = attack.perturb(victim.policy, obs, avail, torch.zeros(4, 2, 4), victim.policy.initial_hidden(4), state)
    assert (perturbed - obs).abs().max() <= 0.2 + 1e-6
    with pytest.raises(ValueError, match="kind"):
        train_attacker(victim, "fgsm")
    with pytest.raises(ValueError, match="env_kwargs=.*only apply to an env built here"):
        train_attacker(victim, kind, env=make_env(), env_kwargs={"compile": True})


def test_the_pa_ad_directors_exploration_follows_the_attackers_budget() -> None:
    """QMIX's default decay over 50k steps left a director of a smaller budget exploring when it stopped (the
    benchmark alone gave it half the budget)."""
    victim = QMIX(make_env(), batch_size=4, seed=0, policy_kwargs={"rnn_hidden_dim": 16})
    settings = {"batch_size": 4, "buffer_size": 50}
    attack = train_attacker(victim, "paad", 0.2, total_timesteps=200, env=make_env(), adversary_kwargs=settings)
    assert attack.director.exploration_timesteps == 100
    assert attack.director.exploration_rate == pytest.approx(attack.director.exploration_final_eps)
    kept = train_attacker(
        victim, "paad", 0.2, 40, env=make_env(), adversary_kwargs={**settings, "exploration_timesteps": 7}
    )
    assert kept.director.exploration_timesteps == 7


@pytest.mark.parametrize("built_from", ["map name", "env instance"])
def test_train_attacker_builds_the_victims_env(built_from: str) -> None:
    """Without an env, the attacker trains on the victim's map with the victim's env settings (here an observation
    one last-action block longer), whether the victim was built from a map name or, as zoo/train.py builds it, on an
    env instance: before, a plain env of the map, which this victim could not act in."""
    settings = {"obs_last_action": True}
    if built_from == "map name":
        victim = QMIX("3m", n_envs=2, batch_size=4, seed=0, env_kwargs=settings)
    else:
        victim = QMIX(make_smac_env("3m", n_envs=2, seed=0, **settings), batch_size=4, seed=0)
    assert PerturbationAdversaryEnv(victim.get_env(), victim, 0.2).env_kwargs == settings  # the victim's game
    victim.learn(60)
    kwargs = ADVERSARY_KWARGS[ATLAQMIX]
    attack = train_attacker(victim, "atla", 0.2, total_timesteps=64, n_envs=2, adversary_kwargs=kwargs, seed=0)
    assert isinstance(attack, ATLAAttack)


class NaNRewardEnv(CueMatchingEnv):
    """Returns NaN rewards from step ``nan_from`` on (counted in batched steps)."""

    def __init__(self, nan_from: int, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.nan_from, self.steps = nan_from, 0

    def step(self, actions: torch.Tensor):  # noqa: ANN201
        obs, state, avail, reward, terminated, info = super().step(actions)
        self.steps += 1
        if self.steps >= self.nan_from:
            reward = torch.full_like(reward, float("nan"))
        return obs, state, avail, reward, terminated, info


def make_mappo(nan_from: int, **kwargs) -> MAPPO:  # noqa: ANN003
    torch.manual_seed(0)
    victim = QMIX(CueMatchingEnv(n_envs=4, n_agents=2, n_actions=4), seed=0, policy_kwargs={"rnn_hidden_dim": 16})
    env = PerturbationAdversaryEnv(NaNRewardEnv(nan_from, n_envs=4, n_agents=2, n_actions=4, seed=0), victim, 0.2)
    return MAPPO(env, n_steps=8, batch_size=16, n_epochs=1, seed=0, **kwargs)


def test_mappo_trains_only_on_the_agents_the_env_perturbed() -> None:
    torch.manual_seed(0)
    victim = QMIX(CueMatchingEnv(n_envs=4, n_agents=3, n_actions=4), seed=0, policy_kwargs={"rnn_hidden_dim": 16})
    env = PerturbationAdversaryEnv(CueMatchingEnv(n_envs=4, n_agents=3, n_actions=4, seed=0), victim, 0.2, 1)
    model = MAPPO(env, n_steps=8, batch_size=16, n_epochs=1, seed=0)
    attacked, step = [], env.step

    def watched_step(actions):  # noqa: ANN001, ANN202
        result = step(actions)
        attacked.append(result[5]["attacked_agents"])
        return result

    env.step = watched_step
    model.learn(32)
    # one agent's action acts per step; the other two agents' log-probabilities stay out of the loss
    assert torch.equal(model.rollout_buffer.agent_mask, torch.stack(attacked))
    assert (model.rollout_buffer.agent_mask.sum(-1) == 1).all()


def test_nonfinite_guard_skips_then_stops() -> None:
    model = make_mappo(nan_from=9, max_nonfinite_skips=5)  # the second rollout has NaN rewards
    model.learn(32)
    assert model.nonfinite_skips == 0 and model._n_updates == 2
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    with pytest.raises(NonFiniteTrainingError, match="5 consecutive"):
        model.learn(96, reset_num_timesteps=False)
    assert model.nonfinite_skips == 5
    for key, value in model.policy.state_dict().items():
        assert torch.equal(value, before[key]) and torch.isfinite(value).all(), key


def test_nonfinite_guard_counts_isolated_skips() -> None:
    model = make_mappo(nan_from=10**9, max_nonfinite_skips=3)
    original = model._ppo_loss
    calls = {"n": 0}

    def sometimes_nan(batch):  # noqa: ANN001, ANN202
        loss, stats = original(batch)
        calls["n"] += 1
        return (loss * float("nan"), stats) if calls["n"] % 2 == 0 else (loss, stats)

    model._ppo_loss = sometimes_nan
    model.learn(128)  # alternating finite / non-finite updates never reach 3 in a row
    assert model.nonfinite_skips == calls["n"] // 2 > 0
    assert model._n_updates == calls["n"] - model.nonfinite_skips
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())


def test_mappo_resumes_after_a_callback_stop_on_the_step_an_episode_ended() -> None:
    model = make_mappo(nan_from=10**9)
    model.learn(10_000, callback=StopWhenAnEpisodeEnds())
    stopped_at = model.num_timesteps
    assert stopped_at < 10_000
    model.learn(32, reset_num_timesteps=False)  # the finished envs were reset: stepping them again does not fail
    assert model.num_timesteps >= stopped_at + 32


def test_train_attacker_takes_the_victims_game_but_not_its_run_time_settings(monkeypatch) -> None:
    """The attacker's env has the victim's game settings; ``compile`` (how fast it runs) is the caller's to give:
    zoo/enjoy.py without --compile trained the attacker on a compiled simulator for a model built with it."""
    make_env_module = importlib.import_module("sb3_marl.envs.make_env")  # the package's make_env is the function
    seen = {}

    def recording_make_env(map_name: str, **kwargs):  # noqa: ANN202, ANN003
        seen.update(kwargs)
        raise KeyboardInterrupt  # stop here: only the env's keywords matter

    victim = QMIX("3m", n_envs=1, seed=0, env_kwargs={"compile": False, "reward_sparse": True})
    victim.env_kwargs["compile"] = True  # as a model built with env_kwargs={"compile": True} holds it
    monkeypatch.setattr(make_env_module, "make_env", recording_make_env)
    with pytest.raises(KeyboardInterrupt):
        train_attacker(victim, "atla", 0.2, total_timesteps=8, n_envs=1, seed=0)
    assert seen["reward_sparse"] is True and "compile" not in seen
    with pytest.raises(KeyboardInterrupt):
        train_attacker(victim, "atla", 0.2, total_timesteps=8, n_envs=1, seed=0, env_kwargs={"compile": True})
    assert seen["compile"] is True


def test_train_attacker_checks_epsilon_first_and_closes_the_env_it_built(monkeypatch) -> None:
    """A bad epsilon was found after the env (SC2 processes with backend="sc2") was built, and a failing adversary
    left the env it built open."""
    make_env_module = importlib.import_module("sb3_marl.envs.make_env")
    real_make_env, built = make_env_module.make_env, []

    def recording_make_env(map_name: str, **kwargs):  # noqa: ANN202, ANN003
        env = real_make_env(map_name, **kwargs)
        env.close = lambda: built.append("closed")
        built.append(map_name)
        return env

    victim = QMIX("3m", n_envs=1, seed=0, env_kwargs={"compile": False})
    monkeypatch.setattr(make_env_module, "make_env", recording_make_env)
    with pytest.raises(ValueError, match="epsilon=-1.0 must be a finite number >= 0"):
        train_attacker(victim, "atla", -1.0, total_timesteps=8)
    assert built == []
    with pytest.raises(ValueError, match="n_steps"):
        train_attacker(victim, "atla", 0.2, total_timesteps=8, adversary_kwargs={"n_steps": 0})
    assert built == ["3m", "closed"]


def test_mappo_log_std_stays_in_its_range_and_keeps_its_gradient() -> None:
    """A strong entropy penalty from saturated actions drives log_std up to LOG_STD_MAX (the squashed entropy falls
    as log_std grows there); it must stop there, not run past the clamp in ``distribution`` (which passes no
    gradient beyond it, so a value outside stayed outside for good)."""
    from sb3_marl.adversaries.policies import LOG_STD_MAX

    model = make_mappo(nan_from=10**9, ent_coef=-100.0, learning_rate=0.5, policy_kwargs={"log_std_init": 1.9})
    model.learn(64)
    assert float(model.policy.log_std.max()) == LOG_STD_MAX
    model.policy.zero_grad()
    model.policy.evaluate_actions(torch.zeros(1, 2, model.policy.obs_dim), torch.zeros(1, 2, model.policy.obs_dim))[
        1
    ].sum().neg().backward()  # lowering the entropy: a gradient that would bring log_std back into the range
    assert bool((model.policy.log_std.grad != 0).all())
    with pytest.raises(ValueError, match="log_std_init=2.5"):
        make_mappo(nan_from=10**9, policy_kwargs={"log_std_init": 2.5})


def test_mappo_learn_restarts_episodes_with_the_pending_seed() -> None:
    """``learn(reset_num_timesteps=True)`` starts new episodes, as SB3 does: the seed ``set_random_seed`` leaves
    for the env reaches it, and no partial episode of the last run is counted in the new one."""
    model = make_mappo(nan_from=10**9)
    resets: list[int | None] = []
    reset = model.env.reset

    def recording_reset(env_mask=None, seed=None):  # noqa: ANN001, ANN202
        if env_mask is None:
            resets.append(seed)
        return reset(env_mask, seed)

    model.env.reset = recording_reset
    model.learn(8)
    model.set_random_seed(7)
    model.learn(8)
    assert resets[-1] == 7
    model.learn(8, reset_num_timesteps=False)  # continuing keeps the episodes running
    assert len(resets) == 2


class _DumpRecorder(Logger):
    """A logger that writes nothing and records the steps it was asked to dump at."""

    def __init__(self) -> None:
        super().__init__(None, [])
        self.dumped: list[int] = []

    def dump(self, step: int = 0) -> None:
        self.dumped.append(step)


@pytest.mark.parametrize("cls", [MAPPO, QMIX])
def test_log_interval_none_logs_nothing_and_zero_is_refused(cls: type) -> None:
    model = make_mappo(nan_from=10**9) if cls is MAPPO else QMIX(make_env(), batch_size=4, buffer_size=50, seed=0)
    recorder = _DumpRecorder()
    model.set_logger(recorder)  # kept by learn() (a patched dump would be replaced with the logger of each call)
    model.learn(32, log_interval=1)
    assert recorder.dumped  # the control: the recorder sees the dumps of log_interval=1
    recorder.dumped.clear()
    model.learn(32, log_interval=None)
    assert recorder.dumped == []
    with pytest.raises(ValueError, match="log_interval=0"):
        model.learn(16, log_interval=0)


def test_the_director_refuses_the_game_env_everywhere(tmp_path: Path) -> None:
    """A QMIXDirector on the victim's game would be a plain QMIX playing it: refused also by set_env and load."""
    director = make_model(PAADQMIX).adversary
    with pytest.raises(ValueError, match="TargetActionAdversaryEnv"):
        director.set_env(make_env())
    director.save(tmp_path / "director.zip")
    with pytest.raises(ValueError, match="TargetActionAdversaryEnv"):
        QMIXDirector.load(tmp_path / "director.zip", env=make_env())
    with pytest.raises(ValueError, match="TargetActionAdversaryEnv"):
        QMIXDirector(make_env())


def test_the_learned_attack_draws_from_another_stream_than_the_victims_exploration() -> None:
    for cls in (ATLAQMIX, PAADQMIX):
        model = make_model(cls, seed=3)
        assert model.attack.seed not in (model.seed, model.adversary.seed), cls
        assert model.attack.seed == offset_seed(model.seed, 2), cls  # seeded from the model's seed: reproducible


def _mappo_on_three_agents(**kwargs) -> MAPPO:  # noqa: ANN003
    torch.manual_seed(0)
    victim = QMIX(CueMatchingEnv(n_envs=4, n_agents=3, n_actions=4), seed=0, policy_kwargs={"rnn_hidden_dim": 16})
    env = PerturbationAdversaryEnv(CueMatchingEnv(n_envs=4, n_agents=3, n_actions=4, seed=0), victim, 0.2)
    return MAPPO(env, n_steps=8, batch_size=16, seed=0, **kwargs)


def test_mappo_normalises_advantages_over_the_agent_samples_of_the_loss() -> None:
    """With the stored log-probabilities equal to the current ones (ratio 1), the policy loss is minus the mean of
    the normalised advantages over the masked agent samples: exactly 0 when the normalisation weights each step by
    its number of samples (MAPPO's reference), not when every step counts once."""
    model = _mappo_on_three_agents()
    generator = torch.Generator().manual_seed(0)
    obs = torch.rand(12, 3, model.env.obs_shape, generator=generator)
    pre_tanh = torch.randn(12, 3, model.env.obs_shape, generator=generator)
    log_probs, _ = model.policy.evaluate_actions(obs, pre_tanh)
    mask = torch.tensor([[True, True, True], [True, False, False], [False, False, False]]).repeat(4, 1)
    batch = {
        "obs": obs,
        "pre_tanh": pre_tanh,
        "log_probs": log_probs.detach(),
        "agent_mask": mask,
        "advantages": torch.randn(12, generator=generator),
        "states": torch.rand(12, model.env.state_shape, generator=generator),
        "returns": torch.zeros(12),
    }
    _, stats = model._ppo_loss(batch)
    assert abs(stats["policy_gradient_loss"].item()) < 1e-6


def test_mappo_entropy_bonus_is_the_squashed_actions_entropy_with_its_gradient() -> None:
    """The bonus was minus the stored action's log-probability (SB3's estimate): its gradient in log_std was about
    zero at the rollout's policy, where the squashed entropy falls steeply once the actions saturate."""
    policy = MAPPOPolicy(2, 5, 5, 7)
    obs = torch.zeros(20_000, 2, 5)
    for log_std, slope_sign in ((-1.0, 1.0), (1.0, -1.0)):
        with torch.no_grad():
            policy.log_std.fill_(log_std)
        _, pre_tanh, log_prob = policy.act(obs, generator=torch.Generator().manual_seed(0))
        evaluated, entropy = policy.evaluate_actions(obs, pre_tanh)
        # the Monte Carlo entropy, -E[log p(tanh u)], of 40,000 samples per agent
        torch.testing.assert_close(entropy.mean(), -log_prob.mean(), atol=0.02, rtol=0.0)
        (gradient,) = torch.autograd.grad(entropy[0, 0], policy.log_std)
        assert not policy.evaluate_actions(obs[:1], pre_tanh[:1], entropy_gradient=False)[1].requires_grad
        # d/dlog_std of the entropy: + while the actions spread, - once they pile up at +-1 (the squashed
        # entropy at a zero mean as a function of sigma), ~0 for the old estimate
        assert (gradient * slope_sign > 0.3).all(), (log_std, gradient)


def test_mappo_target_kl_stops_the_epochs_early() -> None:
    unlimited = _mappo_on_three_agents(n_epochs=4).learn(32)
    limited = _mappo_on_three_agents(n_epochs=4, target_kl=1e-12).learn(32)
    assert unlimited._n_updates == 4 * 2  # 4 epochs of 32 steps / 16
    assert limited._n_updates == 1  # the first minibatch has ratio 1; the next one is over the limit
    with pytest.raises(ValueError, match=r"target_kl=0.0 must be a finite number > 0 \(None: no limit\)"):
        _mappo_on_three_agents(target_kl=0.0)


def test_adversary_inputs_are_checked_where_they_are_given() -> None:
    victim = QMIX(CueMatchingEnv(n_envs=4, n_agents=3, n_actions=4), seed=0, policy_kwargs={"rnn_hidden_dim": 16})
    with pytest.raises(ValueError, match="MAPPO needs an adversary env"):
        MAPPO(None)
    with pytest.raises(ValueError, match=r"net_arch width=0 must be an integer >= 1"):
        MAPPOPolicy(2, 5, 5, 7, net_arch=[0])
    with pytest.raises(ValueError, match=r"net_arch=64 must be a list of hidden layer widths"):
        MAPPOPolicy(2, 5, 5, 7, net_arch=64)
    with pytest.raises(ValueError, match="push_off_greedy='false' must be True or False"):
        PAADAttack(None, 0.2, push_off_greedy="false")
    with pytest.raises(ValueError, match="deterministic='x' must be True or False"):
        ATLAAttack(None, 0.2, deterministic="x")
    with pytest.raises(TypeError, match="adversary must be a MAPPO model, its MAPPOPolicy or None, got str"):
        ATLAAttack("foo", 0.2)
    with pytest.raises(TypeError, match="director must be a QMIX model, its QMIXPolicy or None, got int"):
        PAADAttack(5, 0.2)
    with pytest.raises(TypeError, match=r"env must be a BatchedMultiAgentEnv \(e.g. make_env\('3m'\)\), got str"):
        PerturbationAdversaryEnv("3m", victim, 0.2)
    with pytest.raises(ValueError, match="attacked_agents=5 but the env has only 3 agents"):
        PerturbationAdversaryEnv(CueMatchingEnv(n_envs=4, n_agents=3, n_actions=4), victim, 0.2, 5)
    with pytest.raises(TypeError, match="model_or_path must be a QMIX-family model or the path of its file, got int"):
        train_attacker(5, kind="atla")
    with pytest.raises(ValueError, match="total_timesteps=-1 must be an integer >= 1"):
        train_attacker(victim, kind="atla", total_timesteps=-1)
    model = _mappo_on_three_agents()
    for bad in (-5, 1.5):
        with pytest.raises(ValueError, match=f"total_timesteps={bad} must be an integer >= 0"):
            model.learn(bad)


class _SuccessFlags(BaseCallback):
    """Collects (is_success, battle_won) of every episode end in the step infos."""

    def __init__(self) -> None:
        super().__init__()
        self.flags: list[tuple[bool, bool]] = []

    def _on_step(self) -> bool:
        ended = [(env, info) for env, info in enumerate(self.locals["infos"]) if "episode" in info]
        self.flags += [(info["is_success"], info["battle_won"]) for _, info in ended]
        for env, info in ended:  # SB3's names: new_obs (MAPPO's was next_obs) and terminal_observation
            assert torch.equal(torch.as_tensor(info["terminal_observation"]), self.locals["new_obs"][env].cpu())
        return True


def test_an_adversarys_success_is_its_victims_loss_and_it_dumps_logs_as_sb3_asks() -> None:
    """The adversary env's battle_won is the victim's win, so SB3's is_success of an adversary is its negation;
    LogEveryNTimesteps calls model.dump_logs(), which MAPPO lacked (an AttributeError)."""
    model, flags = _mappo_on_three_agents(), _SuccessFlags()
    recorder = _DumpRecorder()
    model.set_logger(recorder)
    model.learn(96, callback=[flags, LogEveryNTimesteps(n_steps=32)], log_interval=None)
    assert flags.flags and all(success is not won for success, won in flags.flags)
    assert len(recorder.dumped) >= 2  # every 32 steps, with log_interval=None


def test_mappos_action_space_is_the_adversary_envs() -> None:
    model = _mappo_on_three_agents()
    assert model.action_space == model.get_env().action_space
    assert model.observation_space == model.get_env().observation_space
    directions, _ = model.predict(model.observation_space.sample())
    assert model.action_space.contains(directions)


def test_the_directors_learn_settings_are_checked_with_the_models() -> None:
    """The zoo checks a model's check_learn_settings before training: a director whose batch exceeds its buffer was
    accepted there and failed at the first adversary phase."""
    model = make_model(PAADQMIX, adversary_kwargs={**ADVERSARY_KWARGS[PAADQMIX], "batch_size": 64, "buffer_size": 32})
    with pytest.raises(ValueError, match="batch_size=64 exceeds buffer_size=32"):
        model.check_learn_settings()


def test_train_attacker_refuses_an_adversary_as_victim_or_game_env(tmp_path: Path) -> None:
    """A saved PA-AD director (a team playing against its victim's) was attacked as a victim, and an adversary env
    taken as the game env flipped the reward's sign back."""
    from sb3_marl.adversaries import TargetActionAdversaryEnv

    director = make_model(PAADQMIX).adversary
    path = director.save(tmp_path / "director.zip")
    for model_or_path in (director, path):
        with pytest.raises(ValueError) as error:
            train_attacker(model_or_path, "paad", 0.2, total_timesteps=8, env=make_env())
        assert str(error.value) == (
            "model_or_path is a QMIXDirector model, a learned adversary (it plays against its victim's team): "
            "train_attacker attacks a QMIX-family team model"
        )
    victim = QMIX(make_env(), batch_size=4, seed=0, policy_kwargs={"rnn_hidden_dim": 8})
    with pytest.raises(TypeError) as error:
        train_attacker(victim, "paad", 0.2, total_timesteps=8, env=TargetActionAdversaryEnv(make_env(), victim, 0.2))
    assert str(error.value) == (
        "env is already an adversary env (TargetActionAdversaryEnv, whose reward is minus its victim team's); give "
        "the game env (its .env)"
    )


def test_train_attackers_env_arguments_are_checked_and_named() -> None:
    """env_kwargs holding what train_attacker sets were "make_env() got multiple values", a list "'list' object is not
    a mapping", env=5 "'int' object has no attribute 'n_envs'"; n_envs and device were ignored with an env instance."""
    victim = QMIX(make_env(), batch_size=4, seed=0, policy_kwargs={"rnn_hidden_dim": 8})
    for key, reason in (
        ("seed", "its seed argument"),
        ("n_envs", "its n_envs argument"),
        ("backend", "the victim's backend"),
        ("device", "the victim's device"),
        ("map_name", "its env argument (a map name; None: the victim's map)"),
    ):
        with pytest.raises(ValueError) as error:
            train_attacker(victim, "atla", 0.2, total_timesteps=8, env="3m", env_kwargs={key: 1})
        assert str(error.value) == f"env_kwargs[{key!r}] is set by train_attacker: {reason}"
    cases = (
        (
            {"env_kwargs": [("a", 1)]},
            ValueError,
            "env_kwargs=[('a', 1)] must be a mapping of settings (a dict) or None",
        ),
        ({"env": 5}, TypeError, "env=5 must be an env instance (a BatchedMultiAgentEnv), a map name or None"),
        ({"env": make_env(), "n_envs": "x"}, ValueError, "n_envs='x' must be an integer >= 1"),
        ({"env": make_env(), "n_envs": 0}, ValueError, "n_envs=0 must be an integer >= 1"),
        ({"env": make_env(), "device": "tpu"}, ValueError, "device='tpu' is not a torch device ('auto', 'cpu', "),
    )
    for kwargs, error_class, message in cases:
        with pytest.raises(error_class) as error:
            train_attacker(victim, "atla", 0.2, total_timesteps=8, **kwargs)
        assert str(error.value).startswith(message)


def test_mappos_policy_kwargs_are_named() -> None:
    """An unknown key was MAPPOPolicy.__init__'s TypeError (also as an ATLAQMIX adversary's, whose networks were built
    outside the adversary_kwargs prefix); optimizer_class="Adam" was blamed on optimizer_kwargs."""
    env = _mappo_on_three_agents().get_env()
    allowed = "allowed: ['net_arch', 'log_std_init', 'optimizer_class', 'optimizer_kwargs']"
    for policy_kwargs, message in (
        ({"bogus": 1}, f"policy_kwargs['bogus'] is not a MAPPOPolicy setting; {allowed}"),
        ({"learning_rate": 1.0}, "policy_kwargs['learning_rate'] is set by MAPPO's learning_rate argument, not "),
        ({"optimizer_class": "Adam"}, "optimizer_class='Adam' must be a torch.optim.Optimizer subclass (e.g. "),
    ):
        with pytest.raises(ValueError) as error:
            MAPPO(env, policy_kwargs=policy_kwargs)
        assert str(error.value).startswith(message)
    assert isinstance(MAPPO(env, policy_kwargs={"optimizer_class": "rmsprop"}).policy.optimizer, torch.optim.RMSprop)
    prefix = "adversary_kwargs (settings of ATLAQMIX's MAPPO adversary): "
    for policy_kwargs, message in (
        ({"bogus": 1}, f"policy_kwargs['bogus'] is not a MAPPOPolicy setting; {allowed}"),
        ({"net_arch": [0]}, "net_arch width=0 must be an integer >= 1"),
    ):
        with pytest.raises(ValueError) as error:
            make_model(ATLAQMIX, adversary_kwargs={**ADVERSARY_KWARGS[ATLAQMIX], "policy_kwargs": policy_kwargs})
        assert str(error.value) == prefix + message


def test_an_adversary_phase_needs_steps_and_a_bool_log() -> None:
    """train_adversary(0) counted as a phase (and restarted the victim's); log="no" was taken as True."""
    model = make_model(ATLAQMIX)
    with pytest.raises(ValueError) as error:
        model.train_adversary(0)
    assert str(error.value) == "total_timesteps=0 must be an integer >= 1"
    with pytest.raises(ValueError) as error:
        model.train_adversary(16, log="no")
    assert str(error.value) == "log='no' must be True or False"
    assert (model._n_adversary_phases, model.adversary.num_timesteps) == (0, 0)


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_loading_with_new_adversary_training_settings_keeps_its_networks(cls: type, tmp_path: Path) -> None:
    """adversary_kwargs with another learning rate were refused as "the saved networks have that architecture"."""
    model = make_model(cls)
    path = model.save(tmp_path / "model.zip")
    settings = {**ADVERSARY_KWARGS[cls], "learning_rate": 1e-5, "gamma": 0.5}
    loaded = cls.load(path, env=make_env(1), adversary_kwargs=settings)
    assert loaded.adversary_kwargs == settings
    assert (loaded.adversary.lr_schedule(1.0), loaded.adversary.gamma) == (1e-5, 0.5)
    assert loaded.adversary.get_env() is not None and loaded.attack._adversary_policy() is loaded.adversary.policy
    for key, value in model.adversary.policy.state_dict().items():
        assert torch.equal(value, loaded.adversary.policy.state_dict()[key]), key
    architecture = ("policy_kwargs", {"net_arch": [8]}) if cls is ATLAQMIX else ("mixer", "vdn")
    with pytest.raises(ValueError) as error:
        cls.load(path, adversary_kwargs={**settings, architecture[0]: architecture[1]})
    saved = "{}" if cls is ATLAQMIX else "'qmix'"
    assert str(error.value) == (
        f"adversary_kwargs[{architecture[0]!r}]={architecture[1]!r} differs from the saved adversary's "
        f"{architecture[0]}={saved} of {path}: the saved adversary networks have that architecture; load without "
        "overriding it (the other adversary_kwargs may change)"
    )


def test_mappo_predict_names_observations_that_are_no_numbers() -> None:
    """None, a string and a ragged list failed inside torch ("must be real number, not NoneType", ...)."""
    model = _mappo_on_three_agents()
    expected = f"expected float32 of shape (3, {model.env_shapes['obs_shape']}) or (batch, 3, "
    for observation, error_class, message in (
        (None, TypeError, "observation=None is not an array of numbers (dtype object): "),
        ("abc", TypeError, "observation='abc' is not an array of numbers (dtype <U3): "),
        ([[1.0, 2.0], [3.0]], ValueError, "observation is a ragged sequence (its rows differ in length): "),
    ):
        with pytest.raises(error_class) as error:
            model.predict(observation)
        assert str(error.value).startswith(message + expected)


@pytest.mark.parametrize("cls", [ATLAQMIX, PAADQMIX])
def test_an_adversary_seed_of_its_own_is_kept_and_saved(cls: type, tmp_path: Path) -> None:
    """adversary_kwargs={'seed': 7} chose the adversary's seed before this session's checks refused it, so files
    saved with it no longer loaded."""
    model = make_model(cls, adversary_kwargs={**ADVERSARY_KWARGS[cls], "seed": 7})
    assert model.adversary.seed == 7
    assert cls.load(model.save(tmp_path / "model"), env=make_env()).adversary.seed == 7


def test_train_attacker_names_director_settings_that_do_not_fit_as_adversary_kwargs() -> None:
    """The director's learn-time check printed a bare "batch_size=64 exceeds buffer_size=8", as if of the victim."""
    victim = QMIX(make_env(), batch_size=4, seed=0, policy_kwargs={"rnn_hidden_dim": 8})
    with pytest.raises(
        ValueError, match=r"^adversary_kwargs \(settings of train_attacker's QMIXDirector adversary\): "
    ):
        train_attacker(
            victim,
            "paad",
            0.2,
            total_timesteps=8,
            env=make_env(),
            adversary_kwargs={"batch_size": 64, "buffer_size": 8},
        )
