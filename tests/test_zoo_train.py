"""End-to-end runs of zoo/train.py and zoo/enjoy.py on tiny budgets (3m, a few hundred env steps)."""

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
import torch
import yaml

from sb3_marl.envs.sc2_backend import SC2NotAvailableError, load_starcraft2_env_class
from sb3_marl.qmix import QMIX
from zoo import enjoy, train
from zoo.utils import ALGOS, get_latest_run_id, set_num_threads

REPO = Path(__file__).resolve().parent.parent

#: small buffers and batches so that training starts within the tiny budgets
#: small buffers; no final-network choice (qmix.yml's 64 validation games per candidate would be most of a test's time)
TINY = [
    "-params",
    "buffer_size:64",
    "batch_size:4",
    "exploration_timesteps:200",
    "target_update_interval:5",
    "final_selection_episodes:0",
]


def _train(tmp_path: Path, *extra: str, algo: str = "qmix", params: tuple[str, ...] = ()) -> None:
    """``zoo/train.py`` on 3m with the TINY settings and ``params`` (more ``key:value`` of ``-params``)."""
    torch.set_num_threads(1)
    argv = ["--algo", algo, "--env", "3m", "-f", str(tmp_path), "--n-envs", "2", "--verbose", "0", *extra, *TINY]
    train.main([*argv, *params])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """One qmix run on 3m: 600 steps, evaluation and checkpoint every 300, replay buffer saved."""
    folder = tmp_path_factory.mktemp("logs")
    _train(
        folder,
        "-n",
        "600",
        "--seed",
        "3",
        "--eval-freq",
        "300",
        "--eval-episodes",
        "2",
        "--save-freq",
        "300",
        "--save-replay-buffer",
    )
    return folder


def test_train_writes_the_zoo_layout(trained_run):
    run = trained_run / "qmix" / "3m_1"
    for name in [
        "3m.zip",
        "best_model.zip",
        "evaluations.npz",
        "replay_buffer.pkl",
        "rl_model_300_steps.zip",
        "3m/config.yml",
        "3m/args.yml",
        "3m/command.txt",
    ]:
        assert (run / name).is_file(), name
    assert (run / "rl_model_replay_buffer_300_steps.pkl").is_file()
    config = yaml.safe_load((run / "3m" / "config.yml").read_text())
    args = yaml.safe_load((run / "3m" / "args.yml").read_text())
    assert config["n_timesteps"] == 600 and config["buffer_size"] == 64 and config["n_envs"] == 2
    assert config["policy_kwargs"] == {"rnn_hidden_dim": 64, "mixing_embed_dim": 32, "hypernet_embed": 64}
    assert args["seed"] == 3 and args["algo"] == "qmix"
    with np.load(run / "evaluations.npz") as data:
        # evaluations at 300 and 600 env steps (after the rollout that crosses each), 2 episodes each
        assert len(data["timesteps"]) == 2 and data["results"].shape == (2, 2)
        assert 300 <= data["timesteps"][0] < 600 <= data["timesteps"][1]
    assert list(run.rglob("events.out.tfevents.*")), "no TensorBoard events in the run folder"
    model = ALGOS["qmix"].load().load(run / "3m.zip")
    assert model.num_timesteps >= 600


def test_random_seed_is_drawn_and_saved(tmp_path):
    seeds = []
    for run in (1, 2):
        _train(tmp_path, "-n", "100", "--eval-freq", "-1")
        seeds.append(yaml.safe_load((tmp_path / "qmix" / f"3m_{run}" / "3m" / "args.yml").read_text())["seed"])
        model = ALGOS["qmix"].load().load(tmp_path / "qmix" / f"3m_{run}" / "3m.zip")
        assert model.seed == seeds[-1]  # the run used the seed it saved
    assert all(isinstance(seed, int) and seed >= 0 for seed in seeds) and seeds[0] != seeds[1]


def test_resume_with_trained_agent_continues_the_step_count(trained_run, tmp_path):
    """``-i`` continues the step count and takes ``--seed`` and the ``-params`` settings (as RL Zoo does)."""
    checkpoint = trained_run / "qmix" / "3m_1" / "rl_model_300_steps.zip"
    _train(tmp_path, "-n", "200", "--seed", "4", "--eval-freq", "-1", "-i", str(checkpoint))
    model = ALGOS["qmix"].load().load(tmp_path / "qmix" / "3m_1" / "3m.zip")
    assert model.num_timesteps >= 500 and model.seed == 4
    params = ("gamma:0.5", "batch_size:2", "huber_delta:1.0")
    _train(tmp_path, "-n", "20", "--eval-freq", "-1", "-i", str(checkpoint), params=params)
    model = ALGOS["qmix"].load().load(tmp_path / "qmix" / "3m_2" / "3m.zip")
    assert (model.gamma, model.batch_size, model.huber_delta) == (0.5, 2, 1.0)
    _train(tmp_path, "-n", "20", "--eval-freq", "-1", "-i", str(tmp_path / "qmix" / "3m_2" / "3m.zip"))
    config = yaml.safe_load((tmp_path / "qmix" / "3m_3" / "3m" / "config.yml").read_text())
    model = ALGOS["qmix"].load().load(tmp_path / "qmix" / "3m_3" / "3m.zip")
    # a setting of the first continuation that the yaml leaves out carries over, and config.yml records it (it did
    # not); those the yaml sets are the yaml's (gamma, as RL Zoo)
    assert model.huber_delta == config["huber_delta"] == 1.0 and model.gamma == config["gamma"] == 0.99
    assert "seed" not in config and "env_kwargs" not in config and config["n_envs"] == 2
    # with a shared -tb folder each run, continued or not, writes its own <AlgoClass>_<k>
    board = tmp_path / "tb"
    _train(tmp_path, "-n", "20", "--eval-freq", "-1", "-tb", str(board))
    _train(tmp_path, "-n", "20", "--eval-freq", "-1", "-tb", str(board), "-i", str(checkpoint))
    runs = sorted(path.parent.name for path in board.rglob("events.out.tfevents.*"))
    assert runs == ["QMIX_1", "QMIX_2"]


def test_a_model_of_another_algorithm_or_a_corrupt_one_is_refused_by_train_and_enjoy(tmp_path):
    """The robust algorithms subclass QMIX: ``--algo qmix -i <fgsm model>`` trained the fgsm model under qmix/ (and
    wrote a config.yml that did not load back); enjoy played it, and a corrupt file ended in a traceback."""
    from sb3_marl import RobustQMIXFGSM
    from sb3_marl.envs import make_env

    robust = RobustQMIXFGSM(make_env("3m", n_envs=2, seed=0), seed=0, batch_size=4, buffer_size=8, device="cpu")
    path = robust.save(tmp_path / "elsewhere" / "fgsm_3m.zip")
    message = r"holds a 'RobustQMIXFGSM' model \(its --algo is fgsm\), not a QMIX one as --algo qmix needs"
    with pytest.raises(SystemExit, match=message):
        _train(tmp_path, "-n", "20", "--eval-freq", "-1", "-i", str(path))
    assert not (tmp_path / "qmix").exists() or not any((tmp_path / "qmix").iterdir())  # no run folder left
    run = tmp_path / "played" / "qmix" / "3m_1"
    run.mkdir(parents=True)
    (run / "3m.zip").write_bytes(path.read_bytes())
    base = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path / "played"), "-n", "1", "--no-render"]
    with pytest.raises(SystemExit, match="--algo qmix: .*" + message):
        enjoy.enjoy(base)
    (run / "3m.zip").write_bytes(b"not a zip")
    with pytest.raises(SystemExit, match=r"--algo qmix: .*3m.zip is not a valid sb3-marl model file"):
        enjoy.enjoy(base)
    from tests.helpers import rewrite_data

    rewrite_data(path, run / "3m.zip", lambda data: [1, 2])  # settings that are no mapping: load's own message
    with pytest.raises(SystemExit, match=r"--algo qmix: .*3m.zip is not an sb3-marl model file: its settings lack"):
        enjoy.enjoy(base)
    (run / "3m").mkdir()
    (run / "3m" / "config.yml").write_text("a: [")  # a broken run file: one line, not a yaml traceback
    with pytest.raises(SystemExit, match=r"Cannot read .*config.yml"):
        enjoy.enjoy(base)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("env_kwargs: [1, 2]", "env_kwargs=[1, 2] must be a mapping of make_env keywords (or null)"),
        ("epsilon: abc", "epsilon='abc' must be a finite number >= 0 (the run's attack budget; 0: the paper's)"),
        ("epsilon: -0.5", "epsilon=-0.5 must be a finite number >= 0 (the run's attack budget; 0: the paper's)"),
    ],
)
def test_enjoy_names_the_config_yml_setting_it_cannot_play_by(tmp_path, setting, message):
    """A hand-edited config.yml failed in the middle of playing: "'list' object has no attribute 'items'", "'<=' not
    supported between instances of 'str' and 'int'", or "Attack epsilon must be > 0, got -0.5" naming no file."""
    run = tmp_path / "qmix" / "3m_1"
    (run / "3m").mkdir(parents=True)
    (run / "3m.zip").write_bytes(b"not read: the settings are checked first")
    config = run / "3m" / "config.yml"
    config.write_text(f"batch_size: 4\n{setting}\n")
    with pytest.raises(SystemExit) as exit_info:
        enjoy.enjoy(
            ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-n", "1", "--no-render", "--attack", "fgsm"]
        )
    assert str(exit_info.value) == f"{config}: {message}"


def test_config_yml_records_what_a_continued_run_trains_with(tmp_path, capsys):
    """-i with a replay buffer of another capacity: the model takes the buffer's, config.yml said the yaml's."""
    _train(tmp_path, "-n", "60", "--eval-freq", "-1", "--save-replay-buffer", params=("buffer_size:100",))
    _train(tmp_path, "-n", "20", "--eval-freq", "-1", "-i", str(tmp_path / "qmix" / "3m_1" / "3m.zip"))
    config = yaml.safe_load((tmp_path / "qmix" / "3m_2" / "3m" / "config.yml").read_text())
    assert config["buffer_size"] == QMIX.load(tmp_path / "qmix" / "3m_2" / "3m.zip").buffer_size == 100


def test_train_refuses_unusable_folders_and_private_or_non_path_settings_in_one_line(tmp_path, capsys):
    """A file as -f / -tb, ``pretrained:5`` and ``_init_setup_model:false`` ended in tracebacks (the last one after
    building a model without networks)."""
    (tmp_path / "a_file").write_text("")
    for flag in ("-f", "-tb"):
        with pytest.raises(SystemExit):
            _train(tmp_path / "logs", "--eval-freq", "-1", flag, str(tmp_path / "a_file"))
        assert "a_file is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit, match=r"Unknown hyperparameter '_init_setup_model' for QMIX \(from -params\)"):
        _train(tmp_path, "--eval-freq", "-1", params=("_init_setup_model:false",))
    with pytest.raises(SystemExit, match=r"pretrained=5 \(from -params or .*\) must be the path of a QMIX .zip"):
        _train(tmp_path, "--eval-freq", "-1", algo="regularized", params=("pretrained:5",))


def test_train_notes_flags_that_the_others_make_do_nothing(tmp_path, capsys):
    """-params policy_kwargs replaces the yaml's mapping (RL Zoo's rule) and says which sizes it drops; evaluation
    flags with --eval-freq <= 0 and tuning flags without -optimize were silent."""
    conf = tmp_path / "conf.yml"
    conf.write_text("3m:\n  n_timesteps: 20\n  policy_kwargs: {rnn_hidden_dim: 8, hypernet_embed: 8}\n")
    argv = ("--eval-freq", "-1", "--eval-attack", "fgsm", "--n-trials", "3", "--storage", str(tmp_path / "s.log"))
    _train(tmp_path, "-conf", str(conf), *argv, params=("policy_kwargs:{mixing_embed_dim: 8}",))
    out = capsys.readouterr().out
    assert "Note: -params policy_kwargs replaces the whole mapping of" in out
    assert "{'rnn_hidden_dim': 8, 'hypernet_embed': 8} are not used" in out
    assert "Note: --n-trials, --storage only apply to -optimize (an Optuna study): unused" in out
    assert "Note: --eval-freq -1 turns evaluations off: --eval-attack unused" in out
    assert not (tmp_path / "s.log").exists()


def test_resume_in_another_game_than_the_model_files_says_so(trained_run, tmp_path, capsys):
    """``-i`` plays the run's env settings; a note names them where the model file records others."""
    checkpoint = trained_run / "qmix" / "3m_1" / "rl_model_300_steps.zip"
    _train(tmp_path, "-n", "20", "--eval-freq", "-1", "-i", str(checkpoint))
    assert "Continuing in this run's env settings" not in capsys.readouterr().out
    _train(tmp_path, "-n", "20", "--eval-freq", "-1", "-i", str(checkpoint), "--env-kwargs", "reward_sparse:true")
    out = capsys.readouterr().out
    assert "Continuing in this run's env settings {'reward_sparse': True}; the model file records {}" in out
    model = ALGOS["qmix"].load().load(tmp_path / "qmix" / "3m_2" / "3m.zip")
    assert model.env_kwargs == {"reward_sparse": True}  # the continued model records the game it now trained in


def test_run_folders_are_claimed_once_and_only_for_accepted_settings(tmp_path):
    with pytest.raises(SystemExit, match=r"tau=5.* \(tau from -params\)"):
        _train(tmp_path, "-n", "100", "--eval-freq", "-1", params=("tau:5",))
    assert not list(tmp_path.rglob("3m_*"))  # a refused setting leaves no empty run folder
    with pytest.raises(SystemExit, match="n_timesteps='abc' must be an integer >= 1"):
        train.main(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-params", "n_timesteps:abc"])
    from zoo.exp_manager import ExperimentManager

    atla_args = ["--algo", "atla", "--env", "3m", "-f", str(tmp_path), "--seed", "0"]
    atla = ExperimentManager(train.build_parser().parse_args(atla_args))
    model = atla.setup_experiment()
    assert model.tensorboard_log == model.adversary.tensorboard_log == str(tmp_path / "atla" / "3m_1")
    args = train.build_parser().parse_args(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path)])
    first, second = ExperimentManager(args), ExperimentManager(args)  # two runs started together
    first._claim_run_folder()
    second._claim_run_folder()
    assert (first.save_path.name, second.save_path.name) == ("3m_1", "3m_2")
    assert first.params_path.is_dir() and second.params_path.is_dir()
    tagged = ExperimentManager(
        train.build_parser().parse_args(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-uuid"])
    )
    tagged._claim_run_folder()  # RL Zoo's --uuid: <map>_<next id>_<uuid4>, not counted as an id afterwards
    assert re.fullmatch(r"3m_3_[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", tagged.save_path.name)
    assert tagged.params_path == tagged.save_path / "3m" and tagged.params_path.is_dir()
    assert get_latest_run_id(tmp_path / "qmix", "3m") == 2


def test_a_setting_refused_at_the_start_of_training_leaves_no_run_folder(tmp_path, capsys):
    # what learn() refuses at its start is refused with the model's settings, in one line
    with pytest.raises(SystemExit, match=r"batch_size=4 exceeds buffer_size=2"):
        _train(tmp_path, "-n", "40", "--eval-freq", "-1", params=("buffer_size:2",))
    assert not list(tmp_path.rglob("3m_*"))
    with pytest.raises(SystemExit, match="mirror_augmentation needs a map symmetric"):
        _train(tmp_path, "-n", "40", "--eval-freq", "-1", params=("mirror_augmentation:true",))
    assert not list(tmp_path.rglob("3m_*"))
    with pytest.raises(SystemExit):
        _train(tmp_path, "-n", "40", "--eval-attack", "fgsm", "--eval-epsilon", "0")
    assert "--eval-epsilon must be a finite number > 0, got 0.0" in capsys.readouterr().err
    with pytest.raises(SystemExit, match=r"\['device', 'seed'\] .* are set by the command line.*--device, --seed"):
        _train(tmp_path, "-n", "40", params=("device:cpu", "seed:3"))
    with pytest.raises(SystemExit, match=r"Unknown SMACSimulator keyword\(s\) \['rewad_sparse'\]"):
        _train(tmp_path, "-n", "40", "--env-kwargs", "rewad_sparse:true")
    with pytest.raises(SystemExit, match=r"policy_kwargs=5 \(from -params\) must be a mapping"):
        _train(tmp_path, "-n", "40", params=("policy_kwargs:5",))
    assert not list(tmp_path.rglob("3m_*"))


def test_settings_the_algorithm_refuses_end_in_one_line_and_leave_no_run_folder(trained_run, tmp_path, monkeypatch):
    """A value the algorithm refuses (-params gamma:1.5, batch_size over buffer_size), an -i model of another
    algorithm or map, --compile without a C++ compiler: each ended in the algorithm's (or env's) traceback."""
    import sb3_marl.envs.simulator as simulator

    checkpoint = str(trained_run / "qmix" / "3m_1" / "rl_model_300_steps.zip")
    for extra, params, message in [
        ((), ("gamma:1.5",), r"^QMIX refuses its settings: gamma=1.5 must be a finite number in \[0, 1\] \(gamma from"),
        ((), ("batch_size:64", "buffer_size:32"), r"batch_size=64 exceeds buffer_size=32: .*\(batch_size from -params"),
        (
            ("--algo", "fgsm", "-i", checkpoint),
            (),
            r"^-i .*rl_model_300_steps.zip \(--algo fgsm, --env 3m\): .* holds a 'QMIX' model \(its --algo is "
            r"qmix\), not a RobustQMIXFGSM one",
        ),
        (("--env", "8m", "-i", checkpoint), (), r"\(--algo qmix, --env 8m\): Env '8m' has shapes .* built for '3m'"),
    ]:
        with pytest.raises(SystemExit, match=message) as exit_info:
            _train(tmp_path, "-n", "40", "--eval-freq", "-1", *extra, params=params)
        assert "\n" not in str(exit_info.value)
        assert not [path for path in tmp_path.rglob("*") if path.is_file() or "_" in path.name]  # no run folder
    message = "compile=True needs a C++ compiler on this machine (torch.compile's CPU backend builds C++): none found"

    def no_compiler():
        raise RuntimeError(message)

    monkeypatch.setattr(simulator, "_check_cpp_compiler", no_compiler)
    with pytest.raises(SystemExit, match=re.escape(f"--compile: {message}")):
        _train(tmp_path, "-n", "40", "--compile")
    assert not [path for path in tmp_path.rglob("*") if path.is_file() or "_" in path.name]
    monkeypatch.undo()
    process = subprocess.run(
        [sys.executable, "zoo/train.py", "--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-params", "gamma:1.5"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert process.returncode == 1 and "Traceback" not in process.stderr
    assert process.stderr.strip().splitlines() == [
        "QMIX refuses its settings: gamma=1.5 must be a finite number in [0, 1] (gamma from -params)"
    ]
    # errors of the training itself are not turned into one line
    monkeypatch.setattr(QMIX, "learn", lambda *args, **kwargs: (_ for _ in ()).throw(ValueError("diverged")))
    with pytest.raises(ValueError, match="diverged"):
        _train(tmp_path, "-n", "40", "--eval-freq", "-1")


def test_n_timesteps_and_n_envs_are_the_yamls_or_at_least_one(tmp_path, capsys):
    """-n 0, -n -5, --n-envs 0, --n-envs -3 were replaced by the yaml's values without a word."""
    for flag, value in (("-n", "0"), ("-n", "-5"), ("--n-envs", "0"), ("--n-envs", "-3")):
        with pytest.raises(SystemExit) as exit_info:
            train.main(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), flag, value])
        name = "-n/--n-timesteps" if flag == "-n" else flag
        assert exit_info.value.code == 2
        assert f"{name} must be >= 1 or -1 (the yaml's), got {value}" in capsys.readouterr().err
    parser = train.build_parser()
    for flags in (["-n", "-1", "--n-envs", "-1"], ["-n", "1", "--n-envs", "1"]):
        train.check_args(parser, parser.parse_args(["--algo", "qmix", "--env", "3m", *flags]))
    assert not list(tmp_path.iterdir())


def test_resume_names_where_an_architecture_setting_it_keeps_came_from(trained_run, tmp_path, capsys):
    """-i keeps the model's network settings; the note blamed the yaml for a -params value too."""
    from zoo.exp_manager import ExperimentManager

    checkpoint = str(trained_run / "qmix" / "3m_1" / "rl_model_300_steps.zip")
    base = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--n-envs", "2", "--seed", "0", "-i", checkpoint]
    conf = tmp_path / "qmix.yml"
    conf.write_text("3m:\n  n_timesteps: 100\n  buffer_size: 64\n  batch_size: 4\n  mixer: vdn\n")
    for flags, note in [
        (["-params", "policy_kwargs:{rnn_hidden_dim: 32}"], "(-params says {'rnn_hidden_dim': 32})"),
        (["-conf", str(conf)], f"(the yaml {conf} says 'vdn')"),
    ]:
        manager = ExperimentManager(train.build_parser().parse_args([*base, *flags]))
        manager.close(manager.setup_experiment())
        assert "Keeping the loaded model's" in (out := capsys.readouterr().out) and note in out


def test_env_kwargs_flag_adds_to_the_yamls_env_kwargs(tmp_path):
    _train(tmp_path, "-n", "40", "--eval-freq", "-1", "--env-kwargs", "reward_sparse:true", "reward_win:1e2")
    config = yaml.safe_load((tmp_path / "qmix" / "3m_1" / "3m" / "config.yml").read_text())
    assert config["env_kwargs"] == {"reward_sparse": True, "reward_win": 100.0}
    # the model file records them too (before: only config.yml did), so a map name loads it into its game
    model = QMIX.load(tmp_path / "qmix" / "3m_1" / "3m.zip", env="3m")
    assert model.env_kwargs == model.get_env().env_kwargs == {"reward_sparse": True, "reward_win": 100.0}


def test_log_interval_sets_how_often_the_logs_are_dumped(tmp_path, capsys):
    _train(tmp_path, "-n", "200", "--eval-freq", "-1", "--verbose", "1", "--log-interval", "1")
    frequent = capsys.readouterr().out.count("total_timesteps")
    _train(tmp_path, "-n", "200", "--eval-freq", "-1", "--verbose", "1", "--log-interval", "50")
    assert frequent > 1 and capsys.readouterr().out.count("total_timesteps") == 0
    with pytest.raises(SystemExit):
        _train(tmp_path, "-n", "60", "--log-interval", "0")
    assert "--log-interval must be >= 1 or -1" in capsys.readouterr().err


def test_evaluation_attack_budget_and_env_closing(tmp_path, monkeypatch):
    """--eval-attack uses the paper's budget on 2s3z when the algorithm has none; train closes its envs."""
    from zoo import exp_manager

    parse = train.build_parser().parse_args
    manager = exp_manager.ExperimentManager(parse(["--algo", "qmix", "--env", "2s3z", "--eval-attack", "fgsm"]))
    assert manager.eval_attack().epsilon == 0.05
    closed = []
    monkeypatch.setattr(exp_manager, "_close_env", lambda env: closed.append(type(env).__name__))
    _train(tmp_path, "-n", "40", "--eval-freq", "20", "--eval-episodes", "1")
    assert closed == ["SMACSimulator", "SMACSimulator"]  # the evaluation env, then the training env


def test_n_eval_envs_sets_the_evaluation_batch(tmp_path, monkeypatch, capsys):
    """--n-eval-envs sizes the evaluation env (default: the training's n_envs, at most --eval-episodes)."""
    from zoo import exp_manager

    parse = train.build_parser().parse_args
    sizes = [
        exp_manager.ExperimentManager(parse(["--algo", "qmix", "--env", "3m", *flags])).n_eval_envs
        for flags in ([], ["--eval-episodes", "5"], ["--n-eval-envs", "3"], ["--n-envs", "2", "--n-eval-envs", "16"])
    ]
    assert sizes == [8, 5, 3, 16]  # hyperparams/qmix.yml: n_envs 8 on 3m
    evaluated = []
    monkeypatch.setattr(exp_manager, "_close_env", lambda env: evaluated.append(env.n_envs))
    _train(tmp_path, "-n", "40", "--eval-freq", "20", "--eval-episodes", "3", "--n-eval-envs", "3")
    assert evaluated == [3, 2]  # the evaluation env, then the training env (--n-envs 2)
    for value, message in [
        ("0", "--n-eval-envs must be >= 1 or -1 (as many as training), got 0"),
        ("-2", "--n-eval-envs must be >= 1 or -1 (as many as training), got -2"),
        ("4", "--n-eval-envs 4 is more than --eval-episodes 3"),
    ]:
        with pytest.raises(SystemExit):
            _train(tmp_path, "-n", "40", "--eval-episodes", "3", "--n-eval-envs", value)
        assert message in capsys.readouterr().err


def test_optuna_prunes_a_trial_whose_settings_fail(tmp_path, monkeypatch):
    from zoo import exp_manager

    args = train.build_parser().parse_args(
        ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-optimize", "-n", "100", "--eval-episodes", "1"]
    )
    args.seed = 0
    monkeypatch.setitem(exp_manager.HYPERPARAMS_SAMPLER, "qmix", lambda trial, augmentations: {"tau": 5.0})
    with pytest.raises(optuna.TrialPruned, match="tau=5"):
        exp_manager.ExperimentManager(args).objective(optuna.trial.FixedTrial({}))


def test_a_trial_is_scored_on_the_network_learn_kept(tmp_path, monkeypatch):
    """With final_selection_episodes, learn() may end by keeping another network than the one the trial's last
    evaluation (inside training) tested: the trial was scored on the network the model dropped."""
    from sb3_marl.qmix import QMIX
    from zoo import callbacks, exp_manager

    args = train.build_parser().parse_args(
        [
            "--algo",
            "qmix",
            "--env",
            "3m",
            "-f",
            str(tmp_path),
            "-optimize",
            "-n",
            "100",
            "--eval-episodes",
            "1",
            "--n-evaluations",
            "2",
        ]
    )
    args.seed = 0
    monkeypatch.setitem(exp_manager.HYPERPARAMS_SAMPLER, "qmix", lambda trial, augmentations: {})
    monkeypatch.setattr(
        QMIX, "_on_learn_end", lambda model, n_updates, log_interval: setattr(model, "final_selection", ("target", {}))
    )
    reports = []

    def evaluate(callback, report=True):  # the evaluations during training see the online network (0.5)
        reports.append(report)
        callback.last_win_rate = 0.5 if report else 0.25
        callback.eval_idx += report
        return callback.last_win_rate

    monkeypatch.setattr(callbacks.TrialEvalCallback, "evaluate", evaluate)
    assert exp_manager.ExperimentManager(args).objective(optuna.trial.FixedTrial({})) == 0.25
    assert reports[-1] is False and reports.count(False) == 1  # one more evaluation, not reported to the pruner


def test_enjoy_names_the_agent_network_a_model_kept(trained_run, tmp_path, capsys):
    """A model that kept a weight average or the target network at the end of training says so when played."""
    from sb3_marl.qmix import QMIX

    shutil.copytree(trained_run / "qmix" / "3m_1", tmp_path / "qmix" / "3m_1")
    path = tmp_path / "qmix" / "3m_1" / "3m.zip"
    model = QMIX.load(path)
    model.final_selection = ("target", {"online": 0.5, "target": 1.0})
    model.save(path)
    enjoy.enjoy(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-n", "1", "--no-render", "--verbose", "0"])
    assert "Agent network: target (kept at the end of training; validation win rates: online 0.500, target 1.000)" in (
        capsys.readouterr().out
    )


def test_a_pruned_trial_does_not_choose_its_final_network(tmp_path, monkeypatch):
    """A pruned trial's model is dropped, yet learn() played the final-network choice's validation episodes."""
    from sb3_marl.qmix import QMIX, qmix
    from zoo import exp_manager

    args = train.build_parser().parse_args(
        ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-optimize", "-n", "2000", "--eval-episodes", "1"]
    )
    args.seed, args.n_evaluations = 0, 1  # one evaluation, after a few rollouts
    sampled = {"final_selection_episodes": 2, "batch_size": 2, "learning_starts": 0}
    monkeypatch.setitem(exp_manager.HYPERPARAMS_SAMPLER, "qmix", lambda trial, augmentations: sampled)
    chosen = []
    choose = qmix.select_final_agent
    monkeypatch.setattr(qmix, "select_final_agent", lambda *a: chosen.append(1) or choose(*a))
    learned = []
    learn = QMIX.learn
    monkeypatch.setattr(QMIX, "learn", lambda model, *a, **k: learned.append(model) or learn(model, *a, **k))
    manager = exp_manager.ExperimentManager(args)
    trial = optuna.trial.FixedTrial({})
    monkeypatch.setattr(trial, "should_prune", lambda: True, raising=False)
    with pytest.raises(optuna.TrialPruned):
        manager.objective(trial)
    assert learned and learned[0]._n_updates > 0  # it trained, then was pruned at its first evaluation
    assert chosen == [] and learned[0].final_selection is None


class _ClosableEnv:
    """Stands for an env; records whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_an_optuna_trial_closes_its_evaluation_env_when_setup_fails(tmp_path, monkeypatch):
    from zoo import exp_manager

    args = train.build_parser().parse_args(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-optimize"])
    args.seed = 0
    manager = exp_manager.ExperimentManager(args)
    manager.__dict__["allowed_augmentations"] = []  # the cached property would make (and close) an env of its own
    made: list[_ClosableEnv] = []
    monkeypatch.setattr(manager, "make_env", lambda n_envs, seed: made.append(_ClosableEnv()) or made[-1])
    monkeypatch.setattr(manager, "eval_attack", lambda: sys.exit("no attack"))
    monkeypatch.setitem(exp_manager.HYPERPARAMS_SAMPLER, "qmix", lambda trial, augmentations: {})
    with pytest.raises(SystemExit, match="no attack"):
        manager.objective(optuna.trial.FixedTrial({}))
    assert [env.closed for env in made] == [True]  # the evaluation env; the training env was never made


def test_enjoy_plays_under_attack_and_writes_a_replay(trained_run, tmp_path):
    output = tmp_path / "replay.gif"
    results = enjoy.enjoy(
        [
            "--algo",
            "qmix",
            "--env",
            "3m",
            "-f",
            str(trained_run),
            "-n",
            "2",
            "--attack",
            "fgsm",
            "--output",
            str(output),
            "--verbose",
            "0",
        ]
    )
    assert 0.0 <= results["win_rate"] <= 1.0 and 0.0 < results["changed_action_rate"] <= 1.0  # FGSM acted
    import imageio.v3 as iio

    frames = iio.imread(output, index=None)
    assert frames.ndim == 4 and frames.shape[0] > 1 and frames.shape[-1] in (3, 4)


def test_enjoy_load_checkpoint_and_missing_model_errors(trained_run, capsys):
    results = enjoy.enjoy(
        [
            "--algo",
            "qmix",
            "--env",
            "3m",
            "-f",
            str(trained_run),
            "-n",
            "1",
            "--no-render",
            "--load-checkpoint",
            "300",
            "--verbose",
            "0",
        ]
    )
    assert results["changed_action_rate"] == 0.0  # no attack: nothing changed
    assert f"Loading {trained_run / 'qmix' / '3m_1' / 'rl_model_300_steps.zip'}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="available steps: \\[300"):
        enjoy.enjoy(["--algo", "qmix", "--env", "3m", "-f", str(trained_run), "--load-checkpoint", "7"])
    with pytest.raises(SystemExit, match="No trained qmix run for 2s3z"):
        enjoy.enjoy(["--algo", "qmix", "--env", "2s3z", "-f", str(trained_run)])
    run = trained_run / "qmix" / "3m_1"
    assert enjoy.model_path(run, "3m", False, None, last_checkpoint=True).name == "rl_model_600_steps.zip"
    with pytest.raises(SystemExit, match="No checkpoint rl_model_<N>_steps.zip in .*--save-freq"):
        enjoy.model_path(run / "3m", "3m", False, None, last_checkpoint=True)


def test_enjoy_exp_id_minus_one_reads_the_model_from_the_algo_folder(trained_run, tmp_path):
    """RL Zoo's ``--exp-id -1``: ``<folder>/<algo>/<map>.zip`` with no run sub-folder (rl-trained-agents' layout)."""

    flat = tmp_path / "agents"
    (flat / "qmix").mkdir(parents=True)
    shutil.copy(trained_run / "qmix" / "3m_1" / "3m.zip", flat / "qmix" / "3m.zip")
    base = ["--algo", "qmix", "--env", "3m", "-n", "1", "--no-render", "--verbose", "0"]
    flat_results = enjoy.enjoy([*base, "-f", str(flat), "--exp-id", "-1"])
    run_results = enjoy.enjoy([*base, "-f", str(trained_run), "--exp-id", "1"])
    assert flat_results == run_results  # the same model on the same seeded episode
    with pytest.raises(SystemExit, match="--exp-id must be a run id >= 1, 0 .* or -1 .*, got -2"):
        enjoy.enjoy([*base, "-f", str(flat), "--exp-id", "-2"])
    with pytest.raises(SystemExit, match="No model 2s3z.zip in .*agents/qmix; models there: \\['3m.zip'\\]"):
        enjoy.enjoy([*base[:3], "2s3z", *base[4:], "-f", str(flat), "--exp-id", "-1"])
    with pytest.raises(SystemExit, match="Folder .*fgsm does not exist"):
        enjoy.enjoy(["--algo", "fgsm", *base[2:], "-f", str(flat), "--exp-id", "-1"])


def test_enjoy_plays_a_model_without_its_run_folder_in_the_game_it_recorded(tmp_path, capsys, monkeypatch):
    """A model file copied alone (no config.yml beside it) is played with the env settings it records: here an
    observation one last-action block longer, which a plain 3m env cannot feed it (before: a shape error)."""
    from sb3_marl import envs

    _train(tmp_path, "-n", "40", "--eval-freq", "-1", "--env-kwargs", "obs_last_action:true")
    flat = tmp_path / "agents" / "qmix"
    flat.mkdir(parents=True)
    shutil.copy(tmp_path / "qmix" / "3m_1" / "3m.zip", flat / "3m.zip")
    played = []
    make_env = envs.make_env
    monkeypatch.setattr(
        envs, "make_env", lambda *args, **kwargs: played.append(make_env(*args, **kwargs)) or played[-1]
    )
    base = ["--algo", "qmix", "--env", "3m", "-n", "1", "--no-render", "--verbose", "0"]
    enjoy.enjoy([*base, "-f", str(tmp_path / "agents"), "--exp-id", "-1"])
    assert [env.env_kwargs for env in played] == [{"obs_last_action": True}]  # the game the model file records
    assert played[0].observation_space.shape[-1] > make_env("3m").observation_space.shape[-1]  # the longer obs
    assert "Win rate" in capsys.readouterr().out


def test_enjoy_command_exits_zero_and_a_model_alone_is_attacked_at_its_own_budget(tmp_path, capsys):
    """``sb3-marl-enjoy`` is ``sys.exit(main())``: main returned the results dict, which exits with status 1. A robust
    model copied without its run folder was attacked at the paper's budget, not the one it trained with."""
    from sb3_marl.robust.fgsm import RobustQMIXFGSM

    flat = tmp_path / "agents" / "fgsm"
    flat.mkdir(parents=True)
    RobustQMIXFGSM("3m", epsilon=0.1, n_envs=1, seed=0).save(flat / "3m.zip")
    argv = ["--algo", "fgsm", "--env", "3m", "-n", "1", "--no-render", "-f", str(tmp_path / "agents"), "--exp-id", "-1"]
    assert enjoy.main([*argv, "--attack", "fgsm"]) is None
    assert "fgsm attack (epsilon 0.1)" in capsys.readouterr().out


def test_enjoy_n_envs_plays_the_episodes_evaluate_policy_plays(trained_run, tmp_path, capsys):
    """``--n-envs 3 -n 6``: two episodes per env, the same ones ``evaluate_policy`` plays on a like-seeded batch."""
    from sb3_marl import QMIX
    from sb3_marl.common.evaluation import evaluate_policy
    from sb3_marl.envs import make_env
    from zoo.utils import make_attack

    model = QMIX.load(trained_run / "qmix" / "3m_1" / "3m.zip")
    noise = make_attack("random", 0.5, clip_observations=True, seed=4)  # varies the episodes of a barely trained model
    env = make_env("3m", n_envs=3, seed=4)
    returns, _, wins = evaluate_policy(model, env, 6, attack=noise, return_episode_rewards=True)
    output = tmp_path / "replay.gif"
    base = ["--algo", "qmix", "--env", "3m", "-f", str(trained_run), "--seed", "4", "--n-envs", "3", "--verbose", "0"]
    flags = ["-n", "6", "--record-episodes", "3", "--output", str(output), "--attack", "random", "--epsilon", "0.5"]
    results = enjoy.enjoy([*base, *flags])
    assert results["win_rate"] == pytest.approx(np.mean(wins))
    assert results["mean_reward"] == pytest.approx(np.mean(returns)) and len(set(returns)) > 1
    assert results["std_reward"] == pytest.approx(np.std(returns), abs=1e-5)
    assert "Recorded 2 of 3 episodes: env 0 plays only that many of the 6" in capsys.readouterr().out
    assert output.is_file()
    for flags, message in [
        (["-n", "2", "--n-envs", "3"], "--n-envs must be between 1 and -n/--n-episodes (2), got 3"),
        (["-n", "2", "--n-envs", "0"], "--n-envs must be between 1 and -n/--n-episodes (2), got 0"),
        (["-n", "2", "--n-envs", "1", "--record-episodes", "-1"], "--record-episodes must be >= 0, got -1"),
    ]:
        with pytest.raises(SystemExit):
            enjoy.enjoy([*base, *flags])
        assert message in capsys.readouterr().err


def test_player_reports_records_and_counts_what_it_played(trained_run, capsys):
    """zoo/enjoy.py's Player over 3 envs: one line per counted episode in the order they end, env 0's first
    episodes recorded (a frame before every step and after the last), attack-changed actions counted among the
    agents that had a choice."""
    from sb3_marl.envs import make_env
    from zoo.utils import make_attack

    model = QMIX.load(trained_run / "qmix" / "3m_1" / "3m.zip")
    env = make_env("3m", n_envs=3, seed=4)
    env0_ends = []  # env 0's step count at each of its episodes' ends
    env0_steps = 0
    step = env.step

    def counting_step(actions):
        nonlocal env0_steps
        result = step(actions)
        env0_steps += 1
        if bool(result[4][0]):
            env0_ends.append(env0_steps)
        return result

    env.step = counting_step
    attack = make_attack("random", 0.5, clip_observations=True, seed=4)
    log = enjoy.Player(model, env, attack, epsilon=0.0, seed=0).play(4, record_episodes=5, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Episode")]
    assert lines == [
        f"Episode {k}: return {r:.2f}, {'won' if w else 'lost'}"
        for k, (r, w) in enumerate(zip(log.returns, log.wins), start=1)
    ]
    assert len(log.returns) == 4 and log.recorded_episodes == 2  # env 0 counts 2 of the 4 episodes
    assert len(log.frames) == env0_ends[1] + 2
    assert 0 < log.changed_actions < log.actions


def test_enjoy_checks_its_flags_before_playing(trained_run, monkeypatch, capsys):
    """A bad --output or --fps is refused before any episode is played; --device auto and --seed reach the attack."""
    base = ["--algo", "qmix", "--env", "3m", "-f", str(trained_run), "-n", "1", "--verbose", "0"]
    monkeypatch.setattr(enjoy.Player, "play", lambda *args: pytest.fail("played before checking the flags"))
    for flags, message in [
        (["--output", "x.avi"], "--output 'x.avi'"),
        (["--fps", "0"], "--fps must be a finite number > 0, got 0.0"),
        (["--attack", "atla", "--epsilon", "0"], "--epsilon must be a finite number > 0, got 0.0"),
        (["--attack", "paad", "--attacker-timesteps", "0"], "--attacker-timesteps must be >= 1 for --attack paad"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            enjoy.enjoy([*base, *flags])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    monkeypatch.undo()
    seeds = []
    real_build = enjoy.build_attack
    monkeypatch.setattr(enjoy, "build_attack", lambda *args: seeds.append((attack := real_build(*args)).seed) or attack)
    for seed in ("0", "123"):
        enjoy.enjoy([*base, "--no-render", "--attack", "random", "--device", "auto", "--seed", seed])
    assert seeds == [0, 123]


def test_enjoy_refuses_a_bad_fps_or_output_before_playing(trained_run, tmp_path, monkeypatch, capsys):
    """--fps nan / inf, an --output that is a folder or lies under a file or an unwritable folder failed after every
    episode was played (and an atla / paad attacker trained)."""
    from zoo import utils

    base = ["--algo", "qmix", "--env", "3m", "-f", str(trained_run), "-n", "1", "--verbose", "0"]
    monkeypatch.setattr(enjoy.Player, "play", lambda *args: pytest.fail("played before checking the flags"))
    monkeypatch.setitem(enjoy.LEARNED_ATTACKS, "atla", SimpleNamespace(load=lambda: pytest.fail("trained an attacker")))
    (tmp_path / "replay.gif").mkdir()
    (tmp_path / "file").write_text("")
    for flags, message in [
        (["--fps", "nan"], "--fps must be a finite number > 0, got nan"),
        (["--fps", "inf"], "--fps must be a finite number > 0, got inf"),
        (["--output", str(tmp_path / "replay.gif")], f"--output '{tmp_path / 'replay.gif'}': it is a folder"),
        (
            ["--attack", "atla", "--output", str(tmp_path / "file" / "sub" / "x.gif")],
            f"--output '{tmp_path / 'file' / 'sub' / 'x.gif'}': {tmp_path / 'file'} is a file, not a folder",
        ),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            enjoy.enjoy([*base, *flags])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    monkeypatch.setattr(utils.os, "access", lambda path, mode: False)  # as a user without write permission there
    with pytest.raises(SystemExit):
        enjoy.enjoy([*base, "--output", str(tmp_path / "new" / "x.mp4")])
    assert f"--output '{tmp_path / 'new' / 'x.mp4'}': the folder {tmp_path} is not writable" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file", "replay.gif"]  # nothing created


def test_enjoy_backend_sc2_without_starcraft_ends_in_one_line(trained_run):
    try:
        load_starcraft2_env_class()
        pytest.skip("StarCraft II is installed here")
    except SC2NotAvailableError:
        pass
    with pytest.raises(SystemExit, match="--backend sc2: ") as exit_info:
        enjoy.enjoy(["--algo", "qmix", "--env", "3m", "-f", str(trained_run), "-n", "1", "--backend", "sc2"])
    assert isinstance(exit_info.value.code, str)


def test_enjoy_compile_reaches_the_learned_attackers_env(trained_run, monkeypatch, capsys):
    """--compile goes to the env an atla/paad attacker trains on, with the run's env keywords; sc2 refuses it."""
    seen = {}

    def fake_train_attacker(model, **kwargs):
        seen.update(kwargs)
        return None  # play without an attack: only what reached the trainer matters here

    monkeypatch.setitem(enjoy.LEARNED_ATTACKS, "atla", SimpleNamespace(load=lambda: fake_train_attacker))
    base = ["--algo", "qmix", "--env", "3m", "-f", str(trained_run), "-n", "1", "--no-render", "--verbose", "0"]
    enjoy.enjoy([*base, "--attack", "atla", "--attacker-timesteps", "8"])
    assert seen["env_kwargs"] == {} and seen["env"] == "3m" and seen["total_timesteps"] == 8
    enjoy.enjoy([*base, "--attack", "atla", "--compile"])
    assert seen["env_kwargs"] == {"compile": True}
    with pytest.raises(SystemExit) as exit_info:
        enjoy.enjoy([*base, "--compile", "--backend", "sc2"])
    assert exit_info.value.code == 2 and "--compile applies to the built-in simulator only" in capsys.readouterr().err


def test_bad_input_gives_one_line_errors(tmp_path, capsys):
    with pytest.raises(SystemExit, match=r"Unknown hyperparameter 'learnin_rate'.*\(from -params\).*'learning_rate'"):
        train.main(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-params", "learnin_rate:0.1"])
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--algo", "qmix", "--env", "3n", "-f", str(tmp_path)])
    assert exit_info.value.code == 2 and "Unknown map '3n'. Did you mean '3m'?" in capsys.readouterr().err
    process = subprocess.run(
        [sys.executable, "zoo/train.py", "--algo", "qmx", "--env", "3m"], cwd=REPO, capture_output=True, text=True
    )
    assert process.returncode == 2 and "Did you mean 'qmix'" in process.stderr and "Traceback" not in process.stderr


def test_num_threads_sets_torchs_threads(tmp_path, capsys):
    parser = train.build_parser()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # not the test session's 1, so that a flag that sets nothing is seen
        for value, expected in (("-1", 3), ("2", 2), ("-1", 2)):
            set_num_threads(parser, parser.parse_args(["--algo", "qmix", "--env", "3m", "--num-threads", value]))
            assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--num-threads", "0"])
    assert exit_info.value.code == 2 and "--num-threads must be >= 1 or -1" in capsys.readouterr().err


def test_compile_flag_reaches_the_envs_the_run_builds(tmp_path, capsys):
    """--compile reaches every env the run builds (checked before any step, so nothing is compiled here: the first
    compiled step of a map and batch size takes 30-50 s with a cold torch cache; tests/test_sim_dynamics.py's
    test_compiled_step_matches_eager steps compiled envs)."""
    from zoo.exp_manager import ExperimentManager

    parser = train.build_parser()
    for extra, compiled in (([], False), (["--compile"], True)):
        args = parser.parse_args(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), *extra])
        train.check_args(parser, args)
        assert ExperimentManager(args).make_env(2, seed=0).compiled is compiled
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--compile", "--backend", "sc2"])
    assert exit_info.value.code == 2 and "--compile applies to the built-in simulator only" in capsys.readouterr().err


def test_bad_env_settings_and_a_missing_game_end_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"env_kwargs \{'reward_scale_rate': 0\}: reward_scale_rate=0 must be"):
        train.main(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--env-kwargs", "reward_scale_rate:0"])
    try:
        load_starcraft2_env_class()
        pytest.skip("StarCraft II is installed here")
    except SC2NotAvailableError:
        pass
    with pytest.raises(SystemExit, match="--backend sc2: "):
        train.main(["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--backend", "sc2"])


def test_regularized_without_a_qmix_run_says_what_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="regularized needs a pretrained QMIX"):
        train.main(["--algo", "regularized", "--env", "3m", "-f", str(tmp_path)])


def test_robust_variants_train_from_the_zoo(trained_run, tmp_path):
    """fgsm evaluated under FGSM; regularized starting from the latest qmix run of the log folder (the default)."""
    shutil.copytree(trained_run, tmp_path, dirs_exist_ok=True)  # the shared run folder stays as other tests expect
    _train(
        tmp_path,
        "-n",
        "200",
        "--seed",
        "6",
        "--eval-freq",
        "200",
        "--eval-episodes",
        "2",
        "--eval-attack",
        "fgsm",
        algo="fgsm",
    )
    assert (tmp_path / "fgsm" / "3m_1" / "evaluations.npz").is_file()
    args = yaml.safe_load((tmp_path / "fgsm" / "3m_1" / "3m" / "args.yml").read_text())
    assert args["eval_attack"] == "fgsm"
    _train(tmp_path, "-n", "200", "--seed", "6", "--eval-freq", "-1", algo="regularized")
    config = yaml.safe_load((tmp_path / "regularized" / "3m_1" / "3m" / "config.yml").read_text())
    assert Path(config["pretrained"]) == tmp_path / "qmix" / "3m_1" / "3m.zip"
    assert config["epsilon"] == 0.2 and config["n_timesteps"] == 200


def test_regularized_takes_the_network_sizes_of_its_pretrained_qmix(tmp_path, capsys):
    """The yaml's network sizes give way to the pretrained QMIX's (a QMIX trained with other sizes than the
    regularized yaml's), unless ``-params`` sets them."""
    _train(tmp_path, "-n", "40", "--eval-freq", "-1", params=("policy_kwargs:{rnn_hidden_dim: 16}",))
    _train(tmp_path, "-n", "40", "--eval-freq", "-1", algo="regularized")
    config = yaml.safe_load((tmp_path / "regularized" / "3m_1" / "3m" / "config.yml").read_text())
    assert config["policy_kwargs"] == {"rnn_hidden_dim": 16}
    assert "Taking policy_kwargs={'rnn_hidden_dim': 16} from the pretrained QMIX" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="^RegularizedQMIX refuses its settings: pretrained networks do not fit"):
        _train(tmp_path, "-n", "40", "--eval-freq", "-1", algo="regularized", params=("policy_kwargs:{}",))
    assert not (tmp_path / "regularized" / "3m_2").exists()


def test_a_study_refuses_trials_of_other_settings(tmp_path):
    """The default study name is ``<algo>_<map>`` in a persistent database: a later ``-optimize`` with another budget
    or evaluation must not mix its trials into the same study. The refusal printed the whole settings of both sides
    for one differing hyperparameter, and a study whose only trial was interrupted stayed locked to its settings."""
    from zoo.exp_manager import ExperimentManager

    def check(*flags: str) -> None:
        argv = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "-optimize", *flags]
        ExperimentManager(train.build_parser().parse_args(argv))._check_study_objective(study, "qmix_3m", "sqlite://")

    study = optuna.create_study(direction="maximize")
    check("-n", "100")
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)  # Ctrl-C in the first trial: nothing measured
    check("-n", "300")  # accepted: the study takes these settings
    assert study.user_attrs["objective"]["n_timesteps"] == 300
    check("-n", "100")
    study.tell(study.ask(), 0.5)
    check("-n", "100")  # the same settings again: accepted
    with pytest.raises(
        SystemExit, match=r"holds 1 finished trial of other settings \(n_timesteps: 100 there, 200 here\)"
    ):
        check("-n", "200")
    with pytest.raises(SystemExit, match="eval_attack: 'none' there, 'fgsm' here"):
        check("-n", "100", "--eval-attack", "fgsm")
    study.tell(study.ask(), state=optuna.trial.TrialState.PRUNED)
    with pytest.raises(SystemExit) as exit_info:
        check("-n", "100", "-params", "gamma:0.9", "policy_kwargs:{rnn_hidden_dim: 64, mixing_embed_dim: 8}")
    assert str(exit_info.value).startswith("Optuna study 'qmix_3m' in sqlite:// holds 2 finished trials of other")
    assert (  # the differing keys only, inside the hyperparameters too
        "(hyperparams.gamma: 0.99 there, 0.9 here; hyperparams.policy_kwargs.hypernet_embed: 64 there, unset here; "
        "hyperparams.policy_kwargs.mixing_embed_dim: 32 there, 8 here): pass another --study-name"
    ) in str(exit_info.value)


def _optimize(tmp_path: Path, *extra: str) -> None:
    _train(
        tmp_path,
        "-optimize",
        "-n",
        "200",
        "--n-trials",
        "2",
        "--n-evaluations",
        "1",
        "--eval-episodes",
        "2",
        "--n-seeds-per-trial",
        "2",
        "--n-startup-trials",
        "1",
        "--seed",
        "5",
        *extra,
        params=("buffer_size:128",),  # room for every sampled batch_size: each trial completes
    )


def test_optimize_on_sqlite_writes_report_and_plots(tmp_path):
    _optimize(tmp_path, "--sampler", "random", "--pruner", "median")
    storage = f"sqlite:///{tmp_path / 'qmix' / 'optuna.db'}"
    study = optuna.load_study(study_name="qmix_3m", storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2
    for trial in complete:
        assert len(trial.user_attrs["win_rates"]) == 2
        assert trial.value == pytest.approx(np.mean(trial.user_attrs["win_rates"]))
        assert set(trial.intermediate_values) == {0, 1}  # one report per seed
    assert len(list((tmp_path / "qmix").glob("report_3m_*.csv"))) == 1
    assert list((tmp_path / "qmix").glob("report_3m_*_optimization_history.png"))


def test_journal_storage_total_trial_budget_and_training_a_trial(tmp_path, capsys):
    """RL Zoo's tuning flags: a ``.log`` storage is Optuna's journal file, ``--max-total-trials`` caps the study
    across runs, ``--no-optim-plots`` skips the plots, and ``--trial-id`` trains with a trial's sampled settings."""
    journal = str(tmp_path / "study.log")
    study_flags = ("--storage", journal, "--study-name", "s", "--sampler", "random", "--pruner", "none")
    _optimize(tmp_path, *study_flags, "--max-total-trials", "1", "--no-optim-plots")
    assert list((tmp_path / "qmix").glob("report_3m_*.csv")) and not list((tmp_path / "qmix").glob("*.png"))
    _optimize(tmp_path, *study_flags, "--max-total-trials", "1")  # the budget is spent: no trial runs
    assert "The study already holds 1 trials (--max-total-trials 1)" in capsys.readouterr().out
    study = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    )
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]

    _train(tmp_path, "-n", "40", "--eval-freq", "-1", "--storage", journal, "--study-name", "s", "--trial-id", "0")
    params = study.trials[0].params
    config = yaml.safe_load((tmp_path / "qmix" / "3m_1" / "3m" / "config.yml").read_text())
    assert config["learning_rate"] == params["learning_rate"] and config["gamma"] == params["gamma"]
    assert config["policy_kwargs"]["rnn_hidden_dim"] == params["rnn_hidden_dim"]
    assert config["batch_size"] == 4  # -params still override the trial's settings
    assert "Settings of trial #0 of 's' (complete, win rate" in capsys.readouterr().out

    for flags, message in [
        (
            ("--storage", journal, "--study-name", "s", "--trial-id", "3"),
            "has no such trial (its trials are numbered 0-0)",
        ),
        (("--storage", journal, "--study-name", "t", "--trial-id", "0"), "no Optuna study 't' in"),
        (("-f", str(tmp_path / "empty"), "--trial-id", "0"), "--trial-id 0: no Optuna study in"),
    ]:
        with pytest.raises(SystemExit, match=re.escape(message)):
            _train(tmp_path, "-n", "40", *flags)
    for flags, message in [
        (("--trial-id", "-1"), "--trial-id must be a trial number >= 0, got -1"),
        (("--trial-id", "0", "-optimize"), "cannot be combined with -optimize"),
        (("-optimize", "--max-total-trials", "0"), "--max-total-trials must be >= 1, got 0"),
        (("--eval-epsilon", "0.1"), "--eval-epsilon is the budget of --eval-attack, which is none"),
        (("--algo", "regularized", "--pretrained", "x.zip", "-i", "y.zip"), "--pretrained has no effect with -i"),
    ]:
        with pytest.raises(SystemExit):
            _train(tmp_path, "-n", "40", *flags)
        assert message in capsys.readouterr().err


def _skip_without_postgres(reason: str) -> None:
    """Skip the PostgreSQL test for ``reason``; fail instead where the server was meant to run
    (``scripts/start_test_postgres.sh`` exports SB3_MARL_REQUIRE_POSTGRES=1 where PostgreSQL is installed), so that a
    server that did not start cannot leave distributed tuning untested with the suite green."""
    if os.environ.get("SB3_MARL_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason}, and SB3_MARL_REQUIRE_POSTGRES=1 (PostgreSQL is installed) requires the server")
    pytest.skip(reason)


def test_optimize_on_postgresql_shares_one_study(tmp_path):
    url = os.environ.get("SB3_MARL_TEST_POSTGRES_URL")
    if not url:
        _skip_without_postgres("SB3_MARL_TEST_POSTGRES_URL is unset (scripts/start_test_postgres.sh starts a server)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _skip_without_postgres("psycopg2 is not installed (pip install psycopg2-binary)")
    import sqlalchemy

    try:
        sqlalchemy.create_engine(url).connect().close()
    except sqlalchemy.exc.OperationalError as exc:
        _skip_without_postgres(f"PostgreSQL server at {url} is unreachable: {str(exc).splitlines()[0]}")
    name = f"zoo_test_{os.getpid()}_{tmp_path.name}"
    _optimize(tmp_path / "a", "--storage", url, "--study-name", name, "--pruner", "none")
    _optimize(tmp_path / "b", "--storage", url, "--study-name", name, "--pruner", "none")  # a second "machine"
    study = optuna.load_study(study_name=name, storage=url)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 4
    optuna.delete_study(study_name=name, storage=url)


def test_enjoy_plays_in_the_runs_game_without_its_run_time_settings():
    """A run trained with --env-kwargs compile:true replayed compiled although --compile says it stays eager."""
    model = SimpleNamespace(env_kwargs={})
    config = {"env_kwargs": {"compile": True, "reward_sparse": True}}
    assert enjoy.play_env_kwargs(config, model) == {"reward_sparse": True}


def test_enjoy_warns_about_flags_the_others_make_do_nothing(trained_run, capsys):
    base = ["--algo", "qmix", "--env", "3m", "-f", str(trained_run), "-n", "1", "--verbose", "0"]
    with pytest.warns(UserWarning) as caught:
        enjoy.enjoy([*base, "--no-render", "--output", "x.gif", "--epsilon", "0.1", "--compile"])
    assert [str(w.message).split(" ")[0] for w in caught if "ignored" in str(w.message)] == [
        "--compile",
        "--output",
        "--epsilon",
    ]
    with pytest.warns(UserWarning) as caught:
        enjoy.enjoy([*base, "--no-render", "--fps", "30", "--record-episodes", "2", "--attacker-timesteps", "9"])
    assert [str(w.message).split(" ")[0] for w in caught if "ignored" in str(w.message)] == [
        "--attacker-timesteps",
        "--fps",
        "--record-episodes",
    ]
    with pytest.warns(UserWarning, match="--no-clip .*: ignored"):
        enjoy.enjoy([*base, "--no-render", "--no-clip"])


def test_optimize_refuses_bad_env_settings_before_a_trial_opens(tmp_path, capsys):
    """An env setting SMAC lacks ended the program inside the first trial, which stayed RUNNING in the study for
    good (and counted against --max-total-trials); the journal's folder is made as RL Zoo makes it."""
    journal = tmp_path / "new_folder" / "study.log"
    with pytest.raises(SystemExit, match="bogus"):
        _optimize(tmp_path, "--storage", str(journal), "--study-name", "s", "--env-kwargs", "bogus:1")
    assert not journal.exists()  # refused before the study was opened
    _optimize(tmp_path, "--storage", str(journal), "--study-name", "s", "--pruner", "none", "--n-trials", "1")
    study = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    )
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]


def test_numbers_that_yaml_reads_as_strings_are_read_as_floats_in_a_conf_file(tmp_path):
    conf = tmp_path / "conf.yml"
    conf.write_text("3m:\n  n_timesteps: 40\n  learning_rate: 1e-3\n  batch_size: 4\n  buffer_size: 8\n")
    _train(tmp_path, "--eval-freq", "-1", "-conf", str(conf))
    config = yaml.safe_load((tmp_path / "qmix" / "3m_1" / "3m" / "config.yml").read_text())
    assert config["learning_rate"] == 0.001


def test_a_conf_file_that_is_no_mapping_is_refused_clearly(tmp_path):
    conf = tmp_path / "conf.yml"
    conf.write_text("conf_for_3m_runs\n")  # the map name inside a string made a TypeError
    with pytest.raises(SystemExit, match=r"conf.yml must hold a mapping of map names to hyperparameters"):
        _train(tmp_path, "--eval-freq", "-1", "-conf", str(conf))
    python_conf = tmp_path / "conf.py"
    python_conf.write_text("hyperparams = {'3m': dict(n_timesteps=40)}\n")  # RL Zoo's Python configs
    with pytest.raises(SystemExit, match=r"Python config files \(RL Zoo's\) are not read, nothing is executed"):
        _train(tmp_path, "--eval-freq", "-1", "-conf", str(python_conf))


def test_the_zoos_envs_take_any_model_seed_and_enjoy_checks_its_seed(capsys):
    """A seed near 2**32 wraps into the env seed range, as the model's own envs do (the zoo builds its envs itself
    and gave the raw seed: "env_kwargs {}: seed=4294967295 ..."); enjoy refuses a seed no env can take."""
    from zoo import exp_manager

    args = train.build_parser().parse_args(["--algo", "qmix", "--env", "3m", "--seed", str(2**32 - 1)])
    assert exp_manager.ExperimentManager(args).make_env(2, seed=2**32 - 1).seed_value == 0
    with pytest.raises(SystemExit):
        enjoy.enjoy(["--algo", "qmix", "--env", "3m", "--seed", "-1"])
    assert "--seed must be in [0, 4294967295] (= 2**32 - 1), got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # an atla attacker trains on 8 envs seeded from --seed
        enjoy.enjoy(["--algo", "qmix", "--env", "3m", "--seed", str(2**32 - 2), "--attack", "atla"])
    assert "--seed must be in [0, 4294967288] (= 2**32 - 8)" in capsys.readouterr().err
    # the highest seed a batch takes passes the check (enjoy refused one below batch_seed's bound)
    with pytest.raises(SystemExit, match="No trained qmix run"):
        enjoy.enjoy(["--algo", "qmix", "--env", "3m", "--seed", str(2**32 - 2), "--n-envs", "2", "-f", "/nonexistent"])


def test_enjoy_env_kwargs_change_the_game_played(trained_run, capsys):
    """RL Zoo's ``enjoy --env-kwargs``: the model plays a changed game (here sparse rewards: a game returns +1 won,
    -1 lost, 0 timed out, instead of the dense damage reward); bad keywords and sizes the model cannot take end in one
    line."""
    base = ["--algo", "qmix", "--env", "3m", "-f", str(trained_run), "-n", "4", "--no-render", "--verbose", "0"]
    dense = enjoy.enjoy(base)
    sparse = enjoy.enjoy([*base, "--env-kwargs", "reward_sparse:true"])
    assert "Playing with env_kwargs {'reward_sparse': True}" in capsys.readouterr().out
    assert sparse["win_rate"] == dense["win_rate"]  # same seed, same greedy play: only the rewards change
    assert abs(sparse["mean_reward"]) <= 1.0 and sparse["mean_reward"] <= sparse["win_rate"]
    assert dense["mean_reward"] > 1.0  # damage dealt
    model = trained_run / "qmix" / "3m_1" / "3m.zip"  # the settings it records: its run's config.yml holds none
    message = rf"^env_kwargs \{{'no_such_setting': 1\}} \(from {re.escape(str(model))} and --env-kwargs\): .*'no_such"
    with pytest.raises(SystemExit, match=message):
        enjoy.enjoy([*base, "--env-kwargs", "no_such_setting:1"])
    with pytest.raises(SystemExit, match="env_kwargs .*obs_last_action.*shapes"):
        enjoy.enjoy([*base, "--env-kwargs", "obs_last_action:true"])


def _manager(tmp_path: Path, *extra: str, params: tuple[str, ...] = ()):
    """An ExperimentManager of ``-optimize`` on 3m with the TINY settings (``params``: more ``-params``)."""
    from zoo.exp_manager import ExperimentManager

    torch.set_num_threads(1)
    argv = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--n-envs", "2", "--verbose", "0", "--seed", "1"]
    args = train.build_parser().parse_args([*argv, "-optimize", *extra, *TINY, *params])
    train.check_args(train.build_parser(), args)
    return ExperimentManager(args)


class _PruneAfterSeedZero(optuna.pruners.BasePruner):
    """Prunes as soon as the trial reported past seed 0's evaluations (step >= n_evaluations)."""

    def __init__(self, n_evaluations: int) -> None:
        self.n_evaluations = n_evaluations
        self.asked_at: list[int] = []

    def prune(self, study, trial) -> bool:
        self.asked_at.append(trial.last_step)
        return trial.last_step >= self.n_evaluations


def test_only_seed_zero_asks_the_pruner(tmp_path):
    """Seed k reports at k * n_evaluations + i, and Optuna's pruners score a trial by all its reported steps: a later
    seed is never asked, though it still reports."""
    manager = _manager(
        tmp_path, "-n", "200", "--n-evaluations", "2", "--eval-episodes", "1", "--n-seeds-per-trial", "2"
    )
    manager.__dict__["allowed_augmentations"] = []
    pruner = _PruneAfterSeedZero(2)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.optimize(manager.objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert set(trial.intermediate_values) == {0, 1, 2, 3}
    assert pruner.asked_at and max(pruner.asked_at) < 2


def test_params_stay_fixed_in_a_study_and_in_its_trials_replay(tmp_path, capsys, monkeypatch):
    """-optimize silently let the sampled value win over -params for every key the sampler searches."""
    seen: list[dict] = []
    init = QMIX.__init__

    @functools.wraps(init)  # the zoo reads the keywords QMIX accepts from its signature
    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        init(self, *args, **kwargs)

    monkeypatch.setattr(QMIX, "__init__", spy)
    journal = str(tmp_path / "study.log")
    flags = ("--storage", journal, "--study-name", "s", "--pruner", "none", "--sampler", "random", "--no-optim-plots")
    fixed = ("learning_rate:0.0005", "policy_kwargs:{rnn_hidden_dim: 16}")
    _train(tmp_path, "-optimize", "-n", "60", "--n-trials", "1", "--n-evaluations", "1", "--eval-episodes", "1",
           *flags, params=fixed)  # fmt: skip
    out = capsys.readouterr().out
    note = [line for line in out.splitlines() if line.startswith("Note: -params keeps")]
    assert len(note) == 1 and "buffer_size" not in note[0]  # not searched
    assert all(name in note[0] for name in ("learning_rate", "policy_kwargs.rnn_hidden_dim", "batch_size"))
    assert seen[-1]["learning_rate"] == 0.0005 and seen[-1]["policy_kwargs"]["rnn_hidden_dim"] == 16
    study = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    )
    trial = study.trials[0]
    recorded = trial.user_attrs["fixed_by_params"]
    assert recorded["learning_rate"] == 0.0005 and recorded["policy_kwargs"] == {"rnn_hidden_dim": 16}
    assert seen[-1]["policy_kwargs"]["mixing_embed_dim"] == trial.params["mixing_embed_dim"]  # still searched
    # the best trial's sampled values that -params overrode were listed as if they had trained
    assert f"    rnn_hidden_dim: {trial.params['rnn_hidden_dim']} (not used: -params kept rnn_hidden_dim=16)" in out
    assert "(not used: -params kept learning_rate=0.0005)" in out
    assert f"    mixing_embed_dim: {trial.params['mixing_embed_dim']}\n" in out
    _train(tmp_path, "-n", "40", "--eval-freq", "-1", "--storage", journal, "--study-name", "s", "--trial-id", "0")
    config = yaml.safe_load((tmp_path / "qmix" / "3m_1" / "3m" / "config.yml").read_text())
    assert config["learning_rate"] == 0.0005 and config["policy_kwargs"]["rnn_hidden_dim"] == 16
    out = capsys.readouterr().out
    assert "Trial #0 kept the study's -params" in out and "policy_kwargs.rnn_hidden_dim (not its sampled" in out


@pytest.mark.parametrize("folder", ["odd?x=1", "50%25"])
def test_the_default_sqlite_storage_lies_in_the_log_folder_whatever_its_name(tmp_path, folder):
    """The URL was built from the unescaped path: "?" cut the path (the study went to another folder), "%" failed."""
    manager = _manager(tmp_path / folder)
    manager.log_path.mkdir(parents=True)
    optuna.create_study(storage=manager._storage(), study_name="s")
    assert (tmp_path / folder / "qmix" / "optuna.db").is_file()


@pytest.mark.parametrize("storage", ["typo.log", "sqlite:///{}/typo.db"])
def test_trial_id_with_a_mistyped_storage_names_it_and_creates_nothing(tmp_path, storage):
    storage = storage.format(tmp_path) if "{}" in storage else str(tmp_path / storage)
    with pytest.raises(SystemExit, match=r"--trial-id 0: no Optuna storage .*typo.* does not exist; check --storage"):
        _train(tmp_path, "-n", "40", "--storage", storage, "--trial-id", "0")
    assert sorted(path.name for path in tmp_path.rglob("*")) == []


def test_optimize_refuses_a_negative_n_startup_trials(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _train(tmp_path, "-optimize", "--n-startup-trials", "-1")
    assert "--n-startup-trials must be >= 0, got -1" in capsys.readouterr().err


def test_the_saved_args_and_command_hide_the_storage_password(tmp_path, monkeypatch):
    url = "postgresql://user:secret@host/db"
    argv = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--storage", url, "--trial-id", "0"]
    from zoo.exp_manager import ExperimentManager

    monkeypatch.setattr(ExperimentManager, "_trial_hyperparameters", lambda self: ({}, None))
    manager = ExperimentManager(train.build_parser().parse_args(argv))
    manager.save_path, manager.params_path = tmp_path, tmp_path
    monkeypatch.setattr(sys, "orig_argv", ["python", "zoo/train.py", *argv[:-4], f"--storage={url}", *argv[-2:]])
    manager._save_config()
    written = (tmp_path / "args.yml").read_text() + (tmp_path / "command.txt").read_text()
    assert "secret" not in written and "postgresql://user:***@host/db" in written
    assert yaml.safe_load((tmp_path / "args.yml").read_text())["storage"] == "postgresql://user:***@host/db"


def test_optimize_notes_the_training_flags_it_ignores(tmp_path, capsys):
    _manager(tmp_path, "--eval-freq", "100", "-P", "-uuid", "--log-interval", "-1")
    notes = [line for line in capsys.readouterr().out.splitlines() if "ignores" in line]
    assert len(notes) == 1 and notes[0].startswith("Note: -optimize ignores --eval-freq, -P, -uuid (")


def _refused_study(tmp_path: Path, *params: str, n_trials: int = 8) -> tuple[str, list[dict]]:
    """A journal study ``s`` of ``n_trials`` random trials of ``-optimize -n 100 -params <params>`` on 3m, each pruned
    as QMIX is "built": returns the journal's path and the keywords each trial built its model with."""
    from zoo.exp_manager import ExperimentManager

    journal = str(tmp_path / "study.log")
    argv = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--n-envs", "2", "--seed", "0", "-n", "100"]
    argv += ["-optimize", "--storage", journal, "--study-name", "s", *(["-params", *params] if params else [])]
    manager = ExperimentManager(train.build_parser().parse_args(argv))
    manager.__dict__["allowed_augmentations"] = []
    seen: list[dict] = []

    def refuse(**kwargs):
        seen.append(kwargs)
        raise ValueError("stop here")

    manager.algo_class = refuse
    study = optuna.create_study(
        study_name="s", storage=manager._storage(), sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize"
    )
    manager._check_study_objective(study, "s", journal)
    study.optimize(manager.objective, n_trials=n_trials)
    return journal, seen


def _replay(tmp_path: Path, journal: str, trial_id: int, *flags: str):
    """The ExperimentManager of ``train.py --trial-id <trial_id>`` of the study ``s`` in ``journal`` (no training)."""
    from zoo.exp_manager import ExperimentManager

    argv = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--storage", journal, "--study-name", "s"]
    return ExperimentManager(train.build_parser().parse_args([*argv, "--trial-id", str(trial_id), *flags]))


@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_a_fixed_tau_sets_the_target_update_interval_of_the_trials_and_their_replay(tmp_path, tau, capsys):
    """The sampler chose target_update_interval from its sampled tau, which -params then replaced: a fixed tau 1.0
    trained with an update after every rollout in 3 trials of 4, a fixed tau 0.1 with hard-copy intervals."""
    journal, seen = _refused_study(tmp_path, f"tau:{tau}")
    assert {kwargs["tau"] for kwargs in seen} == {tau}
    intervals = {kwargs["target_update_interval"] for kwargs in seen}
    assert intervals == {1} if tau < 1 else intervals <= {50, 100, 200, 400}
    for number, kwargs in enumerate(seen):  # --trial-id trains what the trial trained
        replayed = _replay(tmp_path, journal, number).saved_hyperparams
        assert (replayed["tau"], replayed["target_update_interval"]) == (tau, kwargs["target_update_interval"])
    from zoo.exp_manager import ExperimentManager

    args = train.build_parser().parse_args(["--algo", "qmix", "--env", "3m", "-optimize", "-params", f"tau:{tau}"])
    manager = ExperimentManager(args)
    manager.__dict__["allowed_augmentations"] = []
    capsys.readouterr()
    manager._note_fixed_settings()
    derived = "; the search space sets target_update_interval from them" if tau < 1 else ""
    assert capsys.readouterr().out == f"Note: -params keeps tau fixed; the trials do not search them{derived}\n"


def test_trial_id_merges_the_trials_network_sizes_with_params_policy_kwargs(tmp_path, capsys):
    """``--trial-id`` with ``-params policy_kwargs``: the -params mapping replaced the one holding the trial's sampled
    sizes (the trial's mixing_embed_dim was lost), and the note blamed the yaml for the trial's values."""
    journal, seen = _refused_study(tmp_path, "policy_kwargs:{rnn_hidden_dim: 16}", n_trials=1)
    capsys.readouterr()
    replayed = _replay(tmp_path, journal, 0, "-params", "policy_kwargs:{rnn_hidden_dim: 16}").saved_hyperparams
    assert (
        replayed["policy_kwargs"]
        == seen[0]["policy_kwargs"]
        == {
            "rnn_hidden_dim": 16,
            "mixing_embed_dim": seen[0]["policy_kwargs"]["mixing_embed_dim"],
        }
    )
    note = [line for line in capsys.readouterr().out.splitlines() if "replaces the whole mapping" in line]
    assert len(note) == 1 and "its {'hypernet_embed': 64} are not used" in note[0]  # the yaml's, not the trial's
    # a -params sub-key wins over the trial's, the trial's other sampled sizes stay
    replayed = _replay(tmp_path, journal, 0, "-params", "policy_kwargs:{mixing_embed_dim: 4}").saved_hyperparams
    assert replayed["policy_kwargs"] == {"rnn_hidden_dim": 16, "mixing_embed_dim": 4}


def test_trial_id_names_the_settings_where_the_run_differs_from_the_trial(tmp_path, capsys):
    """``--trial-id`` trains with the run's own -n, --n-envs, env settings and -params, silently."""
    journal, _ = _refused_study(tmp_path, "buffer_size:128", "gamma:0.9", n_trials=1)
    capsys.readouterr()
    _replay(tmp_path, journal, 0, "-n", "100", "--n-envs", "2", "-params", "buffer_size:128")
    assert "Note: this run trains with other settings" not in capsys.readouterr().out  # the trial's gamma is kept
    _replay(tmp_path, journal, 0, "-n", "40", "--env-kwargs", "reward_sparse:true")
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Note: this run trains")]
    assert notes == [
        "Note: this run trains with other settings than trial #0 of 's' did (env_kwargs.reward_sparse: unset there, "
        "True here; hyperparams.buffer_size: 128 there, 5000 here; n_envs: 2 there, 8 here; n_timesteps: 100 there, "
        "40 here); pass -n, --n-envs, --env-kwargs, -params, --backend to match"
    ]


def test_a_study_of_another_algorithm_or_map_is_refused_to_trial_id_and_optimize(tmp_path, capsys):
    """``--algo fgsm --trial-id 0 --study-name qmix_3m`` trained with the settings tuned for another algorithm, and
    ``-optimize`` added its trials to a study of another algorithm or map; ``--trial-id`` replays a trial on another
    map with a note. A study recorded before the algorithm and map were recorded keeps working."""
    from zoo.exp_manager import ExperimentManager

    journal, _ = _refused_study(tmp_path, n_trials=1)
    study = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    )
    assert (study.user_attrs["objective"]["algo"], study.user_attrs["objective"]["env"]) == ("qmix", "3m")
    for algo, env in (("fgsm", "3m"), ("qmix", "8m")):
        argv = ["--algo", algo, "--env", env, "-f", str(tmp_path), "--storage", journal, "--study-name", "s"]
        if algo == "qmix":  # another map: replayed, with a note
            ExperimentManager(train.build_parser().parse_args([*argv, "--trial-id", "0"]))
            assert "env: '3m' there, '8m' here" in capsys.readouterr().out
        else:
            with pytest.raises(SystemExit) as exit_info:
                ExperimentManager(train.build_parser().parse_args([*argv, "--trial-id", "0"]))
            assert str(exit_info.value) == (
                f"--trial-id 0: Optuna study 's' in {journal} tunes --algo qmix on --env 3m, not --algo {algo} on "
                f"--env {env}; use its --algo, or another --study-name"
            )
        manager = ExperimentManager(train.build_parser().parse_args([*argv, "-optimize"]))
        with pytest.raises(SystemExit) as exit_info:
            manager._check_study_objective(study, "s", journal)
        assert str(exit_info.value) == (
            f"-optimize: Optuna study 's' in {journal} tunes --algo qmix on --env 3m, not --algo {algo} on --env "
            f"{env}; pass another --study-name"
        )
    recorded = {key: value for key, value in study.user_attrs["objective"].items() if key not in ("algo", "env")}
    study.set_user_attr("objective", recorded)  # as a study recorded before
    assert _replay(tmp_path, journal, 0).saved_hyperparams  # --trial-id replays it
    argv = ["--algo", "qmix", "--env", "3m", "-f", str(tmp_path), "--n-envs", "2", "--seed", "0", "-n", "100"]
    ExperimentManager(train.build_parser().parse_args([*argv, "-optimize"]))._check_study_objective(study, "s", journal)


def test_trial_id_of_a_study_run_with_params_policy_kwargs_null(tmp_path):
    """merge_sampled failed with a TypeError on the study's fixed policy_kwargs null."""
    journal, seen = _refused_study(tmp_path, "policy_kwargs:null", n_trials=1)
    assert seen[0]["policy_kwargs"] is None
    assert _replay(tmp_path, journal, 0).saved_hyperparams["policy_kwargs"] is None


def test_optimize_refuses_settings_the_model_refuses_before_opening_the_study(tmp_path, capsys):
    """``-params gamma:1.5`` pruned every trial ("Trial 0 pruned, its settings failed") and the study recorded the
    settings, so that the corrected rerun was refused as "holds trials of other settings"."""
    journal = tmp_path / "study.log"
    flags = ("-optimize", "-n", "40", "--n-trials", "2", "--storage", str(journal), "--study-name", "s")
    with pytest.raises(SystemExit) as exit_info:
        _train(tmp_path, *flags, "--eval-episodes", "1", "--no-optim-plots", params=("gamma:1.5",))
    assert str(exit_info.value) == (
        "QMIX refuses its settings: gamma=1.5 must be a finite number in [0, 1] (gamma from -params)"
    )
    assert not journal.exists() and "pruned" not in capsys.readouterr().out
