"""Fast tests of the zoo's helpers, hyperparameter files, search spaces and plots (no training)."""

import argparse
import json
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
import yaml
from stable_baselines3.common.utils import LinearSchedule

from sb3_marl.common.schedules import StepSchedule
from zoo import plot_heatmap, plot_train, train
from zoo.exp_manager import ExperimentManager, _open_study
from zoo.hyperparams_opt import HYPERPARAMS_SAMPLER, merge_sampled
from zoo.utils import (
    ALGOS,
    LazyClass,
    StoreDict,
    accepted_kwargs,
    closest_choice,
    default_conf_file,
    get_latest_run_id,
    hyperparams_entry,
    parse_schedule,
    replay_buffer_path_for,
    resolve_device,
    to_plain,
    unwritable_file,
    unwritable_folder,
)

PAPER_MAPS = ["2m_vs_1z", "3m", "3s_vs_3z", "2s3z"]


@pytest.mark.parametrize("algo", list(ALGOS))
def test_hyperparams_files_hold_the_paper_settings(algo):
    table = yaml.safe_load(default_conf_file(algo).read_text())
    assert {"default", *PAPER_MAPS} <= set(table)
    robust = algo != "qmix"
    for key in ["default", *PAPER_MAPS]:
        entry = table[key]
        # the paper's budgets: 205k steps for QMIX, 405k for the robust variants
        assert entry["n_timesteps"] == (405_000 if robust else 205_000)
        assert isinstance(entry["policy_kwargs"], dict)
        if robust:
            assert entry["epsilon"] == (0.05 if key == "2s3z" else 0.2)
        else:
            assert "epsilon" not in entry


def test_store_dict_parses_yaml_values_without_eval():
    parser = argparse.ArgumentParser()
    parser.add_argument("-params", nargs="+", action=StoreDict)
    args = parser.parse_args(
        ["-params", "learning_rate:1e-3", "policy_kwargs:{rnn_hidden_dim: 128}", "mixer:vdn", "x:__import__('os')"]
    )
    assert args.params == {
        "learning_rate": 1e-3,
        "policy_kwargs": {"rnn_hidden_dim": 128},
        "mixer": "vdn",
        "x": "__import__('os')",
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["-params", "no_colon"])
    nested = parser.parse_args(["-params", "optimizer_kwargs:{eps: 1e-5, betas: [0.9, 1e-1]}", "mixer:vdn"])
    assert nested.params == {"optimizer_kwargs": {"eps": 1e-5, "betas": [0.9, 0.1]}, "mixer": "vdn"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_a_cuda_device_on_a_machine_without_one_is_a_clear_error():
    with pytest.raises(SystemExit, match="--device 'cuda:1': this machine has 0 CUDA device"):
        resolve_device("cuda:1")
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"


def test_a_device_torch_lacks_here_is_named_with_the_flag():
    """--device mps (on a machine without it) or meta was reported later as a bad env_kwargs or --algo setting."""
    with pytest.raises(SystemExit, match=r"^--device 'meta': device='meta' holds no data"):
        resolve_device("meta")
    if not torch.backends.mps.is_available():
        with pytest.raises(SystemExit, match=r"^--device 'mps': device='mps' is not available here"):
            resolve_device("mps")
    assert resolve_device("cpu:0") == "cpu"


def test_a_default_replay_name_never_replaces_an_earlier_replay(tmp_path):
    from zoo.enjoy import _free_path

    first = tmp_path / "3m-none.gif"
    assert _free_path(first) == first
    first.write_bytes(b"x")
    assert _free_path(first) == tmp_path / "3m-none_2.gif"
    (tmp_path / "3m-none_2.gif").write_bytes(b"x")
    assert _free_path(first) == tmp_path / "3m-none_3.gif"


def test_output_paths_are_checked_without_creating_anything(tmp_path, monkeypatch):
    from zoo import utils

    (tmp_path / "folder.gif").mkdir()
    (tmp_path / "file").write_text("")
    assert unwritable_file(tmp_path / "folder.gif") == "it is a folder"
    assert unwritable_file(tmp_path / "file" / "x.gif") == f"{tmp_path / 'file'} is a file, not a folder"
    assert unwritable_file(tmp_path / "file" / "a" / "x.gif") == f"{tmp_path / 'file'} is a file, not a folder"
    assert unwritable_file(tmp_path / "file") is None  # replaced
    assert unwritable_file(tmp_path / "new" / "deeper" / "x.gif") is None
    assert unwritable_file(Path("x.gif")) is None  # in the working folder
    assert unwritable_folder(tmp_path / "file") == f"{tmp_path / 'file'} is a file, not a folder"
    assert unwritable_folder(tmp_path / "file" / "out") == f"{tmp_path / 'file'} is a file, not a folder"
    assert unwritable_folder(tmp_path / "folder.gif") is None and unwritable_folder(tmp_path / "a" / "b") is None
    monkeypatch.setattr(utils.os, "access", lambda path, mode: False)
    assert unwritable_folder(tmp_path / "a" / "b") == f"the folder {tmp_path} is not writable"
    assert unwritable_file(tmp_path / "x.gif") == f"the folder {tmp_path} is not writable"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file", "folder.gif"]


def test_linear_schedule_and_plain_round_trip():
    schedule = parse_schedule("learning_rate", "lin_5e-4")
    assert isinstance(schedule, LinearSchedule)
    assert schedule(1.0) == pytest.approx(5e-4) and schedule(0.5) == pytest.approx(2.5e-4)
    assert parse_schedule("learning_rate", 1e-3) == 1e-3
    assert to_plain({"lr": schedule, "t": (1, 2)}) == {"lr": "lin_0.0005", "t": [1, 2]}
    assert to_plain(StepSchedule()) == {"type": "step", "start": 0.0, "end": 0.1, "switch_fraction": 0.5}
    with pytest.raises(SystemExit, match="lin_abc"):
        parse_schedule("learning_rate", "lin_abc")


def test_closest_choice_suggests():
    assert closest_choice("qmix", ALGOS, "algorithm") == "qmix"
    with pytest.raises(SystemExit, match="Did you mean 'regularized'"):
        closest_choice("regularised", ALGOS, "algorithm")


def test_missing_class_gives_a_clear_error():
    with pytest.raises(SystemExit, match="not available yet"):
        LazyClass("sb3_marl", "NoSuchAlgo", "algorithm").load()


def test_run_ids_and_replay_buffer_names(tmp_path):
    assert get_latest_run_id(tmp_path, "3m") == 0
    for name in ["3m_1", "3m_7", "3m_vs_3z_9", "2s3z_12"]:
        (tmp_path / name).mkdir()
    assert get_latest_run_id(tmp_path, "3m") == 7
    assert replay_buffer_path_for(Path("r/rl_model_500_steps.zip")) == Path("r/rl_model_replay_buffer_500_steps.pkl")
    assert replay_buffer_path_for(Path("r/3m.zip")) == Path("r/replay_buffer.pkl")


def test_accepted_kwargs_follows_kwargs_up_the_mro():
    class Base:
        def __init__(self, env, learning_rate=1.0):
            pass

    class Child(Base):
        def __init__(self, env, epsilon=0.2, **kwargs):
            super().__init__(env, **kwargs)

    assert accepted_kwargs(Child) == {"env", "epsilon", "learning_rate"}


@pytest.mark.parametrize("algo", list(HYPERPARAMS_SAMPLER))
def test_search_spaces_sample_valid_overrides(algo):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    sampled = HYPERPARAMS_SAMPLER[algo](trial, ())
    merged = merge_sampled({"policy_kwargs": {"hypernet_embed": 64, "rnn_hidden_dim": 1}, "gamma": 0.5}, sampled)
    assert merged["policy_kwargs"]["hypernet_embed"] == 64  # kept from the base
    assert merged["gamma"] == sampled["gamma"] and 1e-4 <= merged["learning_rate"] <= 2e-3
    assert ("hinge_c" in sampled) == (algo == "regularized")
    if algo == "regularized":  # its networks are the pretrained QMIX's: sizes are not searched
        assert "policy_kwargs" not in sampled and merged["policy_kwargs"]["rnn_hidden_dim"] == 1
    else:
        assert merged["policy_kwargs"]["rnn_hidden_dim"] == sampled["policy_kwargs"]["rnn_hidden_dim"]


def test_qmix_search_space_builds_models_with_every_loss_option():
    """Every sampled setting is accepted by QMIX, and the loss and replay options are searched both off and on."""
    from sb3_marl.common.toy_env import CueMatchingEnv
    from sb3_marl.qmix import QMIX

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: dict[str, set] = {
        "huber_delta": set(),
        "advantage_learning": set(),
        "lower_bound_coef": set(),
        "prioritized_replay_alpha": set(),
    }
    for _ in range(12):
        sampled = HYPERPARAMS_SAMPLER["qmix"](study.ask(), ())
        model = QMIX(CueMatchingEnv(n_envs=2, seed=0), device="cpu", **sampled)
        for name, values in seen.items():
            values.add(getattr(model, name))
    assert seen == {
        "huber_delta": {None, 1.0},
        "advantage_learning": {0.0, 0.5},
        "lower_bound_coef": {0.0, 1.0},
        "prioritized_replay_alpha": {0.0, 0.6},
    }


def _fake_run(folder: Path, algo: str, env: str, run_id: int, wins: np.ndarray, every: int = 100) -> None:
    run = folder / algo / f"{env}_{run_id}"
    run.mkdir(parents=True)
    n_evals, n_episodes = wins.shape
    np.savez(
        run / "evaluations.npz",
        timesteps=np.arange(1, n_evals + 1) * every,
        results=wins * 20.0,
        ep_lengths=np.full(wins.shape, 30),
        wins=wins,
    )


def test_plot_train_aggregates_runs(tmp_path):
    _fake_run(tmp_path, "qmix", "3m", 1, np.array([[0, 0], [1, 0], [1, 1]], dtype=bool))
    _fake_run(tmp_path, "qmix", "3m", 2, np.array([[0, 0], [0, 0], [1, 1], [1, 1]], dtype=bool))
    runs = plot_train.load_runs(tmp_path, "qmix", "3m")
    steps, mean, std = plot_train.aggregate(runs, "win rate")
    np.testing.assert_array_equal(steps, [100, 200, 300])  # cut to the shorter run
    np.testing.assert_allclose(mean, [0.0, 0.25, 1.0])
    np.testing.assert_allclose(std, [0.0, 0.25, 0.0])
    output = plot_train.main(["-a", "qmix", "fgsm", "-e", "3m", "-f", str(tmp_path), "-o", str(tmp_path / "c.png")])
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="No evaluations.npz"):
        plot_train.main(["-a", "fgsm", "-e", "3m", "-f", str(tmp_path)])


def test_plot_train_takes_only_the_maps_runs_and_aligns_their_steps(tmp_path):
    """``3s5z`` did also read ``3s5z_vs_3s6z_1``; runs evaluated on other grids were averaged by index."""
    _fake_run(tmp_path, "qmix", "3s5z", 1, np.ones((2, 2), dtype=bool))
    _fake_run(tmp_path, "qmix", "3s5z_vs_3s6z", 1, np.zeros((2, 2), dtype=bool))
    assert len(plot_train.load_runs(tmp_path, "qmix", "3s5z")) == 1
    _fake_run(tmp_path, "qmix", "3m", 1, np.array([[0, 0], [1, 1], [1, 1], [1, 1]], dtype=bool), every=100)
    _fake_run(tmp_path, "qmix", "3m", 2, np.array([[0, 0], [0, 0]], dtype=bool), every=200)
    steps, mean, _ = plot_train.aggregate(plot_train.load_runs(tmp_path, "qmix", "3m"), "win rate")
    np.testing.assert_array_equal(steps, [200, 400])  # the steps both runs were evaluated at
    np.testing.assert_allclose(mean, [0.5, 0.5])  # run 1 won both (its own steps 200, 400), run 2 neither
    _fake_run(tmp_path, "qmix", "3m", 3, np.zeros((2, 2), dtype=bool), every=150)
    with pytest.raises(SystemExit, match=r"evaluated at different steps .*3m_3: \[150, 300\].*move the runs"):
        plot_train.aggregate(plot_train.load_runs(tmp_path, "qmix", "3m"), "win rate")  # names the runs' folders


def test_plot_train_draws_runs_evaluated_under_attack_apart(tmp_path, monkeypatch):
    """Runs evaluated clean and under ``--eval-attack`` were averaged into one curve."""
    import matplotlib.axes

    for run_id, wins in ((1, 1), (2, 1), (3, 0)):
        _fake_run(tmp_path, "fgsm", "3m", run_id, np.full((2, 2), wins, dtype=bool))
    args = tmp_path / "fgsm" / "3m_3" / "3m" / "args.yml"
    args.parent.mkdir()
    args.write_text(yaml.safe_dump({"eval_attack": "fgsm", "eval_epsilon": 0.1}))
    assert [run["evaluation"] for run in plot_train.load_runs(tmp_path, "fgsm", "3m")] == ["clean"] * 2 + [
        "under fgsm ε=0.1"
    ]
    drawn = []
    real_plot = matplotlib.axes.Axes.plot
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "plot",
        lambda ax, x, y, label, **kwargs: drawn.append((label, list(y), kwargs)) or real_plot(ax, x, y, **kwargs),
    )
    plot_train.main(["-a", "fgsm", "-e", "3m", "-f", str(tmp_path), "-o", str(tmp_path / "c.png")])
    assert ("fgsm (2 runs)", [1.0, 1.0], {"marker": "o"}) in drawn
    assert ("fgsm under fgsm ε=0.1 (1 run)", [0.0, 0.0], {"marker": "o"}) in drawn  # under three points: marked


def test_plot_heatmap_reads_both_layouts(tmp_path):
    nested = {"results": {"qmix": {"none": 1.0, "fgsm": {"win_rate": 0.1}}, "paad": {"none": 0.9, "fgsm": 0.8}}}
    records = [
        {"map": "3m", "algo": "qmix", "attack": "none", "win_rate": 1.0},
        {"map": "3m", "algo": "qmix", "attack": "paad", "win_rate": 0.0},
        {"map": "3m", "algo": "atla", "attack": "none", "win_rate": 0.5},
    ]
    (tmp_path / "nested.json").write_text(json.dumps(nested))
    (tmp_path / "records.json").write_text(json.dumps(records))
    models, attacks, table = plot_heatmap.load_table(tmp_path / "nested.json")
    assert models == ["qmix", "paad"] and attacks == ["none", "fgsm"]
    np.testing.assert_allclose(table, [[1.0, 0.1], [0.9, 0.8]])
    models, attacks, table = plot_heatmap.load_table(tmp_path / "records.json")
    assert models == ["3m qmix", "3m atla"] and attacks == ["none", "paad"]
    assert np.isnan(table[1, 1]) and table[0, 1] == 0.0
    output = plot_heatmap.main([str(tmp_path / "records.json")])
    assert output == tmp_path / "records.png" and output.read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "bad.json").write_text(json.dumps([{"attack": "none"}]))
    with pytest.raises(SystemExit, match="record 0 needs 'model'"):
        plot_heatmap.load_table(tmp_path / "bad.json")


def test_unreachable_storage_is_a_clear_error(tmp_path):
    url = "postgresql+psycopg2://nobody@127.0.0.1:1/none"
    with pytest.raises(SystemExit, match=f"Cannot open Optuna storage {re.escape(url)}: "):
        _open_study(url, url, "s", optuna.pruners.NopPruner())
    args = train.build_parser().parse_args(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-optimize"])
    args.seed = 0  # as train.main draws it
    (tmp_path / "a_file").write_text("")
    args.storage = str(tmp_path / "a_file" / "study.log")  # a missing folder is made (RL Zoo); one under a file fails
    with pytest.raises(SystemExit, match=f"Cannot open Optuna journal {re.escape(args.storage)}: "):
        ExperimentManager(args).hyperparameters_optimization()


def test_hyperparams_entry_reads_the_map_or_the_default():
    assert hyperparams_entry("qmix", "3m")["n_timesteps"] == 205e3
    assert hyperparams_entry("qmix", "2m_vs_1z")["n_envs"] == 16
    assert hyperparams_entry("fgsm", "2s3z")["epsilon"] == 0.05
    assert hyperparams_entry("qmix", "8m") == hyperparams_entry("qmix", "default")


def test_paper_table_comparison_puts_our_win_rates_beside_the_papers():
    from zoo.benchmark import ATTACK_LABELS, METHOD_LABELS
    from zoo.paper_table import TABLE_I, comparison_markdown

    assert len(TABLE_I) == 4 * 5 * 4 and TABLE_I["3m", "qmix", "none"] == (0.98, 19.8065, 1.0601)
    labels = {**METHOD_LABELS, **ATTACK_LABELS}
    row = {"map": "3m", "method": "qmix", "n_attacked": None}
    rows = [
        {**row, "attack": "none", "epsilon": 0.0, "win_rate": 0.5},
        {**row, "attack": "fgsm", "epsilon": 0.2, "win_rate": 0.25},
        {**row, "attack": "fgsm", "epsilon": 0.1, "win_rate": 1.0},  # not the paper's ε: left out
        {**row, "attack": "pgd", "epsilon": 0.2, "win_rate": 1.0},  # not a column of the paper: left out
    ]
    text = comparison_markdown(rows, labels, "Measured: 4 test episodes per cell.")
    assert "| 3m | Vanilla QMIX | 0.50 (0.98) | 0.25 (0.00) | – | – |" in text
    assert "Measured: 4 test episodes per cell." in text
    assert "Δ = 0.36 over 2 cells." in text
    assert comparison_markdown(rows[2:], labels, "") is None


def test_search_space_offers_the_augmentations_the_map_allows():
    """Each augmentation the map allows is searched off and on; the others are never sampled (the map refuses them)."""
    from sb3_marl.common.augmentation import allowed_augmentations
    from sb3_marl.envs import make_env

    assert allowed_augmentations(make_env("2m_vs_1z")) == ["agent_permutation", "mirror_augmentation"]
    assert allowed_augmentations(make_env("2s3z")) == ["agent_permutation"]
    assert allowed_augmentations(make_env("MMM")) == []  # medivacs heal allies by id; enemies attack-move
    assert allowed_augmentations(make_env("2m_vs_1z", obs_pathing_grid=True)) == ["agent_permutation"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        sampled = HYPERPARAMS_SAMPLER["qmix"](study.ask(), ["agent_permutation"])
        assert "mirror_augmentation" not in sampled
        seen.add(sampled["agent_permutation"])
    assert seen == {False, True}


def test_qmix_search_space_pairs_soft_updates_with_every_rollout():
    """A sampled ``tau < 1`` comes with a target update after every rollout, ``tau = 1`` with a hard-copy interval."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        sampled = HYPERPARAMS_SAMPLER["qmix"](study.ask(), ())
        soft = sampled["tau"] < 1.0
        assert (sampled["target_update_interval"] == 1) == soft
        assert soft or sampled["target_update_interval"] in (50, 100, 200, 400)
        seen.add(soft)
    assert seen == {True, False}


def test_trial_eval_callback_reports_at_most_n_evaluations():
    """No evaluation after the n_evaluations-th, however long training goes on (it collects whole episodes and
    can pass its budget): one more would report at the step the next seed starts from."""
    from sb3_marl.common.toy_env import CueMatchingEnv
    from sb3_marl.qmix import QMIX
    from zoo.callbacks import TrialEvalCallback

    study = optuna.create_study()
    trial = study.ask()
    callback = TrialEvalCallback(
        CueMatchingEnv(n_envs=2, seed=1), trial, n_eval_episodes=2, eval_freq=5, step_offset=3, n_evaluations=3
    )
    QMIX(CueMatchingEnv(n_envs=2, seed=0), seed=0, batch_size=2, device="cpu").learn(100, callback=callback)
    assert callback.n_calls == 50 and callback.eval_idx == 3
    assert sorted(study.trials[0].intermediate_values) == [3, 4, 5]  # 10 evaluations without the limit


def test_installed_package_reads_only_its_own_hyperparams(tmp_path, monkeypatch):
    """In a wheel install the folder next to ``zoo/`` is site-packages, where another distribution may have put a
    ``hyperparams/`` folder: only the package's own copy counts there (a source checkout has setup.py beside zoo/)."""
    import zoo.utils

    site = tmp_path / "site-packages"
    for folder in (site / "hyperparams", site / "zoo" / "hyperparams"):
        folder.mkdir(parents=True)
        (folder / "qmix.yml").write_text("default: {}\n")
    monkeypatch.setattr(zoo.utils, "__file__", str(site / "zoo" / "utils.py"))
    assert zoo.utils.hyperparams_dirs() == [site / "zoo" / "hyperparams"]
    (site / "setup.py").write_text("")  # now it looks like a source checkout
    assert zoo.utils.hyperparams_dirs() == [site / "hyperparams", site / "zoo" / "hyperparams"]


def test_stable_baselines3_hyperparameter_names_point_to_ours():
    """SB3's DQN names are refused with what this zoo takes instead (exploration_fraction was answered with
    'Did you mean exploration_spread?', Ape-X's per-env exponent: another setting altogether)."""
    from sb3_marl.qmix import QMIX
    from zoo.utils import check_hyperparams

    with pytest.raises(SystemExit, match="epsilon schedule is exploration_timesteps"):
        check_hyperparams(QMIX, {"exploration_fraction": 0.1}, "-params")
    with pytest.raises(SystemExit, match="go in policy_kwargs"):
        check_hyperparams(QMIX, {"net_arch": [64]}, "-params")


def test_smac_string_settings_keep_their_spelling():
    """floats_read made difficulty "7" the float 7.0 and game_version "4.10" the float 4.1, which the env refuses."""
    from zoo.utils import floats_read

    read = floats_read({"env_kwargs": {"difficulty": "7", "game_version": "4.10", "reward_scale_rate": "2e1"}})
    assert read == {"env_kwargs": {"difficulty": "7", "game_version": "4.10", "reward_scale_rate": 20.0}}


def _eval_args(run: Path, env: str, args: dict, config: dict | None = None) -> None:
    (run / env).mkdir()
    (run / env / "args.yml").write_text(yaml.safe_dump(args))
    if config is not None:
        (run / env / "config.yml").write_text(yaml.safe_dump(config))


def test_plot_train_draws_each_attack_budget_apart(tmp_path):
    """Runs evaluated under one attack at different budgets were averaged into one curve."""
    for run_id in (1, 2, 3, 4):
        _fake_run(tmp_path, "fgsm", "3m", run_id, np.ones((2, 2), dtype=bool))
    run = tmp_path / "fgsm"
    _eval_args(run / "3m_1", "3m", {"eval_attack": "fgsm", "eval_epsilon": 0.1}, {"epsilon": 0.05})
    _eval_args(run / "3m_2", "3m", {"eval_attack": "fgsm", "eval_epsilon": None}, {"epsilon": 0.05})
    _eval_args(run / "3m_3", "3m", {"eval_attack": "fgsm", "eval_epsilon": None}, {})
    _eval_args(run / "3m_4", "3m", {"eval_attack": "fgsm", "eval_epsilon": None}, {"epsilon": 0.2})
    labels = [r["evaluation"] for r in plot_train.load_runs(tmp_path, "fgsm", "3m")]
    assert labels == ["under fgsm ε=0.1", "under fgsm ε=0.05", "under fgsm ε=0.2", "under fgsm ε=0.2"]


def test_plot_train_says_which_runs_cut_the_curves(tmp_path, capsys):
    _fake_run(tmp_path, "qmix", "3m", 1, np.ones((4, 2), dtype=bool))
    _fake_run(tmp_path, "qmix", "3m", 2, np.ones((1, 2), dtype=bool))
    plot_train.main(["-a", "qmix", "-e", "3m", "-f", str(tmp_path), "-o", str(tmp_path / "c.png")])
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Note: 3m qmix: cut")]
    assert len(notes) == 1 and "(up to 100) that " in notes[0] and notes[0].count("3m_2") == 1
    assert notes[0].endswith(f"evaluations dropped: {tmp_path / 'qmix' / '3m_1'}: 3")


def test_plot_train_finds_uuid_runs_and_skips_or_names_bad_files(tmp_path, capsys):
    _fake_run(tmp_path, "qmix", "3m", 1, np.ones((2, 2), dtype=bool))
    (tmp_path / "qmix" / "3m_1").rename(tmp_path / "qmix" / "3m_2_0b1e2c9a-4f6d-4a8b-9c3d-2e1f0a9b8c7d")
    _fake_run(tmp_path, "qmix", "3m", 3, np.ones((0, 2), dtype=bool))
    assert get_latest_run_id(tmp_path / "qmix", "3m") == 3  # run ids: the uuid folders are still not counted
    runs = plot_train.load_runs(tmp_path, "qmix", "3m")
    assert [Path(run["folder"]).name for run in runs] == ["3m_2_0b1e2c9a-4f6d-4a8b-9c3d-2e1f0a9b8c7d"]
    assert f"Note: skipping {tmp_path / 'qmix' / '3m_3' / 'evaluations.npz'}: it holds no evaluations" in (
        capsys.readouterr().out
    )
    base = ["-a", "qmix", "-e", "3m", "-f", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"Cannot write .*h\.xyz: \.xyz is not an image type that matplotlib writes"):
        plot_train.main([*base, "-o", str(tmp_path / "h.xyz")])
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit, match=r"Cannot write .*file/sub/c\.png: "):
        plot_train.main([*base, "-o", str(tmp_path / "file" / "sub" / "c.png")])
    assert plot_train.main([*base, "-o", str(tmp_path / "c.svg")]).read_text().lstrip().startswith("<?xml")
    (tmp_path / "qmix" / "3m_3" / "evaluations.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(SystemExit, match=r"Cannot read .*3m_3/evaluations\.npz: "):
        plot_train.load_runs(tmp_path, "qmix", "3m")


def test_plot_heatmap_refuses_repeated_pairs_scales_returns_and_names_bad_outputs(tmp_path, monkeypatch):
    records = [
        {"map": "3m", "algo": "qmix", "attack": "none", "win_rate": 1.0},
        {"map": "3m", "algo": "qmix", "attack": "none", "win_rate": 0.5},
    ]
    (tmp_path / "dup.json").write_text(json.dumps(records))
    with pytest.raises(SystemExit, match=r"record 1 repeats model '3m qmix' under attack 'none' \(record 0\)"):
        plot_heatmap.load_table(tmp_path / "dup.json")
    (tmp_path / "dup_keys.json").write_text('{"qmix": {"none": 1.0, "none": 0.5}}')
    with pytest.raises(SystemExit, match=r"dup_keys\.json: an object repeats the key\(s\) 'none'"):
        plot_heatmap.load_table(tmp_path / "dup_keys.json")
    import matplotlib.axes

    limits = []
    real_imshow = matplotlib.axes.Axes.imshow
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "imshow",
        lambda ax, x, **kw: limits.append((kw["vmin"], kw["vmax"])) or real_imshow(ax, x, **kw),
    )
    returns = np.array([[12.0, 3.5], [20.0, 7.0]])
    plot_heatmap.plot_heatmap(["a", "b"], ["none", "fgsm"], returns, tmp_path / "r.png", label="return")
    plot_heatmap.plot_heatmap(["a"], ["none"], np.array([[0.5]]), tmp_path / "w.png")
    assert limits == [(None, None), (0.0, 1.0)]
    with pytest.raises(SystemExit, match=r"Cannot write .*h\.xyz: \.xyz is not an image type"):
        plot_heatmap.plot_heatmap(["a"], ["none"], np.array([[0.5]]), tmp_path / "h.xyz")
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit, match=r"Cannot write .*file/h\.png: "):
        plot_heatmap.plot_heatmap(["a"], ["none"], np.array([[0.5]]), tmp_path / "file" / "h.png")


def test_a_storage_that_is_not_a_url_says_what_is_allowed(tmp_path):
    """A plain path such as ``study.db`` got SQLAlchemy's "Could not parse SQLAlchemy URL"."""
    argv = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-optimize", "--storage", str(tmp_path / "study.db")]
    message = (
        f"--storage '{tmp_path / 'study.db'}' is neither a database URL (such as sqlite:///path.db or "
        "postgresql+psycopg2://user:password@host/db) nor a journal file path ending in .log"
    )
    with pytest.raises(SystemExit, match=re.escape(message)):
        ExperimentManager(train.build_parser().parse_args(argv))._storage()
    with pytest.raises(SystemExit, match=re.escape(message)):  # --trial-id reads it too
        ExperimentManager(train.build_parser().parse_args([*argv[:-3], *argv[-2:], "--trial-id", "0"]))
    assert not list(tmp_path.iterdir())


def _study_with(*states: optuna.trial.TrialState) -> optuna.Study:
    """An in-memory study with one trial per state (each reported one win rate; complete ones score 0.5, 0.6, ...)."""
    study = optuna.create_study(direction="maximize")
    for number, state in enumerate(states):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
        trial.report(0.1 * number, 0)
        study.tell(trial, 0.5 + 0.1 * number if state == optuna.trial.TrialState.COMPLETE else None, state=state)
    return study


def test_study_plots_with_nothing_to_show_are_skipped(tmp_path, capsys):
    """Without a complete trial the history and importance plots were written as empty PNGs, and the importances
    with a single complete trial."""
    from zoo.exp_manager import _save_study_plots

    complete, pruned = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
    for states, plots, notes in [
        (
            (pruned, pruned),
            ["intermediate_values"],
            [
                "Skipping the optimization_history plot: no complete trial",
                "Skipping the param_importances plot: 0 complete trials, it needs 2",
            ],
        ),
        ((pruned, complete), ["intermediate_values", "optimization_history"], ["1 complete trial, it needs 2"]),
        ((complete, complete), ["intermediate_values", "optimization_history", "param_importances"], []),
    ]:
        stem = tmp_path / str(len(list(tmp_path.iterdir())))
        written = _save_study_plots(_study_with(*states), stem)
        assert sorted(written) == plots and sorted(path.name for path in tmp_path.glob(f"{stem.name}_*")) == [
            f"{stem.name}_{name}.png" for name in plots
        ]
        out = capsys.readouterr().out
        assert all(note in out for note in notes) and out.count("Skipping") == len(notes)


def test_plot_heatmap_refuses_booleans_and_a_table_without_numbers(tmp_path):
    """``true`` plotted as a win rate of 1.00, and an all-NaN table as an empty heatmap."""
    for name, data, message in [
        ("nested.json", {"qmix": {"none": True}}, r"nested\.json \[qmix\]\[none\]: expected a number, got True"),
        ("records.json", [{"model": "qmix", "attack": "none", "win_rate": False}], r"record 0: .* got False"),
        (
            "nan.json",
            {"qmix": {"none": float("nan"), "fgsm": {"win_rate": float("nan")}}},
            r"nan\.json: every win_rate value is NaN: nothing to plot",
        ),
    ]:
        (tmp_path / name).write_text(json.dumps(data))
        with pytest.raises(SystemExit, match=message):
            plot_heatmap.load_table(tmp_path / name)
    (tmp_path / "some_nan.json").write_text(json.dumps({"qmix": {"none": float("nan"), "fgsm": 1}}))
    table = plot_heatmap.load_table(tmp_path / "some_nan.json")[2]  # a NaN among numbers is a missing cell ("-")
    assert np.isnan(table[0, 0]) and table[0, 1] == 1.0


def test_plot_train_checks_the_map_names(tmp_path, capsys):
    """``-e 3m 3M`` drew an empty 3M panel beside the 3m curves."""
    _fake_run(tmp_path, "qmix", "3m", 1, np.ones((2, 2), dtype=bool))
    with pytest.raises(SystemExit) as exit_info:
        plot_train.main(["-a", "qmix", "-e", "3m", "3M", "-f", str(tmp_path), "-o", str(tmp_path / "c.png")])
    assert exit_info.value.code == 2 and "Unknown map '3M'. Did you mean '3m'?" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def test_fixed_settings_are_named_by_their_search_parameter():
    """A schedule's mapping fixed with -params is one setting (it was named learning_rate.type, .start, ...)."""
    from zoo.hyperparams_opt import drop_fixed, fixed_names, fixed_params

    sampled = HYPERPARAMS_SAMPLER["qmix"](optuna.create_study().ask(), ())
    schedule = {"type": "linear", "start": 1e-3, "end": 1e-4}
    fixed = drop_fixed(sampled, {"learning_rate": schedule, "policy_kwargs": {"rnn_hidden_dim": 16}})[1]
    assert fixed_names(fixed) == ["learning_rate", "policy_kwargs.rnn_hidden_dim"]
    assert fixed_params(fixed) == {"learning_rate": schedule, "rnn_hidden_dim": 16}
