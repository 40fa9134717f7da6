"""Bad input to the command-line scripts (zoo/, benchmarks/) ends in one line naming the value and what is allowed,
before any work, and overwrites nothing."""

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import load_benchmark_script
from zoo import plot_heatmap, plot_train, train
from zoo.utils import add_hyperparams_flag, conf_file_entry, parse_schedule, read_run_yaml

BASE = ["--algo", "qmix", "--env", "3m"]


def _usage_error(parser: argparse.ArgumentParser, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one-line usage error (exit code 2) that ``parser`` gives for ``argv``."""
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_repeated_params_and_env_kwargs_flags_add_up(capsys):
    """Only the last -params / --env-kwargs flag was kept."""
    parser = train.build_parser()
    args = parser.parse_args(
        [*BASE, "-params", "learning_rate:0.123", "-params", "batch_size:16", "--env-kwargs", "reward_sparse:true"]
        + ["--env-kwargs", "obs_own_health:false"]
    )
    assert args.hyperparams == {"learning_rate": 0.123, "batch_size": 16}
    assert args.env_kwargs == {"reward_sparse": True, "obs_own_health": False}


@pytest.mark.parametrize(
    "flags",
    [
        ["-params", "learning_rate:0.123", "learning_rate:0.5"],
        ["-params", "learning_rate:0.123", "--hyperparams", "learning_rate:0.5"],
    ],
)
def test_a_key_given_again_takes_its_later_value(flags):
    """As a repeated flag does in argparse: a script appends its overrides to a base command line."""
    args = train.build_parser().parse_args([*BASE, *flags])
    assert args.hyperparams == {"learning_rate": 0.5}


def test_params_flags_with_a_dict_default_add_up_without_changing_it(capsys):
    """bench_qmix.py and zoo/benchmark.py give -params the default {}: it stays empty for the next parse."""
    default: dict = {}
    parser = argparse.ArgumentParser()
    add_hyperparams_flag(parser, "settings", default=default)
    assert parser.parse_args(["-params", "tau:0.1", "-params", "gamma:0.9"]).hyperparams == {"tau": 0.1, "gamma": 0.9}
    assert parser.parse_args([]).hyperparams == {} and default == {}
    assert parser.parse_args(["-params", "tau:0.1", "-params", "tau:0.2"]).hyperparams == {"tau": 0.2}


def test_yaml_with_a_repeated_key_is_refused_naming_the_file_and_key(tmp_path, capsys):
    """YAML keeps the last value of a repeated key silently (n_timesteps: 200, then 1e9, trained 1e9 steps)."""
    conf = tmp_path / "qmix.yml"
    conf.write_text("default:\n  n_timesteps: 200\n  gamma: 0.9\n  n_timesteps: 1e9\n")
    with pytest.raises(SystemExit, match=r"^Cannot read hyperparameters from .*qmix\.yml: the key 'n_timesteps' is "):
        conf_file_entry(conf, "3m")
    with pytest.raises(SystemExit, match=r"repeated \(lines 2 and 4\): give it once$"):
        conf_file_entry(conf, "3m")
    (tmp_path / "config.yml").write_text("epsilon: 0.1\nepsilon: 0.2\n")
    with pytest.raises(SystemExit, match=r"^Cannot read .*config\.yml: the key 'epsilon' is repeated \(lines 1 and 2"):
        read_run_yaml(tmp_path / "config.yml")
    message = _usage_error(train.build_parser(), [*BASE, "-params", "policy_kwargs:{a: 1, a: 2}"], capsys)
    assert message.endswith(
        "cannot parse the value of 'policy_kwargs' ('{a: 1, a: 2}'): the key 'a' is repeated: give it once"
    )
    merged = tmp_path / "merged.yml"  # a merge key's values may still be overridden
    merged.write_text("default: &d\n  n_timesteps: 200\n  gamma: 0.9\n3m:\n  <<: *d\n  n_timesteps: 300\n")
    assert conf_file_entry(merged, "3m") == {"n_timesteps": 300, "gamma": 0.9}


def test_unreadable_yaml_is_one_line(tmp_path):
    """A YAML syntax error printed 7 lines; a file that is not UTF-8 a UnicodeDecodeError traceback."""
    conf = tmp_path / "bad.yml"
    conf.write_text("default:\n  n_timesteps: [200\n")
    with pytest.raises(SystemExit) as exit_info:
        conf_file_entry(conf, "3m")
    assert str(exit_info.value) == (
        f"Cannot read hyperparameters from {conf}: while parsing a flow sequence: expected ',' or ']', but got "
        "'<stream end>' (line 3, column 1)"
    )
    conf.write_bytes(b"\xff\xfe default: {}")
    with pytest.raises(SystemExit, match=r"^Cannot read hyperparameters from .*bad\.yml: 'utf-8' codec can't decode"):
        conf_file_entry(conf, "3m")


def test_train_checks_verbose_as_a_flag(capsys):
    """--verbose -3 was blamed on the yaml: 'QMIX refuses its settings: verbose=-3 ... (settings from qmix.yml)'."""
    parser = train.build_parser()
    with pytest.raises(SystemExit):
        train.check_args(parser, parser.parse_args([*BASE, "--verbose", "-3"]))
    assert capsys.readouterr().err.strip().endswith("--verbose must be >= 0 (0: quiet, 1: info, 2: debug), got -3")


def test_a_schedule_of_nan_names_the_schedule_format():
    """lin_nan reached QMIX, whose message read 'must be a finite number finite'."""
    for value in ("lin_nan", "lin_inf"):
        with pytest.raises(
            SystemExit, match=rf"^Cannot parse the schedule learning_rate: '{value}' \(expected lin_<v> "
        ):
            parse_schedule("learning_rate", value)


def test_a_tensorboard_folder_that_cannot_be_made_is_named_and_the_run_folder_released(tmp_path, monkeypatch):
    """-tb /proc/xyz passed check_args (as root) and failed in Stable-Baselines3's logger with a traceback."""
    monkeypatch.setattr(train, "unwritable_folder", lambda path: None)  # what check_args cannot foresee
    argv = [*BASE, "-f", str(tmp_path), "-n", "1", "--eval-freq", "-1", "--verbose", "0", "-tb", "/proc/xyz"]
    with pytest.raises(SystemExit, match=r"^-tb/--tensorboard-log /proc/xyz: cannot create the TensorBoard folder "):
        train.main(argv)
    assert list((tmp_path / "qmix").iterdir()) == []  # no run folder left


# ---------------------------------------------------------------------------------------------------------------------
# benchmarks/bench_qmix.py and bench_env.py
@pytest.fixture(scope="module")
def bench_qmix():  # noqa: ANN201
    return load_benchmark_script("bench_qmix")


def _bench_qmix_error(bench_qmix, monkeypatch, capsys, argv: list[str]) -> str:  # noqa: ANN001
    """bench_qmix's one-line usage error for ``argv``, refused before any update timing or training."""
    monkeypatch.setattr(bench_qmix, "time_update", lambda *args: pytest.fail("timed before checking the flags"))
    monkeypatch.setattr(bench_qmix, "train_and_test", lambda *args: pytest.fail("trained before checking the flags"))
    with pytest.raises(SystemExit) as exit_info:
        bench_qmix.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_bench_qmix_refuses_save_folders_that_would_lose_models(bench_qmix, monkeypatch, capsys, tmp_path):
    """A second run into a --save-folder overwrote 3m_seed0.zip; a file as --save-folder failed after training."""
    (tmp_path / "file").write_text("")
    models = tmp_path / "models"
    models.mkdir()
    (models / "3m_seed0.zip").write_text("an earlier model")
    (models / "3m_seed1_best.zip").write_text("an earlier best-eval model")
    base = ["--maps", "3m", "--timesteps", "100"]
    message = _bench_qmix_error(bench_qmix, monkeypatch, capsys, [*base, "--save-folder", str(tmp_path / "file")])
    assert message.endswith(f"--save-folder '{tmp_path / 'file'}': {tmp_path / 'file'} is a file, not a folder")
    message = _bench_qmix_error(
        bench_qmix, monkeypatch, capsys, [*base, "--seeds", "0", "1", "--save-folder", str(models)]
    )
    assert message.endswith(f"--save-folder '{models}' already holds 3m_seed0.zip: pick another folder or delete them")
    argv = [*base, "--seeds", "0", "1", "--eval-freq", "50", "--save-folder", str(models)]
    assert "already holds 3m_seed0.zip, 3m_seed1_best.zip: " in _bench_qmix_error(bench_qmix, monkeypatch, capsys, argv)
    assert (models / "3m_seed0.zip").read_text() == "an earlier model"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0", "0"], "--seeds 0 0: [0] given more than once; give each once"),
        (["--maps", "3m", "2s3z", "3m"], "--maps 3m 2s3z 3m: ['3m'] given more than once; give each once"),
    ],
)
def test_bench_qmix_refuses_repeated_seeds_and_maps(bench_qmix, monkeypatch, capsys, argv, message):
    """--seeds 0 0 trained the same model twice (and saved it over itself)."""
    assert _bench_qmix_error(bench_qmix, monkeypatch, capsys, argv).endswith(message)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("bogus", "Invalid --device 'bogus': "),
        ("meta", "--device 'meta': device='meta' holds no data"),
        pytest.param(
            "cuda",
            "--device 'cuda': this machine has 0 CUDA device(s); use cpu or auto",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA"),
        ),
    ],
)
def test_bench_env_checks_the_device(capsys, device, message):
    """--device was not checked: bogus failed in the first env (ValueError), cuda without CUDA in torch's memory
    statistics (AttributeError _cuda_resetPeakMemoryStats)."""
    bench_env = load_benchmark_script("bench_env")
    parser = bench_env.build_parser()
    with pytest.raises(SystemExit):
        bench_env.check_args(parser, parser.parse_args(["--device", device]))
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------------
# zoo/plot_train.py on hand-edited run files
def _run_file(folder: Path, **arrays: np.ndarray) -> Path:
    """``<folder>/qmix/3m_1/evaluations.npz`` holding ``arrays`` (two episodes per evaluation by default)."""
    run = folder / "qmix" / "3m_1"
    run.mkdir(parents=True)
    n = len(arrays["timesteps"])
    defaults = {"results": np.ones((n, 2)), "wins": np.ones((n, 2), dtype=bool)}
    np.savez(run / "evaluations.npz", **{**defaults, **arrays})
    return run


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"timesteps": np.array([100, 200, 300]), "results": np.ones((2, 2)), "wins": np.ones((2, 2), dtype=bool)},
            "wins has shape (2, 2): expected (evaluations, episodes) = (3, >= 1) as timesteps has 3 evaluations",
        ),
        (
            {"timesteps": np.array([100, 200, 300]), "results": np.ones((2, 2))},
            "results has shape (2, 2): expected (evaluations, episodes) = (3, >= 1)",
        ),
        (
            {"timesteps": np.array([100, 300, 200])},
            "timesteps are not strictly increasing: evaluation 2 at step 300, evaluation 3 at step 200",
        ),
        (
            {"timesteps": np.array([100, 200, 200])},
            "timesteps are not strictly increasing: evaluation 2 at step 200, evaluation 3 at step 200",
        ),
        (
            {"timesteps": np.array([[100, 200], [300, 400]])},
            "timesteps has shape (2, 2): expected the env step of each evaluation (1-D)",
        ),
        ({"timesteps": np.array([100.0, np.nan])}, "timesteps holds NaN or inf"),
        ({"timesteps": np.array(["a", "b"])}, "is not an array of numbers"),
    ],
)
def test_plot_train_checks_the_evaluation_arrays(tmp_path, arrays, message):
    """A hand-edited evaluations.npz gave an IndexError / ValueError traceback or a silently wrong curve."""
    run = _run_file(tmp_path, **arrays)
    with pytest.raises(SystemExit) as exit_info:
        plot_train.load_runs(tmp_path, "qmix", "3m")
    assert str(exit_info.value).startswith(f"Cannot read {run / 'evaluations.npz'}: ")
    assert message in str(exit_info.value) and "\n" not in str(exit_info.value)


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        ("eval_attack: fgsm\neval_epsilon: abc\n", None, "args.yml: eval_epsilon='abc' must be a finite number > 0"),
        ("eval_attack: fgsm\n", "epsilon: [1, 2]\n", "config.yml: epsilon=[1, 2] must be a finite number > 0"),
    ],
)
def test_plot_train_names_a_budget_that_is_no_number(tmp_path, args, config, message):
    """eval_epsilon: abc gave a ValueError traceback, epsilon: [1, 2] a TypeError one."""
    run = _run_file(tmp_path, timesteps=np.array([100, 200]))
    (run / "3m").mkdir()
    (run / "3m" / "args.yml").write_text(args)
    if config is not None:
        (run / "3m" / "config.yml").write_text(config)
    with pytest.raises(SystemExit, match=f"^{run / '3m'}/"):
        plot_train.load_runs(tmp_path, "qmix", "3m")
    with pytest.raises(SystemExit) as exit_info:
        plot_train.load_runs(tmp_path, "qmix", "3m")
    assert str(exit_info.value).endswith(f"{message} (the attack's budget)")
    (run / "3m" / "args.yml").write_text("eval_attack: fgsm\neval_epsilon: 1e-1\n")  # YAML 1.1 reads a string
    assert plot_train.load_runs(tmp_path, "qmix", "3m")[0]["evaluation"] == "under fgsm ε=0.1"


# ---------------------------------------------------------------------------------------------------------------------
# zoo/plot_heatmap.py
@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (b'{"a": {"x": 0.5\xff}}', "win_rate", "Cannot read results JSON {path}: 'utf-8' codec can't decode byte 0xff"),
        (b'{"a": {"x": 1e308, "y": -1e308}}', "win_rate", "{path}: the win_rate values range from -1e+308 to 1e+308"),
        (b'{"a": {"x": Infinity, "y": 0.5}}', "win_rate", "{path} [a][x]: expected a finite number"),
        (b'{"a": {"x": 1e400, "y": 0.5}}', "win_rate", "{path} [a][x]: expected a finite number"),
        (
            b'{"a": {"x": 0.5, "y": {"mean_reward": 3}}}',
            "mean_reward",
            "{path} [a][x] is a plain number, taken as a win_rate: -k/--key mean_reward applies to cells that are",
        ),
    ],
)
def test_plot_heatmap_refuses_values_it_cannot_plot(tmp_path, text, key, message):
    """Non-UTF-8 gave a UnicodeDecodeError, +-1e308 matplotlib's 'Axis limits cannot be NaN or Inf', Infinity and 1e400
    a blank 'inf' cell; -k mean_reward plotted plain win rates under a mean_reward colour bar."""
    path = tmp_path / "results.json"
    path.write_bytes(text)
    with pytest.raises(SystemExit) as exit_info:
        plot_heatmap.main([str(path), "-k", key, "-o", str(tmp_path / "h.png")])
    assert str(exit_info.value).startswith(message.format(path=path))
    assert not (tmp_path / "h.png").exists()


@pytest.mark.parametrize("output", [None, "results.png"])
def test_plot_heatmap_never_writes_over_its_input(tmp_path, monkeypatch, capsys, output):
    """A results file named *.png was replaced by its own heatmap (the default output: the name with .png)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "results.png"
    path.write_text('{"qmix": {"none": 1.0}}')
    with pytest.raises(SystemExit) as exit_info:
        plot_heatmap.main([str(path), *(["-o", output] if output else [])])
    assert exit_info.value.code == 2
    assert "is the results file itself: pass another -o/--output" in capsys.readouterr().err
    assert path.read_text() == '{"qmix": {"none": 1.0}}'
