"""benchmarks/bench_qmix.py's update timing compares two ways to compute the same loss: check they agree."""

import pytest
import torch

from sb3_marl.envs.make_env import make_env
from sb3_marl.qmix import QMIX
from tests.conftest import load_benchmark_script


@pytest.fixture(scope="module")
def bench_qmix():  # noqa: ANN201
    return load_benchmark_script("bench_qmix")


def test_the_pymarl_loop_computes_the_fused_loss_with_terminals_and_unavailable_actions(bench_qmix):
    """The timing batch has terminal steps and unavailable actions, where a loop that ignored either (as it did
    before) computes another loss, so the benchmark's loss check compares the same loss."""
    model = QMIX(make_env("3m", n_envs=1, seed=0), seed=0, device="cpu")
    batch = bench_qmix._full_batch(model, 8)
    assert batch["terminated"].any() and not batch["avail_actions"].all()
    taken = batch["avail_actions"].gather(-1, batch["actions"].unsqueeze(-1))
    assert taken.all()
    fused, _ = model._td_loss(batch)
    torch.testing.assert_close(fused, bench_qmix.pymarl_loop_loss(model, batch), rtol=1e-4, atol=1e-4)
    everything_available = {**batch, "avail_actions": torch.ones_like(batch["avail_actions"])}
    never_terminal = {**batch, "terminated": torch.zeros_like(batch["terminated"])}
    for other in (everything_available, never_terminal):
        assert not torch.isclose(fused, bench_qmix.pymarl_loop_loss(model, other), rtol=1e-4, atol=1e-4)


def test_params_set_keys_over_the_yml_entry(bench_qmix):
    """``-params`` (RL Zoo's flag) changes the keys it names and keeps the rest of the map's yml entry."""
    params = {"optimizer_kwargs": {"eps": 1e-3}, "n_envs": 2}
    model, entry = bench_qmix.yml_model("3m", 0, False, params)
    assert model.policy.optimizer.param_groups[0]["eps"] == 1e-3
    assert model.env.n_envs == entry["n_envs"] == 2
    plain, plain_entry = bench_qmix.yml_model("3m", 0, False)
    assert plain.policy.optimizer.param_groups[0]["eps"] != 1e-3 and plain.env.n_envs == plain_entry["n_envs"] != 2
    assert model.gradient_steps == plain.gradient_steps == plain_entry["gradient_steps"]
    assert model.tau == plain.tau == plain_entry["tau"]


SETTINGS_REFUSED = "3m's settings (hyperparams/qmix.yml entry and -params) refused: "


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["learning_rat:1e-3"], "Did you mean 'learning_rate'"),
        (["seed:3"], "the benchmark sets these"),
        (["policy_kwargs:128"], "must be a mapping"),
        (["tau"], "expected key:value"),
        # refused by the model, its env or learn (tracebacks after the update timing, or a silent 0-step training)
        (["learning_rate:abc"], SETTINGS_REFUSED + "learning_rate='abc' is not allowed"),
        (["learning_rate:lin_x"], SETTINGS_REFUSED + "Cannot parse the schedule learning_rate: 'lin_x'"),
        (["gamma:2"], SETTINGS_REFUSED + "gamma=2 must be a finite number in [0, 1]"),
        (["n_envs:0"], SETTINGS_REFUSED + "n_envs=0 must be an integer >= 1"),
        (["n_envs:abc"], SETTINGS_REFUSED + "n_envs='abc' must be an integer >= 1"),
        (["env_kwargs:abc"], "env_kwargs='abc' (from -params) must be a mapping"),
        (["env_kwargs:{foo: 1}"], SETTINGS_REFUSED + "Unknown SMACSimulator keyword(s) ['foo']"),
        (["policy_kwargs:{rnn_hidden_dim: -1}"], SETTINGS_REFUSED + "rnn_hidden_dim=-1 must be an integer >= 1"),
        (["batch_size:64", "buffer_size:32"], SETTINGS_REFUSED + "batch_size=64 exceeds buffer_size=32"),
        (["n_timesteps:-5"], SETTINGS_REFUSED + "n_timesteps=-5 must be an integer >= 1"),
        (["n_timesteps:0"], SETTINGS_REFUSED + "n_timesteps=0 must be an integer >= 1"),
        (["n_timesteps:2.9"], SETTINGS_REFUSED + "n_timesteps=2.9 must be an integer >= 1"),
        (["n_timesteps:500", "--timesteps", "100"], "-params n_timesteps and --timesteps both set the training budget"),
        # --compile's absence replaced it, yet the result line printed it as given
        (["env_kwargs:{compile: true}"], "-params env_kwargs: compile is set by --compile"),
    ],
)
def test_bad_params_are_refused_before_timing_and_training(bench_qmix, monkeypatch, capsys, params, message):
    monkeypatch.setattr(bench_qmix, "time_update", lambda *args: pytest.fail("timed an update despite bad -params"))
    monkeypatch.setattr(bench_qmix, "train_and_test", lambda *args: pytest.fail("trained despite bad -params"))
    with pytest.raises(SystemExit) as exit_info:
        bench_qmix.main(["--maps", "3m", "-params", *params])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_save_folder_keeps_the_final_and_best_eval_models(bench_qmix, monkeypatch, tmp_path):
    argv = ["--maps", "3m", "--timesteps", "240", "--seeds", "2", "--skip-update-timing", "--eval-episodes", "2"]
    argv += ["--eval-freq", "120", "--save-folder", str(tmp_path / "models")]
    monkeypatch.setattr("sys.argv", ["bench_qmix.py", *argv])
    bench_qmix.main()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["3m_seed2.zip", "3m_seed2_best.zip"]
    final = QMIX.load(tmp_path / "models" / "3m_seed2.zip")
    assert final.num_timesteps >= 240 and final.seed == 2
    assert QMIX.load(tmp_path / "models" / "3m_seed2_best.zip").num_timesteps <= final.num_timesteps


def test_models_are_tested_with_their_env_settings(bench_qmix, monkeypatch, capsys):
    """The test envs (and the wider test's) take the training's env_kwargs: before, a model trained with
    obs_last_action met plain test envs (an observation one block shorter) and the benchmark failed after training."""
    argv = ["--maps", "3m", "--timesteps", "120", "--seeds", "1", "--skip-update-timing", "--eval-episodes", "2"]
    argv += ["--wide-test-episodes", "2", "-params", "env_kwargs:{obs_last_action: true}"]
    monkeypatch.setattr("sys.argv", ["bench_qmix.py", *argv])
    tested = []
    original = bench_qmix.evaluate_policy

    def recording(model, env, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        tested.append(env.layout.flags.obs_last_action)
        return original(model, env, *args, **kwargs)

    monkeypatch.setattr(bench_qmix, "evaluate_policy", recording)
    bench_qmix.main()
    assert tested == [True, True]  # the 2-game test, then the wider one
    assert "wide_win_rate" in capsys.readouterr().out


def test_seeds_whose_test_envs_would_pass_32_bits_are_refused_before_training(bench_qmix, monkeypatch, capsys):
    """The wide-test envs play seed + 5000 and up: such a seed failed after the training, losing it."""
    monkeypatch.setattr("sys.argv", ["bench_qmix.py", "--maps", "3m", "--skip-update-timing", "--seeds", "4294965000"])
    monkeypatch.setattr(bench_qmix, "train_and_test", lambda *args: pytest.fail("trained despite a bad seed"))
    with pytest.raises(SystemExit):
        bench_qmix.main()
    assert "seeds must be in [0, 4294962288]" in capsys.readouterr().err


def test_bench_env_times_each_setting_and_refuses_bad_flags(capsys):
    bench_env = load_benchmark_script("bench_env")
    parser = bench_env.build_parser()
    for argv, message in (
        (["--maps", "3n"], "unknown map(s) ['3n']"),
        (["--steps", "-5"], "--steps must be >= 1, got -5"),
        (["--n-envs", "8", "0"], "--n-envs must be >= 1, got [8, 0]"),
        (["--compare-eager"], "give --compile too"),
    ):
        with pytest.raises(SystemExit):
            bench_env.check_args(parser, parser.parse_args(argv))
        assert message in capsys.readouterr().err
    line = bench_env.measure(parser.parse_args(["--steps", "3", "--repeats", "2"]), "3m", 2)
    assert line.split()[:3] == ["3m", "n_envs=", "2"] and "eager" in line and "RSS added" in line


def test_preset_benchmarks_show_their_own_help(capsys):
    bench_robust = load_benchmark_script("bench_robust")
    with pytest.raises(SystemExit):
        bench_robust.main(["--help"])
    out = capsys.readouterr().out
    assert "Vanilla QMIX vs RobustQMIXFGSM vs RegularizedQMIX" in out
    assert "Preset, before the flags given: --methods qmix fgsm regularized" in out


def test_a_model_that_kept_another_network_is_tested_with_the_online_one_too(bench_qmix, monkeypatch, capsys):
    """With the final-network choice, the line reports the network as trained beside the one kept, on the same
    test episodes, and the model keeps its choice."""
    from sb3_marl.qmix import qmix

    def keep_the_target(model, n_episodes, online):
        model.policy.agent.load_state_dict(model.policy.agent_target.state_dict())
        return "target", {"online": 0.5, "target": 1.0}

    monkeypatch.setattr(qmix, "select_final_agent", keep_the_target)
    tested = []
    original = bench_qmix.evaluate_policy

    def recording(model, env, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        online = all(
            torch.equal(value, model.agent_before_selection[name])
            for name, value in model.policy.agent.state_dict().items()
        )
        tested.append("online" if online else "kept")
        return original(model, env, *args, **kwargs)

    monkeypatch.setattr(bench_qmix, "evaluate_policy", recording)
    argv = ["--maps", "3m", "--timesteps", "400", "--seeds", "1", "--skip-update-timing", "--eval-episodes", "2"]
    argv += ["--wide-test-episodes", "2", "-params", "final_selection_episodes:2", "batch_size:2", "n_envs:2"]
    monkeypatch.setattr("sys.argv", ["bench_qmix.py", *argv])
    bench_qmix.main()
    assert tested == ["kept", "kept", "online", "online"]  # test and wide test of each network
    out = capsys.readouterr().out
    assert "final network=target (validation online 0.500 / target 1.000) online network's win_rate=" in out
    assert out.count("wide_win_rate=") == 2
