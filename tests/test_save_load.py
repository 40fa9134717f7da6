"""Model files: identical predictions after load, resume state, default path, clear errors, no pickle."""

import copy
import io
import json
import traceback
import warnings
import zipfile

import numpy as np
import pytest
import torch

from sb3_marl.common.save_util import load_from_zip_file
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.policies.qmix_policy import QMIXPolicy
from sb3_marl.qmix import QMIX
from sb3_marl.version import __version__
from tests.helpers import rewrite_data


@pytest.fixture
def trained(tmp_path) -> QMIX:
    model = QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=4, optimizer_class="adam", device="cpu")
    return model.learn(200)


def _rollout_actions(model: QMIX) -> np.ndarray:
    obs = np.random.default_rng(0).random((6, 2, 3)).astype(np.float32)
    state, out = None, []
    for t in range(6):
        actions, state = model.predict(obs[t], state=state)
        out.append(actions)
    return np.stack(out)


def test_save_load_gives_identical_predictions(trained, tmp_path):
    path = trained.save(tmp_path / "sub" / "model")
    assert path.name == "model.zip" and path.exists()
    loaded = QMIX.load(path)  # no env: predict-only
    assert loaded.get_env() is None
    np.testing.assert_array_equal(_rollout_actions(trained), _rollout_actions(loaded))
    for (name, a), b in zip(trained.policy.state_dict().items(), loaded.policy.state_dict().values()):
        assert torch.equal(a, b), name
    assert loaded.num_timesteps == trained.num_timesteps and loaded._n_updates == trained._n_updates
    assert loaded.optimizer_class == "adam"
    saved_state = trained.policy.optimizer.state_dict()["state"]
    loaded_state = loaded.policy.optimizer.state_dict()["state"]
    assert loaded_state.keys() == saved_state.keys()
    for index, moments in saved_state.items():  # Adam resumes from the same moments and step counts
        for key, value in moments.items():
            assert torch.equal(loaded_state[index][key], value), (index, key)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        data = json.loads(archive.read("data"))
    assert {"data", "policy.pth", "policy.optimizer.pth", "sb3_marl_version", "system_info.txt"} <= names
    assert data["class"] == "QMIX" and data["kwargs"]["batch_size"] == 4


def test_file_objects_save_and_load_as_paths_do(trained):
    """Stable-Baselines3 saves to and loads from open binary files (e.g. ``io.BytesIO``), which stay open."""
    stream = io.BytesIO()
    assert trained.save(stream) is stream and not stream.closed
    stream.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        loaded = QMIX.load(stream)
    np.testing.assert_array_equal(_rollout_actions(trained), _rollout_actions(loaded))
    with pytest.raises(ValueError, match="not a valid sb3-marl model file"):
        QMIX.load(io.BytesIO(b"not a zip"))


def test_save_exclude_and_include_name_settings_and_counters(trained, tmp_path):
    path = trained.save(tmp_path / "model.zip", exclude=["batch_size", "num_timesteps"], include=["gamma"])
    loaded = QMIX.load(path)
    assert trained.batch_size == 4 and loaded.batch_size == 32  # left out: the constructor's default
    assert loaded.num_timesteps == 0 < trained.num_timesteps and loaded.n_envs == trained.n_envs
    both = QMIX.load(trained.save(tmp_path / "both.zip", exclude=["batch_size"], include=["batch_size"]))
    assert both.batch_size == 4  # a name in both is saved, as in Stable-Baselines3 (include was ignored)
    with pytest.raises(ValueError, match=r"exclude=\['policy_kwargs'\]: these settings shape the saved networks"):
        trained.save(tmp_path / "bad.zip", exclude=["policy_kwargs"])
    with pytest.raises(ValueError, match=r"include=\['replay_buffer'\]: not settings or counters .*never saved"):
        trained.save(tmp_path / "bad.zip", include=["replay_buffer"])
    assert not (tmp_path / "bad.zip").exists()


def test_policy_alone_saves_loads_and_predicts_as_the_model(trained, tmp_path):
    """SB3's policy-only files: the networks and their sizes, no optimizer state or training settings."""
    path = trained.policy.save(tmp_path / "policy")
    assert path.name == "policy.zip"
    policy = QMIXPolicy.load(path)
    assert isinstance(policy.optimizer, torch.optim.Adam) and not policy.optimizer.state
    obs = np.random.default_rng(1).random((4, 2, 3)).astype(np.float32)
    state, model_state = None, None
    for t in range(4):
        actions, state = policy.predict(obs[t], state=state)
        model_actions, model_state = trained.predict(obs[t], state=model_state)
        np.testing.assert_array_equal(actions, model_actions)
    with pytest.raises(ValueError, match="is not a QMIXPolicy file .*'QMIX'.*algorithm's load"):
        QMIXPolicy.load(trained.save(tmp_path / "model"))


def test_a_policy_file_given_to_the_algorithms_load_says_to_load_it_with_the_policy(trained, tmp_path):
    """Was "is not an sb3-marl model file: its settings lack a valid ['env_shapes', 'counters']"."""
    path = trained.policy.save(tmp_path / "policy")
    message = (
        r"policy.zip is a policy file, written by QMIXPolicy.save \(the networks without the model's settings and "
        r"counters\): load it with QMIXPolicy.load\(path\); QMIX.load reads the files that model.save\(\) writes"
    )
    with pytest.raises(ValueError, match=message):
        QMIX.load(path)


def test_weights_that_are_nan_or_inf_are_warned_about_after_load(trained, tmp_path):
    """The model of a diverged training loaded silently, and acted on garbage."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QMIX.load(trained.save(tmp_path / "finite.zip"))
    with torch.no_grad():
        trained.policy.mixer.hyper_b1.bias[0] = float("inf")
        trained.policy.agent_target.fc1.weight[0, 0] = float("nan")  # later in the state dict
    path = trained.save(tmp_path / "diverged.zip")
    message = (
        r"diverged.zip holds network weights that are NaN or inf, first policy\['mixer.hyper_b1.bias'\]: the "
        r"training that saved it diverged, and the model's actions mean nothing"
    )
    with pytest.warns(UserWarning, match=message):
        QMIX.load(path)
    with pytest.warns(UserWarning, match=message):
        trained.set_parameters(path)


def test_load_prints_both_system_infos_on_request(trained, tmp_path, capsys):
    path = trained.save(tmp_path / "model.zip")
    QMIX.load(path)
    assert capsys.readouterr().out == ""
    QMIX.load(path, print_system_info=True)
    out = capsys.readouterr().out
    assert "== CURRENT SYSTEM INFO ==" in out and "== SAVED MODEL SYSTEM INFO ==" in out
    assert out.count(f"PyTorch: {torch.__version__}") == 2
    assert out.count(f"- sb3-marl: {__version__}") == 2  # this machine's and the file's (SB3's info lacks it)
    with zipfile.ZipFile(path) as archive:
        assert archive.read("system_info.txt").decode().startswith(f"- sb3-marl: {__version__}\n")


def test_loaded_model_resumes_training(trained, tmp_path):
    path = trained.save(tmp_path / "model.zip")
    assert trained.save_replay_buffer(tmp_path / "rb") == tmp_path / "rb.pkl"  # Stable-Baselines3's suffix
    loaded = QMIX.load(path, env=CueMatchingEnv(n_envs=3, seed=1))
    loaded.load_replay_buffer(tmp_path / "rb")
    assert len(loaded.replay_buffer) == len(trained.replay_buffer)
    (tmp_path / "rb.pkl").rename(tmp_path / "rb.pt")  # the suffix files had before
    loaded.load_replay_buffer(tmp_path / "rb")
    assert len(loaded.replay_buffer) == len(trained.replay_buffer)
    steps, updates = loaded.num_timesteps, loaded._n_updates
    assert updates == trained._n_updates > 0
    loaded.learn(30, reset_num_timesteps=False)
    assert loaded.num_timesteps >= steps + 30 and loaded.n_envs == 3
    assert loaded._n_updates > updates  # it trained on the loaded buffer, counting on from the saved updates


def test_load_takes_stable_baselines3s_force_reset_flag(trained, tmp_path):
    """Episodes in progress are not saved: the loaded model starts fresh ones, so only ``force_reset=True`` is
    possible."""
    path = trained.save(tmp_path / "model.zip")
    loaded = QMIX.load(path, env=CueMatchingEnv(n_envs=2, seed=1), force_reset=True)
    assert loaded.learn(10, reset_num_timesteps=False).num_timesteps >= trained.num_timesteps + 10
    with pytest.raises(ValueError, match="force_reset=False: .*always starts fresh episodes"):
        QMIX.load(path, force_reset=False)


def test_replay_buffer_files_take_stable_baselines3s_arguments(trained, tmp_path):
    path = trained.save_replay_buffer(tmp_path / "rb")
    n_stored = trained.replay_buffer.n_stored
    before = {name: tensor[:n_stored].clone() for name, tensor in trained.replay_buffer.data.items()}
    trained.load_replay_buffer(path, truncate_last_traj=False)  # only whole episodes are stored: nothing to cut
    assert trained.replay_buffer.n_stored == n_stored > 0
    for name, stored in before.items():  # the episodes stored (rows past n_stored are never read)
        assert torch.equal(trained.replay_buffer.data[name][:n_stored], stored), name
    with pytest.raises(FileNotFoundError, match=r"No replay buffer file .*missing \(nor with .pkl or .pt\)"):
        trained.load_replay_buffer(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="rb.backup"):  # a name with a suffix is that file: not rb.pkl
        trained.load_replay_buffer(tmp_path / "rb.backup")


def test_a_replay_buffer_of_other_episode_lengths_is_refused_naming_them(tmp_path):
    """The error printed the two (equal) field lists when only the episode length differed."""
    short = QMIX(CueMatchingEnv(n_envs=2, episode_limit=5, seed=0), seed=0, batch_size=4).learn(20)
    path = short.save_replay_buffer(tmp_path / "rb")
    longer = QMIX(CueMatchingEnv(n_envs=2, episode_limit=6, seed=0), seed=0, batch_size=4)
    message = r"stores episodes of up to 6 steps; this model stores 7 \(episode_limit 6, plus the final observation\)"
    with pytest.raises(ValueError, match=message):
        longer.load_replay_buffer(path)
    assert longer.replay_buffer is None  # nothing replaced (built at the first learn)


def test_default_path_and_overrides(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = trained.save()
    assert path == tmp_path / "qmix_cue_matching.zip"
    loaded = QMIX.load(path, custom_objects={"buffer_size": 1}, gamma=0.5)
    assert loaded.buffer_size == 1 and loaded.gamma == 0.5


def test_a_robust_variants_load_of_a_qmix_file_says_how_to_start_from_it(trained, tmp_path):
    from sb3_marl.robust import ATLAQMIX

    path = trained.save(tmp_path / "model.zip")
    with pytest.raises(ValueError, match=r"holds a QMIX model, which is no ATLAQMIX: load it with QMIX.load .*"):
        ATLAQMIX.load(path)  # said "import the module that defines it", though QMIX was imported


def test_load_overrides_must_be_settings_that_keep_the_networks(trained, tmp_path):
    path = trained.save(tmp_path / "model.zip")
    with pytest.raises(ValueError, match=r"\['lr_schedule'\].*'learning_rate'.*\(Stable-Baselines3's lr_schedule is "):
        QMIX.load(path, custom_objects={"lr_schedule": lambda _: 0.0})  # what RL Zoo's enjoy passes
    with pytest.raises(ValueError, match="policy_kwargs=.*rnn_hidden_dim.*128"):
        QMIX.load(path, policy_kwargs={"rnn_hidden_dim": 128})
    with pytest.raises(ValueError, match="mixer='vdn' differs"):
        QMIX.load(path, custom_objects={"mixer": "vdn"})
    assert QMIX.load(path, mixer=trained.mixer).mixer == trained.mixer  # the saved value itself is fine


def test_the_saved_optimizer_state_keeps_its_class_and_settings(trained, tmp_path):
    """The file's optimizer state belongs to its optimizer (Stable-Baselines3 refuses changes to ``policy_kwargs``,
    which hold its optimizer settings): other settings are refused at load, another optimizer's state by
    ``set_parameters``, which then leaves the model as it was."""
    path = trained.save(tmp_path / "model.zip")
    with pytest.raises(ValueError, match="optimizer_class='rmsprop' differs from the saved optimizer_class='adam'"):
        QMIX.load(path, optimizer_class="rmsprop")
    with pytest.raises(ValueError, match="optimizer_kwargs=.*weight_decay.*differs"):
        QMIX.load(path, optimizer_kwargs={"eps": 0.1, "weight_decay": 0.5})
    other = QMIX(CueMatchingEnv(n_envs=2, seed=0), optimizer_class="rmsprop", seed=1, device="cpu").learn(60)
    before = copy.deepcopy(other.get_parameters())
    with pytest.raises(ValueError, match=r"policy.optimizer: the saved state is not that of a RMSprop .*\['alpha'"):
        other.set_parameters(path)
    after = other.get_parameters()
    assert all(torch.equal(before["policy"][key], value) for key, value in after["policy"].items())
    assert after["policy.optimizer"]["param_groups"] == before["policy.optimizer"]["param_groups"]
    other.learn(30)  # the optimizer still steps


def test_rl_zoos_enjoy_overrides_load(trained, tmp_path):
    """RL Zoo's enjoy loads with a zero learning rate; integer settings may come as YAML floats or numpy integers."""
    path = trained.save(tmp_path / "model.zip")
    loaded = QMIX.load(path, custom_objects={"learning_rate": 0.0, "buffer_size": 64.0, "batch_size": np.int64(4)})
    assert loaded.lr_schedule(1.0) == 0.0 and type(loaded.buffer_size) is int and type(loaded.batch_size) is int
    loaded.set_env(CueMatchingEnv(n_envs=2, seed=0))
    weights = copy.deepcopy(loaded.policy.agent.state_dict())
    updates = loaded._n_updates
    loaded.learn(30)
    assert loaded._n_updates > updates  # gradient steps ran, and moved nothing
    assert all(torch.equal(weights[key], value) for key, value in loaded.policy.agent.state_dict().items())
    loaded.save(tmp_path / "again.zip")  # settings stay JSON-serializable


def test_a_file_saved_before_a_setting_existed_takes_it_as_an_override(trained, tmp_path):
    old = tmp_path / "old.zip"  # as written before soft target updates existed
    rewrite_data(trained.save(tmp_path / "model.zip"), old, lambda data: _without_setting(data, "tau"))
    assert QMIX.load(old).tau == 1.0 and QMIX.load(old, tau=0.5).tau == 0.5


def test_a_file_older_than_an_architecture_setting_compares_an_override_with_its_default(trained, tmp_path):
    """A file saved before weight_averages existed, loaded with weight_averages=[0.1], failed in set_parameters
    with "Parameter names ... do not match" (the file has no averages to load)."""
    older = tmp_path / "older.zip"
    rewrite_data(trained.save(tmp_path / "model.zip"), older, lambda data: _without_setting(data, "weight_averages"))
    with pytest.raises(ValueError, match=r"predates the setting weight_averages, so its networks have the default "):
        QMIX.load(older, weight_averages=[0.1])
    assert QMIX.load(older, weight_averages=[]).agent_averages is None
    oldest = tmp_path / "oldest.zip"
    rewrite_data(older, oldest, lambda data: _without_setting(data, "policy_kwargs"))
    assert QMIX.load(oldest, policy_kwargs={}).policy_kwargs == {}  # None and {}: one setting


def test_loading_a_name_beside_a_folder_of_that_name(trained, tmp_path):
    """The zoo writes ``<run>/<map>.zip`` beside a ``<run>/<map>/`` folder; ``load("<run>/<map>")`` means the zip."""
    path = trained.save(tmp_path / "3m.zip")
    (tmp_path / "3m").mkdir()
    assert QMIX.load(tmp_path / "3m").num_timesteps == trained.num_timesteps
    path.unlink()
    with pytest.raises(FileNotFoundError, match="a folder, not a model file"):
        QMIX.load(tmp_path / "3m")


def test_loading_onto_other_shapes_fails_clearly(trained, tmp_path):
    path = trained.save(tmp_path / "model.zip")
    with pytest.raises(ValueError, match=r"'obs_shape': 4.*'obs_shape': 3"):
        QMIX.load(path, env=CueMatchingEnv(n_agents=2, n_actions=5))


def test_corrupt_and_truncated_files_fail_clearly(trained, tmp_path):
    path = trained.save(tmp_path / "model.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.zip"):
        QMIX.load(truncated)
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"hello")
    with pytest.raises(ValueError, match="garbage.zip"):
        QMIX.load(garbage)
    with pytest.raises(FileNotFoundError, match="missing"):
        QMIX.load(tmp_path / "missing.zip")


def test_settings_can_be_read_without_the_tensors(trained, tmp_path):
    """The zoo looks up a model's settings and counters without reading its networks."""
    path = trained.save(tmp_path / "model.zip")
    data, params = load_from_zip_file(path)
    settings_only, no_params = load_from_zip_file(path, load_params=False)
    assert settings_only == data and no_params == {} and "policy" in params
    broken = tmp_path / "broken_tensors.zip"  # the same settings, a policy member that is no tensor file
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for member in source.namelist():
            target.writestr(member, b"not a tensor" if member == "policy.pth" else source.read(member))
    assert load_from_zip_file(broken, load_params=False)[0] == data
    with pytest.raises(ValueError, match="broken_tensors.zip"):
        load_from_zip_file(broken)


def test_pickled_payload_is_refused(trained, tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(trained.save(tmp_path / "model.zip")) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            if name == "policy.pth":
                with dst.open(name, "w") as member:
                    torch.save({"x": Evil()}, member)
            else:
                dst.writestr(name, src.read(name))
    with pytest.raises(ValueError, match="evil.zip") as refused:
        QMIX.load(path, print_system_info=False)
    # the member and torch's reason are named; torch's advice to reload with weights_only=False (running the
    # file's code) is not passed on
    message = "".join(traceback.format_exception(refused.value))
    assert "member 'policy.pth' is refused by torch's weights-only reader (Unsupported global: GLOBAL" in message
    assert "weights_only` set to `False`" not in message


def test_set_parameters_checks_names(trained, tmp_path):
    params = trained.get_parameters()
    other = QMIX(CueMatchingEnv(), seed=1, optimizer_class="adam", device="cpu")
    other.set_parameters(params)
    np.testing.assert_array_equal(_rollout_actions(trained), _rollout_actions(other))
    with pytest.raises(ValueError, match="do not match"):
        other.set_parameters({"policy": params["policy"]})
    path = trained.save(tmp_path / "model.zip")
    fresh = QMIX(CueMatchingEnv(), seed=2, optimizer_class="adam", device="cpu")
    fresh.set_parameters(path, device="cpu")  # Stable-Baselines3's signature
    np.testing.assert_array_equal(_rollout_actions(trained), _rollout_actions(fresh))


def test_set_parameters_refuses_unknown_names_and_changes_nothing(trained):
    other = QMIX(CueMatchingEnv(), seed=1, optimizer_class="adam", device="cpu")
    before = copy.deepcopy(other.get_parameters()["policy"])
    for name in ("nonexistent", "gamma"):  # an attribute that holds no state dict is no parameter name either
        params = {**trained.get_parameters(), name: {}}
        with pytest.raises(ValueError, match=rf"'{name}' is not part of this model; the names are \['policy'"):
            other.set_parameters(params, exact_match=False)
    assert all(torch.equal(before[key], value) for key, value in other.get_parameters()["policy"].items())


def test_set_parameters_from_a_file_of_another_architecture_names_the_file_and_the_setting(trained, tmp_path):
    """torch's bare RuntimeError named neither the file nor the setting that differs."""
    small = QMIX(CueMatchingEnv(), policy_kwargs={"rnn_hidden_dim": 8}, optimizer_class="adam", device="cpu")
    path = small.save(tmp_path / "small")
    before = copy.deepcopy(trained.get_parameters()["policy"])
    message = (
        r"(?s)Cannot load the parameters of .*small.zip into this QMIX: .*size mismatch for agent.fc1.weight.* \(the "
        r"file has policy_kwargs=\{'rnn_hidden_dim': 8\}; this model policy_kwargs=\{\}\)"
    )
    with pytest.raises(ValueError, match=message):
        trained.set_parameters(path)
    assert all(torch.equal(before[key], value) for key, value in trained.get_parameters()["policy"].items())
    with pytest.raises(ValueError, match=r"Cannot load the parameters of the given state dicts into this QMIX"):
        trained.set_parameters(QMIX.load(path).get_parameters())
    # load() of a file whose settings do not fit its tensors names the file (it said "the given state dicts")
    edited = tmp_path / "edited.zip"
    rewrite_data(path, edited, lambda data: {**data, "kwargs": {**data["kwargs"], "policy_kwargs": {}}})
    with pytest.raises(ValueError, match=r"(?s)Cannot load the parameters of .*edited.zip into this QMIX: .*size"):
        QMIX.load(edited)


def _without_setting(data: dict, name: str) -> dict:
    """A model file's JSON settings as written before the setting ``name`` existed."""
    return {**data, "kwargs": {key: value for key, value in data["kwargs"].items() if key != name}}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda data: [1, 2], r"not an sb3-marl model file: its settings lack a valid \['class', 'kwargs'"),
        (lambda data: {"class": "QMIX"}, r"lack a valid \['kwargs', 'env_shapes', 'counters'\]"),
        (lambda data: {**data, "counters": {**data["counters"], "policy": 1}}, r"counters \['policy'\] that QMIX"),
        (lambda data: {**data, "class": "Unknown"}, "holds a 'Unknown' model, which QMIX.load cannot build"),
        (  # was a bare KeyError
            lambda data: {**data, "env_shapes": {k: v for k, v in data["env_shapes"].items() if k != "state_shape"}},
            r"bad.zip is not a valid sb3-marl model file: env_shapes\['state_shape'\]=None must be an integer >= 1",
        ),
        (
            lambda data: {**data, "counters": {**data["counters"], "num_timesteps": "abc"}},
            r"bad.zip is not a valid model file: its counter num_timesteps='abc' is not a int",
        ),
        (
            lambda data: {**data, "counters": {**data["counters"], "exploration_rate": None}},
            "its counter exploration_rate=None is not a float",
        ),
        (
            lambda data: {**data, "counters": {**data["counters"], "recent_episodes": [{"r": "a"}]}},
            "its counter recent_episodes=.* is not a list",
        ),
        (
            lambda data: {**data, "kwargs": {**data["kwargs"], "new_setting": 1}, "sb3_marl_version": "9.9"},
            r"holds settings \['new_setting'\] that QMIX of sb3-marl .* does not have \(the file was written by "
            r"sb3-marl 9.9\)",
        ),
    ],
)
def test_a_valid_zip_with_malformed_settings_fails_clearly(trained, tmp_path, edit, message):
    bad = tmp_path / "bad.zip"
    rewrite_data(trained.save(tmp_path / "model.zip"), bad, edit)
    with pytest.raises(ValueError, match=message):
        QMIX.load(bad)


def test_load_builds_the_class_the_file_names_even_beside_a_namesake(trained, tmp_path):
    """A user's subclass that reuses a library class's name must not take over that class's files."""
    path = trained.save(tmp_path / "model.zip")

    class QMIX_(QMIX):
        pass

    QMIX_.__name__ = "QMIX"
    assert type(QMIX.load(path)) is QMIX
    assert type(QMIX_.load(path)) is QMIX_


def test_an_override_equal_to_the_saved_value_is_accepted_as_python_gives_it(tmp_path):
    """JSON gives tuples back as lists: ``betas=(0.9, 0.99)`` equals the saved ``[0.9, 0.99]``."""
    kwargs = {"optimizer_class": "adam", "optimizer_kwargs": {"betas": (0.9, 0.99)}}
    path = QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, device="cpu", **kwargs).save(tmp_path / "model.zip")
    assert list(QMIX.load(path, **kwargs).optimizer_kwargs["betas"]) == [0.9, 0.99]


def test_numpy_scalar_settings_are_stored_as_python_numbers(tmp_path):
    """Settings from numpy (``np.float32(0.99)``) are accepted and saved: the file's settings are JSON."""
    model = QMIX(
        CueMatchingEnv(n_envs=2, seed=0),
        gamma=np.float32(0.9),
        learning_rate=np.float32(1e-3),
        max_grad_norm=np.float64(5),
        td_lambda=np.float32(0.5),
        double_q=np.bool_(True),
        seed=np.int64(3),
        verbose=np.int64(0),
        stats_window_size=np.int32(10),
        device="cpu",
    )
    settings = model._constructor_parameters()
    kinds = {name: type(settings[name]) for name in ("gamma", "learning_rate", "max_grad_norm", "td_lambda")}
    assert kinds == dict.fromkeys(kinds, float) and type(model.double_q) is bool and type(model.seed) is int
    assert type(model.verbose) is int and type(model.stats_window_size) is int
    loaded = QMIX.load(model.learn(30).save(tmp_path / "model.zip"))
    assert loaded.gamma == pytest.approx(0.9) and loaded.seed == 3


def test_numpy_scalars_inside_nested_settings_are_stored_as_python_numbers(tmp_path):
    """``optimizer_kwargs`` / ``policy_kwargs`` / ``env_kwargs`` are written to the file's JSON too: numpy scalars in
    them become Python numbers, and what JSON cannot hold is refused when the model is built, not by its first save."""
    model = QMIX(
        CueMatchingEnv(n_envs=2, seed=0),
        optimizer_class="adam",
        optimizer_kwargs={"eps": np.float32(1e-5), "betas": (np.float64(0.9), 0.99)},
        policy_kwargs={"rnn_hidden_dim": np.int64(16)},
        device="cpu",
    )
    assert type(model.optimizer_kwargs["eps"]) is float and type(model.policy_kwargs["rnn_hidden_dim"]) is int
    loaded = QMIX.load(model.save(tmp_path / "model.zip"))
    assert loaded.policy.hidden_dim == 16 and loaded.optimizer_kwargs["betas"] == [0.9, 0.99]
    with pytest.raises(ValueError, match=r"optimizer_kwargs=.*cannot be saved with the model \(Object of type ndarray"):
        QMIX(CueMatchingEnv(n_envs=2, seed=0), optimizer_kwargs={"eps": np.array([1e-5])}, device="cpu")
    with pytest.raises(ValueError, match=r"env_kwargs=\[1\] must be a mapping of settings"):
        QMIX("3m", env_kwargs=[1], device="cpu")


@pytest.mark.parametrize(
    ("policy_kwargs", "message"),
    [
        ({"obs_last_action": "no"}, "obs_last_action='no' must be True or False"),
        ({"rnn_hidden_dim": 0}, "rnn_hidden_dim=0 must be an integer >= 1"),
        ({"mixing_embed_dim": 8.5}, "mixing_embed_dim=8.5 must be an integer >= 1"),
    ],
)
def test_bad_network_settings_fail_clearly(policy_kwargs, message):
    with pytest.raises(ValueError, match=message):
        QMIX(CueMatchingEnv(n_envs=2, seed=0), policy_kwargs=policy_kwargs, device="cpu")


def test_a_loaded_replay_buffer_brings_its_capacity(trained, tmp_path):
    """Stable-Baselines3's loaded buffer keeps its own size: the model takes it as buffer_size (it kept saying
    5000 while holding at most the file's capacity), and a capacity below batch_size, with which training would
    never start, is refused before anything is replaced."""
    small = QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=4, buffer_size=6, device="cpu").learn(100)
    path = small.save_replay_buffer(tmp_path / "rb")
    assert len(small.replay_buffer) == 6
    with pytest.warns(UserWarning, match=r"holds up to 6 episodes: buffer_size is now 6 \(was 5000\)"):
        trained.load_replay_buffer(path)
    assert trained.buffer_size == 6 and trained.replay_buffer.capacity == 6
    updates = trained._n_updates
    trained.learn(40, reset_num_timesteps=False)
    assert trained._n_updates > updates and len(trained.replay_buffer) == 6
    other = QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=8, device="cpu").learn(20)
    before = other.replay_buffer
    with pytest.raises(ValueError, match=r"holds at most 6 episodes, fewer than batch_size=8: training would never"):
        other.load_replay_buffer(path)
    assert other.replay_buffer is before and other.buffer_size == 5000


def test_a_model_given_an_env_instance_records_the_game_it_trains_in(tmp_path):
    """A model built on an env instance (as zoo/train.py and bench_qmix build it) saves the instance's game settings,
    so that loading it with a map name builds that game; before, it saved none and the map's plain game was built."""
    from sb3_marl.envs import make_env

    settings = {"obs_last_action": True, "reward_sparse": True}
    model = QMIX(make_env("3m", n_envs=2, seed=0, **settings), seed=0, batch_size=4, buffer_size=8, device="cpu")
    assert model.env_kwargs == settings
    path = model.save(tmp_path / "model")
    loaded = QMIX.load(path, env="3m")  # built from the map name with the recorded settings (other shapes otherwise)
    assert loaded.get_env().env_kwargs == settings
    assert loaded.get_env().obs_shape == model.get_env().obs_shape


def test_the_recorded_game_follows_the_attached_env_and_keeps_the_run_time_settings():
    """The model's env settings are those of the env it trains in, without the keywords that change how a game runs
    or is recorded (``compile``, SC2's replays), which stay the model's own."""
    from sb3_marl.envs import make_env

    model = QMIX("3m", n_envs=1, env_kwargs={"compile": False, "reward_scale_rate": 10}, seed=0, device="cpu")
    assert model.get_env().env_kwargs == {"reward_scale_rate": 10}
    model.set_env(make_env("3m", n_envs=1, seed=1, reward_sparse=True, replay_dir="replays"))
    assert model.env_kwargs == {"reward_sparse": True, "compile": False}


def test_a_model_trained_on_starcraft_ii_records_its_backend(tmp_path):
    from sb3_marl.envs.sc2_backend import SC2BatchedEnv
    from sb3_marl.envs.smac_compat import StarCraft2SimEnv  # SMAC's API over the simulator: no game needed

    with SC2BatchedEnv("3m", seed=0, env_factory=StarCraft2SimEnv, reward_sparse=True, replay_dir="r") as env:
        model = QMIX(env, seed=0, batch_size=4, buffer_size=8, device="cpu")
        assert (model.backend, model.env_kwargs) == ("sc2", {"reward_sparse": True})
        loaded = QMIX.load(model.save(tmp_path / "model"))
    assert (loaded.backend, loaded.env_kwargs) == ("sc2", {"reward_sparse": True})


def test_backend_and_n_envs_that_contradict_the_env_instance_are_refused(tmp_path):
    """Both were ignored with an env instance (the model took the instance's), load's overrides skipped the check,
    and an unknown backend was stored until an env was built from it."""
    from sb3_marl.envs import make_env
    from sb3_marl.envs.sc2_backend import SC2BatchedEnv
    from sb3_marl.envs.smac_compat import StarCraft2SimEnv

    with pytest.raises(ValueError, match=r"backend='junk' is not one of \('sim', 'sc2'\)"):
        QMIX(None, backend="junk", _init_setup_model=False)
    message = r"backend='sc2', but the env instance given was built with backend='sim'"
    with pytest.raises(ValueError, match=message):
        QMIX(make_env("3m", n_envs=2, seed=0), backend="sc2")
    with SC2BatchedEnv("3m", seed=0, env_factory=StarCraft2SimEnv) as env:
        assert QMIX(env, batch_size=4, buffer_size=8, device="cpu").backend == "sc2"  # no backend given: the env's
    model = QMIX(make_env("3m", n_envs=2, seed=0), backend="sim", seed=0, batch_size=4, device="cpu")
    path = model.save(tmp_path / "model")
    with pytest.raises(ValueError, match=r"n_envs=4, but the env instance given steps 2 episodes at once"):
        QMIX.load(path, env=make_env("3m", n_envs=2, seed=1), n_envs=4)
    with pytest.raises(ValueError, match=message):
        QMIX.load(path, env=make_env("3m", n_envs=2, seed=1), backend="sc2")
    assert QMIX.load(path, env=make_env("3m", n_envs=2, seed=1), n_envs=2).n_envs == 2


def test_env_kwargs_that_contradict_the_env_instance_are_refused(tmp_path):
    """They were ignored: ``env_kwargs`` build envs from a map name. Those the instance has, and run-time ones, pass."""
    from sb3_marl.envs import make_env

    env = make_env("3m", n_envs=1, seed=0, reward_sparse=True, reward_win=50)
    message = r"env_kwargs \{'reward_sparse': False\} are not settings the env instance was built with"
    with pytest.raises(ValueError, match=message):
        QMIX(env, env_kwargs={"reward_sparse": False, "reward_win": 50}, device="cpu")
    with pytest.raises(ValueError, match=r"env_kwargs \{'obs_last_action': True\} are not settings"):
        QMIX(env, env_kwargs={"obs_last_action": True}, device="cpu")
    model = QMIX(env, env_kwargs={"reward_sparse": True, "compile": True}, device="cpu")
    assert model.env_kwargs == {"reward_sparse": True, "reward_win": 50, "compile": True}
    path = model.save(tmp_path / "model")
    with pytest.raises(ValueError, match=message):
        QMIX.load(path, env=env, env_kwargs={"reward_sparse": False})
    assert QMIX.load(path, env=env, env_kwargs={"reward_win": 50}).env_kwargs == {
        "reward_sparse": True,
        "reward_win": 50,
    }


def test_a_deflated_member_that_does_not_inflate_fails_clearly(trained, tmp_path):
    """Zip tools deflate members; a corrupt deflated tensor file raised zlib.error, not the clear ValueError."""
    path = trained.save(tmp_path / "model.zip")
    deflated = tmp_path / "deflated.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    QMIX.load(deflated)  # a deflated model file loads
    raw = bytearray(deflated.read_bytes())
    with zipfile.ZipFile(deflated) as archive:
        info = archive.getinfo("policy.pth")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start : start + 64] = bytes(64)  # the member's compressed stream, zeroed
    deflated.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="deflated.zip is not a valid sb3-marl model file"):
        QMIX.load(deflated)


def test_a_zip_suffix_in_capitals_is_kept(trained, tmp_path):
    assert trained.save(tmp_path / "model.ZIP").name == "model.ZIP"


def test_training_position_survives_save_and_load(tmp_path):
    """train() right after load (offline fine-tuning) uses the schedules where training stopped: the learning rate
    at the end of a linear schedule, not its start (SB3 saves the progress too)."""
    from stable_baselines3.common.utils import LinearSchedule

    model = QMIX(
        CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=4, device="cpu", learning_rate=LinearSchedule(1e-3, 0, 1)
    ).learn(200)
    loaded = QMIX.load(model.save(tmp_path / "model.zip"), env=CueMatchingEnv(n_envs=2, seed=0))
    assert loaded._current_progress_remaining == model._current_progress_remaining == 0.0
    assert list(loaded.ep_info_buffer) == list(model.ep_info_buffer) and len(model.ep_info_buffer) > 0
    assert loaded.ep_info_buffer.maxlen == model.stats_window_size
    assert loaded._total_timesteps == model._total_timesteps
    loaded.replay_buffer = model.replay_buffer
    loaded.train(1, 4)
    assert loaded.policy.optimizer.param_groups[0]["lr"] == 0.0


def test_settings_json_cannot_hold_are_made_plain_or_refused_at_construction(tmp_path):
    """A Path tensorboard folder and numpy numbers inside schedule objects were kept as given and made the first
    save fail after training (a CheckpointCallback's first save stopped the run)."""
    from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule

    from sb3_marl.robust.atla import ATLAQMIX

    env = CueMatchingEnv(n_envs=2, seed=0)
    for learning_rate in (LinearSchedule(np.float32(1e-3), 0.0, 1.0), ConstantSchedule(np.float32(1e-3))):
        model = QMIX(env, learning_rate=learning_rate, tensorboard_log=tmp_path / "tb", device="cpu")
        assert QMIX.load(model.save(tmp_path / "model.zip")).tensorboard_log == str(tmp_path / "tb")
    atla = ATLAQMIX(env, adversary_kwargs={"n_steps": np.int64(8)}, policy_kwargs={"rnn_hidden_dim": 8}, device="cpu")
    assert ATLAQMIX.load(atla.save(tmp_path / "atla.zip")).adversary_kwargs == {"n_steps": 8}
    with pytest.raises(ValueError, match="adversary_kwargs=.*cannot be saved"):
        ATLAQMIX(env, adversary_kwargs={"policy_kwargs": {"optimizer_class": torch.optim.SGD}})


@pytest.mark.parametrize(
    ("learning_rate", "message"),
    [
        ({"type": "linear", "start": 1e-3, "end": 0.0, "end_fraction": 0.0}, "end_fraction=0.0 must be .* > 0"),
        ({"type": "linear", "start": "a", "end": 0.0, "end_fraction": 1.0}, "linear schedule start='a' must be"),
    ],
)
def test_bad_schedule_settings_fail_clearly(learning_rate, message):
    with pytest.raises(ValueError, match=message):
        QMIX(CueMatchingEnv(n_envs=2, seed=0), learning_rate=learning_rate, device="cpu")


def test_set_parameters_refuses_optimizer_state_of_another_architecture(trained):
    """torch's ``load_state_dict`` checks only how many parameters the optimizer has; moments of other shapes must
    be refused (they failed the next ``optimizer.step()``) and leave the model as it was."""
    wide = QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=4, optimizer_class="adam", device="cpu")
    narrow = QMIX(
        CueMatchingEnv(n_envs=2, seed=0),
        seed=0,
        batch_size=4,
        optimizer_class="adam",
        device="cpu",
        policy_kwargs={"rnn_hidden_dim": 32},
    ).learn(200)
    wide.learn(200)
    before = copy.deepcopy(wide.get_parameters()["policy.optimizer"])
    with pytest.raises(ValueError, match=r"policy.optimizer: the saved state's 'exp_avg' of parameter 0 has shape"):
        wide.set_parameters({"policy.optimizer": narrow.get_parameters()["policy.optimizer"]}, exact_match=False)
    after = wide.get_parameters()["policy.optimizer"]["state"]
    assert all(torch.equal(before["state"][0][key], after[0][key]) for key in before["state"][0])
    wide.learn(50, reset_num_timesteps=False)  # the optimizer still steps


def test_policy_file_loads_on_auto_device_and_with_a_custom_optimizer(trained, tmp_path):
    path = trained.policy.save(tmp_path / "policy")
    for device in ("auto", "cuda"):  # "cuda" falls back to the CPU where there is none, as model loads do
        loaded = QMIXPolicy.load(path, device=device)
        assert loaded.device.type == ("cuda" if torch.cuda.is_available() else "cpu")

    class CustomSGD(torch.optim.SGD):
        pass

    custom = QMIXPolicy(3, 4, 5, 6, optimizer_class=CustomSGD).save(tmp_path / "custom")
    with pytest.raises(ValueError, match=r"names optimizer 'CustomSGD', which is not in torch.optim: pass its class"):
        QMIXPolicy.load(custom)
    assert type(QMIXPolicy.load(custom, optimizer_class=CustomSGD).optimizer) is CustomSGD
    with pytest.raises(ValueError, match="was saved with an optimizer named 'CustomSGD'"):
        QMIXPolicy.load(custom, optimizer_class=torch.optim.SGD)


def test_models_have_the_envs_spaces_also_when_loaded_without_one(trained, tmp_path):
    """SB3 users read ``model.observation_space`` / ``model.action_space`` (e.g. to check an env or shape inputs)."""
    env = trained.get_env()
    loaded = QMIX.load(trained.save(tmp_path / "model"))
    for model in (trained, loaded):
        assert model.observation_space == env.observation_space
        assert model.action_space == env.action_space
        assert model.state_space == env.state_space
    actions, _ = loaded.predict(loaded.observation_space.sample())
    assert loaded.action_space.contains(actions)


def test_load_closes_the_env_it_built_from_a_map_name_when_a_later_step_fails(trained, tmp_path, monkeypatch):
    """Only ATLA / PA-AD's load closed it (an SC2 env holds StarCraft II processes): a model of another map, refused
    by its shapes after load built the env, left that env open."""
    from sb3_marl.envs import make_env

    env_class = type(make_env("3m", n_envs=1))
    closed = []
    close = env_class.close
    monkeypatch.setattr(env_class, "close", lambda self: closed.append(self) or close(self))
    with pytest.raises(ValueError, match=r"^Env '3m' has shapes"):
        QMIX.load(trained.save(tmp_path / "cue"), env="3m")
    assert len(closed) == 1
