"""zoo/benchmark.py end to end on tiny budgets (3m, a few hundred env steps, 4 test episodes): outputs, caching,
resuming, dependencies, learned attackers, ε-sweep and bad inputs."""

import json
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import distributed
import matplotlib.image
import numpy as np
import pytest
import yaml

from tests.conftest import load_benchmark_script
from zoo import benchmark
from zoo.benchmark_jobs import (
    TrainJob,
    check_training_settings,
    code_revision,
    file_sha256,
    find_trained_model,
    training_budget,
)

#: ~300 env steps for qmix (205k x 0.0015), ~600 for the robust methods; small buffers so that training starts
TINY = [
    "--maps",
    "3m",
    "--n-eval-episodes",
    "4",
    "--timesteps-scale",
    "0.0015",
    "--torch-threads",
    "1",
    "--verbose",
    "0",
    "-params",
    "buffer_size:64",
    "batch_size:4",
    "target_update_interval:5",
]


def _run(logs: Path, out: Path, *extra: str) -> dict:
    return benchmark.main(["-f", str(logs), "--out", str(out), *TINY, *extra])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """qmix and fgsm on 3m under no attack, FGSM and random noise."""
    root = tmp_path_factory.mktemp("bench")
    args = ("--methods", "qmix", "fgsm", "--attacks", "none", "fgsm", "random")
    results = _run(root / "logs", root / "out", *args)
    return root, args, results


def _copied_logs(first_run, tmp_path: Path) -> Path:
    """A copy of the first run's log folder under ``tmp_path``, for a test that writes into it: the module's other
    tests read the original, so what they see must not depend on the order the tests run in."""
    root, _, _ = first_run
    return Path(shutil.copytree(root / "logs", tmp_path / "logs"))


def _cell_files(out: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime_ns for p in (out / "cells").rglob("*.json")}


def test_first_run_writes_json_markdown_and_heatmap(first_run):
    root, _, results = first_run
    out = root / "out"
    assert results["counts"] == {
        "models_trained": 2,
        "models_reused": 0,
        "cells_computed": 6,
        "cells_cached": 0,
        "attackers_trained": 0,
    }
    assert results["failures"] == []
    assert json.loads((out / "results.json").read_text())["counts"] == results["counts"]
    for cell in results["cells"]:
        rewards = cell["episode_rewards"]
        assert len(rewards) == 4
        assert cell["mean_reward"] == pytest.approx(np.mean(rewards)) and cell["std_reward"] == pytest.approx(
            np.std(rewards)
        )
        assert 0.0 <= cell["win_rate"] <= 1.0
    fgsm_cell = next(
        c for c in results["cells"] if c["settings"]["method"] == "fgsm" and c["settings"]["attack"] == "fgsm"
    )
    assert fgsm_cell["settings"]["epsilon"] == 0.2 and fgsm_cell["settings"]["n_attacked"] is None
    table = (out / "table.md").read_text()
    assert "| Map | Training method | No attack | FGSM | Random noise |" in table
    rows = [line for line in table.splitlines() if line.startswith("| 3m |")]
    assert [row.split("|")[2].strip() for row in rows] == ["Vanilla QMIX", "FGSM"]
    assert all(row.count(" / ") == 3 for row in rows)
    comparison = (out / "comparison.md").read_text()  # said "32 test episodes each" whatever was measured
    assert "Training budgets × 0.0015 of hyperparams/*.yml" in comparison and "4 test episodes per cell" in comparison
    image = matplotlib.image.imread(out / "heatmap.png")
    assert image.ndim == 3 and image.shape[0] > 50
    for method in ("qmix", "fgsm"):
        config = yaml.safe_load((root / "logs" / method / "3m_1" / "3m" / "config.yml").read_text())
        assert config["n_timesteps"] == round({"qmix": 205e3, "fgsm": 405e3}[method] * 0.0015)
        assert config["exploration_timesteps"] == round(50_000 * 0.0015)


def test_second_run_reuses_every_model_and_cell(first_run, tmp_path):
    """Run again on a copy of the first run's folders (its results.json is rewritten: the first test reads the
    original)."""
    _, args, first = first_run
    root = Path(shutil.copytree(first_run[0], tmp_path / "bench"))
    models = {p: p.stat().st_mtime_ns for p in (root / "logs").rglob("*.zip")}
    cells = _cell_files(root / "out")
    second = _run(root / "logs", root / "out", *args)
    assert second["counts"] == {
        "models_trained": 0,
        "models_reused": 2,
        "cells_computed": 0,
        "cells_cached": 6,
        "attackers_trained": 0,
    }
    assert {p: p.stat().st_mtime_ns for p in (root / "logs").rglob("*.zip")} == models
    assert _cell_files(root / "out") == cells
    assert second["table"] == first["table"]


@pytest.mark.slow
def test_interrupted_run_resumes(first_run, tmp_path):
    """A killed run leaves missing or truncated cells, a temporary file and a training folder without a model."""
    _, args, first = first_run
    logs, out = _copied_logs(first_run, tmp_path), tmp_path / "out"
    _run(logs, out, *args)  # a fresh copy of the cells to damage
    cells = sorted((out / "cells").rglob("*.json"))
    cells[0].unlink()
    cells[1].write_text(cells[1].read_text()[:20])
    (cells[2].parent / f".{cells[2].name}.x.tmp").write_text("{")
    intact = cells[2].read_text()
    killed = logs / "qmix" / "3m_7" / "3m"
    killed.mkdir(parents=True)
    (killed / "args.yml").write_text(yaml.safe_dump({"seed": 0}))
    resumed = _run(logs, out, *args, "--n-jobs", "2")
    assert resumed["counts"]["cells_computed"] == 2 and resumed["counts"]["cells_cached"] == 4
    assert resumed["counts"]["models_trained"] == 0
    # evaluation is seeded: the recomputed cells give what the first run gave
    assert resumed["table"] == first["table"]
    assert all(json.loads(cell.read_text())["episode_rewards"] for cell in cells[:2])
    # the temporary file is no cell: the cell beside it was read from its own file, unchanged
    assert sorted((out / "cells").rglob("*.json")) == cells and cells[2].read_text() == intact


def test_regularized_trains_its_qmix_first(tmp_path):
    results = _run(tmp_path / "logs", tmp_path / "out", "--methods", "regularized", "--attacks", "none")
    assert sorted(m["method"] for m in results["models"]) == ["qmix", "regularized"]
    assert [c["settings"]["method"] for c in results["cells"]] == ["regularized"]
    qmix = next(m for m in results["models"] if m["method"] == "qmix")
    config = yaml.safe_load((tmp_path / "logs" / "regularized" / "3m_1" / "3m" / "config.yml").read_text())
    assert config["pretrained"] == qmix["path"]


def test_learned_attackers_are_trained_once(first_run, tmp_path):
    logs = _copied_logs(first_run, tmp_path)  # the attackers are saved beside the model
    args = ("--methods", "qmix", "--attacks", "atla", "paad", "--attacker-timesteps", "100")
    first = _run(logs, tmp_path / "out", *args)
    assert first["counts"]["attackers_trained"] == 2
    model = logs / "qmix" / "3m_1" / "3m.zip"
    attackers = sorted(p.name for p in model.with_name("attackers").glob("*.zip"))
    victim = file_sha256(model)[:12]
    assert attackers == [
        f"atla_eps0.2_100steps_seed0_victim{victim}.zip",
        f"paad_eps0.2_100steps_seed0_victim{victim}.zip",
    ]
    (tmp_path / "out" / "cells").rename(tmp_path / "old_cells")  # cells gone, attackers kept
    second = _run(logs, tmp_path / "out", *args)
    assert second["counts"]["attackers_trained"] == 0 and second["counts"]["cells_computed"] == 2
    assert all(c["attacker"]["trained"] is False for c in second["cells"])


def test_epsilon_sweep_and_attacks_on_some_agents(first_run, tmp_path):
    root, _, _ = first_run
    results = _run(
        root / "logs",
        tmp_path / "out",
        "--methods",
        "qmix",
        "--attacks",
        "none",
        "random",
        "--epsilons",
        "0.1",
        "0.3",
        "--n-attacked",
        "1",
    )
    settings = sorted(
        (c["settings"]["attack"], c["settings"]["epsilon"], c["settings"]["n_attacked"]) for c in results["cells"]
    )
    assert settings == [("none", 0.0, None), ("random", 0.1, 1), ("random", 0.3, 1)]
    table = (tmp_path / "out" / "table.md").read_text()
    assert "## ε = 0.1, attacked: 1 agent(s)" in table and "## ε = 0.3, attacked: 1 agent(s)" in table
    assert matplotlib.image.imread(tmp_path / "out" / "epsilon_sweep.png").ndim == 3


def test_a_setting_missing_from_an_older_run_matches_at_its_default(first_run):
    from zoo.benchmark_jobs import find_trained_model

    root, _, _ = first_run
    tiny = (("buffer_size", 64), ("batch_size", 4), ("target_update_interval", 5))

    def job(*extra):
        return TrainJob("3m", "qmix", 0, str(root / "logs"), timesteps_scale=0.0015, hyperparams=tiny + extra)

    found = find_trained_model(job())
    assert found is not None
    # learning_starts is not in the run's config.yml: QMIX's default (0) matches, another value does not
    assert find_trained_model(job(("learning_starts", 0))) == found
    assert find_trained_model(job(("learning_starts", 5))) is None


def test_a_run_whose_settings_file_cannot_be_parsed_is_named_in_one_line(tmp_path):
    params = tmp_path / "logs" / "qmix" / "3m_1" / "3m"
    params.mkdir(parents=True)
    (params.parent / "3m.zip").write_bytes(b"")
    (params / "args.yml").write_text("seed: 0\n")
    (params / "config.yml").write_text("n_timesteps: [205000\n")  # cut short while written
    with pytest.raises(SystemExit, match=r"^Cannot read .*3m_1/3m/config.yml: while parsing a flow sequence"):
        find_trained_model(TrainJob("3m", "qmix", 0, str(tmp_path / "logs")))


def test_no_clip_cells_are_cached_apart_and_labelled(first_run, tmp_path):
    root, _, _ = first_run
    out = tmp_path / "out"
    results = _run(root / "logs", out, "--methods", "qmix", "--attacks", "none", "fgsm", "--no-clip")
    names = sorted(p.name for p in (out / "cells").rglob("*.json"))
    assert names == ["fgsm_eps0.2_mall_noclip.json", "none_eps0_mall.json"]
    fgsm = next(c for c in results["cells"] if c["settings"]["attack"] == "fgsm")
    assert fgsm["settings"]["clip_observations"] is False
    assert "NOT clipped" in (out / "table.md").read_text()
    assert results["counts"]["models_trained"] == 0  # the first run's model is reused


def test_compile_reaches_every_job_and_reuses_runs_and_cells(first_run):
    """--compile is a runtime choice: jobs carry it, but the runs and cells they reuse are the same."""
    root, args, _ = first_run
    argv = ["-f", str(root / "logs"), "--out", str(root / "out"), *TINY, *args]
    plain, compiled = (benchmark.build_parser().parse_args(argv + extra) for extra in ([], ["--compile"]))
    plain_jobs, compiled_jobs = benchmark.train_jobs(plain, 1), benchmark.train_jobs(compiled, 1)
    assert len(plain_jobs) == len(compiled_jobs) == 2  # qmix and fgsm on 3m
    assert all(job.compile_env for job in compiled_jobs) and not any(job.compile_env for job in plain_jobs)
    for plain_job, compiled_job in zip(plain_jobs, compiled_jobs):
        assert find_trained_model(compiled_job) == find_trained_model(plain_job) is not None
        plain_cells = benchmark.cell_jobs(plain, plain_job, "model.zip", 1)
        compiled_cells = benchmark.cell_jobs(compiled, compiled_job, "model.zip", 1)
        assert len(plain_cells) == 3 and all(cell.compile_env for cell in compiled_cells)  # none, fgsm, random
        assert [c.settings("sha") for c in compiled_cells] == [c.settings("sha") for c in plain_cells]
        assert [c.path for c in compiled_cells] == [c.path for c in plain_cells]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--maps", "3mm"], "Unknown map '3mm'. Did you mean '3m'?"),
        (["--methods", "qmx"], "Did you mean 'qmix'?"),
        (["--attacks", "fgms"], "Did you mean 'fgsm'?"),
        (["--maps", "3m", "--n-attacked", "4"], "--n-attacked [4] impossible on 3m: it has 3 agents"),
        (["--epsilons", "-0.1"], "--epsilons must be > 0"),
        (["--n-eval-episodes", "0"], "--n-eval-episodes must be >= 1, got 0"),
        (["--timesteps-scale", "0"], "--timesteps-scale must be a finite number > 0"),
        (["--timesteps-scale", "inf"], "--timesteps-scale must be a finite number > 0, got inf"),
        (["--epsilons", "0.1", "0.1000001"], "values that read alike to 6 digits (['0.1']) are one setting"),
        (["--seed", "-1"], "seeds -1..-1 (--seed, --n-seeds) must lie in 0..4294957232"),
        (["--seed", "4294957233"], "(the test envs of seed s play s + 10000 + b for env b"),
        (["--seed", "4294967295", "--n-seeds", "2"], "seeds 4294967295..4294967296 (--seed, --n-seeds) must lie in"),
        (["--methods", "qmix", "-params", "hinge_c:5"], "-params ['hinge_c']: no method of ['qmix'] takes them"),
        # train.py's --pretrained (the job's qmix model) won over it, while table.md listed it as used
        (["--methods", "regularized", "-params", "pretrained:q.zip"], "-params pretrained:q.zip: regularized starts"),
        (
            ["--maps", "3m", "--methods", "fgsm", "-params", "epsilon:0.1"],
            "fgsm on 3m trains at epsilon=0.1 but the cells would test at the paper's (0.2; 0.05 on 2s3z)",
        ),
    ],
)
def test_bad_inputs_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        benchmark.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-params", "gamma:1.5"], "qmix on 3m refuses its settings (hyperparams/qmix.yml with -params): gamma=1.5"),
        (["--methods", "fgsm", "-params", "epsilon:-0.1"], "fgsm on 3m refuses its settings (hyperparams/fgsm.yml"),
        (["-params", "learning_rate:nan"], "qmix on 3m refuses its settings (hyperparams/qmix.yml with -params): "),
        (["-params", "n_envs:0"], "n_envs=0 must be an integer >= 1"),
        (["-params", "n_timesteps:0"], "n_timesteps=0 must be an integer >= 1"),
        (["--methods", "regularized", "-params", "hinge_c:-1"], "regularized on 3m refuses its settings"),
        (["-params", "batch_size:64", "buffer_size:32"], "batch_size=64 exceeds buffer_size=32"),
        (["-params", "env_kwargs:{reward_scale_rate: 0}"], "reward_scale_rate=0 must be a finite number > 0"),
        (["--methods", "paad", "-params", "adversary_kwargs:{gamma: 2}"], "paad on 3m refuses its settings"),
        (["--maps", "3m", "2s3z", "-params", "learning_rate:lin_x"], "Cannot parse the schedule learning_rate"),
        # refused when the networks are built: every job failed after the check had passed them
        (["-params", "policy_kwargs:{rnn_hidden_dim: -1}"], "qmix on 3m refuses its settings (hyperparams/qmix.yml"),
        (
            ["--methods", "paad", "-params", "adversary_kwargs:{policy_kwargs: {rnn_hidden_dim: 0}}"],
            "paad on 3m refuses its settings (hyperparams/paad.yml with -params): adversary_kwargs",
        ),
    ],
)
def test_settings_a_method_refuses_are_named_before_any_training(argv, message, tmp_path, monkeypatch, capsys):
    """-params values a method's constructor refuses failed only when that method's training started (after hours
    of training the others, or the qmix model regularized starts from)."""
    monkeypatch.setattr(benchmark, "run_jobs", lambda *args: pytest.fail("started jobs before checking the settings"))
    argv = ["--maps", "3m", *argv] if "--maps" not in argv else argv
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(["-f", str(tmp_path / "logs"), "--out", str(tmp_path / "out"), *argv])
    assert exit_info.value.code == 2
    assert message in (err := capsys.readouterr().err) and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_an_out_that_cannot_hold_the_results_is_refused_before_any_job(tmp_path, monkeypatch, capsys):
    """--out naming a file (or a folder under one, or not writable) made every cell fail with NotADirectoryError
    after its training, then write_outputs crash with FileExistsError."""
    from zoo import utils

    monkeypatch.setattr(benchmark, "run_jobs", lambda *args: pytest.fail("started jobs before checking --out"))
    (tmp_path / "file").write_text("")
    base = ["--maps", "3m", "--methods", "qmix", "-f", str(tmp_path / "logs")]
    for out, message in [
        (tmp_path / "file", f"{tmp_path / 'file'} is a file, not a folder"),
        (tmp_path / "file" / "results", f"{tmp_path / 'file'} is a file, not a folder"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            benchmark.main([*base, "--out", str(out)])
        assert exit_info.value.code == 2 and f"--out '{out}': {message}" in capsys.readouterr().err
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cells").write_text("")
    with pytest.raises(SystemExit):
        benchmark.main([*base, "--out", str(tmp_path / "out")])
    assert f"{tmp_path / 'out' / 'cells'} is a file, not a folder" in capsys.readouterr().err
    with monkeypatch.context() as patch:
        patch.setattr(utils.os, "access", lambda path, mode: False)  # as a user without write permission there
        with pytest.raises(SystemExit):
            benchmark.main([*base, "--out", str(tmp_path / "new")])
    assert f"--out '{tmp_path / 'new'}': the folder {tmp_path} is not writable" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file", "out"]  # nothing created
    # a good --out is created before the first job
    monkeypatch.setattr(
        benchmark, "run_jobs", lambda *args: (tmp_path / "new").is_dir() and benchmark.RunLog({}, [], [])
    )
    benchmark.main([*base, "--out", str(tmp_path / "new"), "--verbose", "0"])
    assert (tmp_path / "new" / "results.json").is_file()


def test_a_failed_training_skips_its_dependents_and_keeps_the_rest(monkeypatch):
    def fake_train(job):
        if job.method == "qmix":
            raise RuntimeError("diverged")
        return {"path": f"{job.method}.zip", "trained": True, "n_timesteps": 1, "wall_s": 0.0}

    monkeypatch.setattr(benchmark, "train_model", fake_train)
    jobs = [TrainJob("3m", method, 0, "logs") for method in ("qmix", "regularized", "fgsm")]
    with ThreadPoolExecutor(1) as executor:
        log = benchmark.run_jobs(executor, jobs, lambda job, path: [], ["qmix", "regularized", "fgsm"], print)
    assert list(log.models) == [("3m", "fgsm", 0)]
    assert len(log.failures) == 2
    assert "diverged" in log.failures[0] and "not run, its qmix model failed" in log.failures[1]


def test_dask_executor_runs_the_jobs(first_run, tmp_path):
    root, _, first = first_run
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster:
        results = _run(
            root / "logs",
            tmp_path / "out",
            "--methods",
            "qmix",
            "--attacks",
            "none",
            "fgsm",
            "--executor",
            "dask",
            "--scheduler-address",
            cluster.scheduler_address,
        )
    assert results["counts"]["models_reused"] == 1 and results["counts"]["cells_computed"] == 2
    assert results["table"] == [row for row in first["table"] if row["method"] == "qmix" and row["attack"] != "random"]


def test_method_specific_params_reach_only_the_methods_that_take_them():
    """``--methods regularized -params hinge_c:5`` failed: the qmix model regularized starts from got hinge_c too."""
    parser = benchmark.build_parser()
    args = parser.parse_args(["--maps", "3m", "--methods", "regularized", "-params", "hinge_c:5", "batch_size:8"])
    benchmark.check_args(parser, args)
    params = {job.method: dict(job.hyperparams) for job in benchmark.train_jobs(args, 1)}
    assert params == {"qmix": {"batch_size": 8}, "regularized": {"batch_size": 8, "hinge_c": 5}}


def test_params_budgets_are_taken_as_given_and_yaml_budgets_scaled():
    """-params n_timesteps was scaled, -params exploration_timesteps was not: 500 steps, exploration over 1000."""
    job = TrainJob("3m", "qmix", 0, "logs", 0.5, (("n_timesteps", 1000), ("exploration_timesteps", 1000)))
    assert training_budget(job) == (1000, {"exploration_timesteps": 1000})
    assert training_budget(TrainJob("3m", "qmix", 0, "logs", 0.5)) == (102_500, {"exploration_timesteps": 25_000})


def test_the_latest_finished_run_is_the_one_with_the_highest_id(first_run, tmp_path):
    """Run folders sorted as text put 3m_9 after 3m_10."""
    root, _, _ = first_run
    logs = tmp_path / "logs"
    for run_id in range(1, 11):
        shutil.copytree(root / "logs" / "qmix" / "3m_1", logs / "qmix" / f"3m_{run_id}")
    params = (("batch_size", 4), ("buffer_size", 64), ("target_update_interval", 5))
    job = TrainJob("3m", "qmix", 0, str(logs), 0.0015, params)
    assert find_trained_model(job) == logs / "qmix" / "3m_10" / "3m.zip"


def test_a_ctrl_c_in_the_final_network_choice_saves_no_model_to_reuse(tmp_path, monkeypatch):
    """The choice runs after the last step: learn() swallowed the Ctrl-C there and the job saved the online network
    as a finished model, which later runs reused (its final_selection None)."""
    from sb3_marl.qmix import qmix as qmix_module
    from zoo.benchmark_jobs import train_model

    def interrupted_choice(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(qmix_module, "select_final_agent", interrupted_choice)
    params = (("batch_size", 4), ("buffer_size", 64), ("target_update_interval", 5), ("final_selection_episodes", 2))
    job = TrainJob("3m", "qmix", 0, str(tmp_path / "logs"), 0.0015, params)
    with pytest.raises(KeyboardInterrupt, match="training of .* stopped at"):
        train_model(job)
    assert find_trained_model(job) is None


def test_a_regularized_run_with_its_pretrained_models_network_is_reused(tmp_path):
    """The run takes policy_kwargs / mixer from its pretrained QMIX (train.py's rule); the reuse check compared them
    with the yaml's, which regularized.yml always sets, so such a run was trained again on every benchmark run."""
    from sb3_marl.envs import make_env
    from sb3_marl.qmix import QMIX
    from zoo.benchmark_jobs import _run_differs

    qmix = QMIX(make_env("3m", seed=0), policy_kwargs={"rnn_hidden_dim": 32}, device="cpu")
    pretrained = str(qmix.save(tmp_path / "qmix.zip"))
    ran = {"policy_kwargs": {"rnn_hidden_dim": 32}, "mixer": "qmix"}  # the run's config.yml
    wanted = {"policy_kwargs": {"rnn_hidden_dim": 64}, "mixer": "qmix"}  # regularized.yml's
    job = TrainJob("3m", "regularized", 0, "logs", pretrained=pretrained)
    assert not _run_differs(ran, {"seed": 0}, wanted, job)
    # a -params network setting is the job's own: the run must have it
    job = TrainJob(
        "3m", "regularized", 0, "logs", hyperparams=(("policy_kwargs", {"rnn_hidden_dim": 64}),), pretrained=pretrained
    )
    assert _run_differs(ran, {"seed": 0}, wanted, job)


def test_jobs_that_exit_fail_alone_and_ctrl_c_keeps_what_is_done(monkeypatch):
    """The zoo reports bad settings with SystemExit (it ended the whole run); Ctrl-C in the default one-job mode
    waited for every queued training, then wrote nothing."""
    started = []

    def fake_train(job):
        started.append(job.method)
        if job.method == "fgsm":
            raise SystemExit("bad setting")
        if job.method == "atla":
            raise KeyboardInterrupt
        return {"path": f"{job.method}.zip", "trained": True, "n_timesteps": 1, "wall_s": 0.0}

    monkeypatch.setattr(benchmark, "train_model", fake_train)
    jobs = [TrainJob("3m", method, 0, "logs") for method in ("qmix", "fgsm", "atla", "paad")]
    log = benchmark.run_jobs(benchmark.InlineExecutor(), jobs, lambda job, path: [], [], lambda line: None)
    assert started == ["qmix", "fgsm", "atla"] and log.interrupted  # paad never started
    assert list(log.models) == [("3m", "qmix", 0)]
    assert len(log.failures) == 1 and "SystemExit: bad setting" in log.failures[0]


def _file_contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def _raising(error: BaseException) -> Callable[[object], dict]:
    """A job function that raises ``error``."""

    def job(_: object) -> dict:
        raise error

    return job


@pytest.mark.parametrize("stop", ["interrupted", "failed"])
def test_a_run_with_missing_cells_keeps_the_complete_outputs(first_run, tmp_path, monkeypatch, capsys, stop):
    """A Ctrl-C or failed jobs replaced results.json and table.md with tables of the finished cells (none when every
    cell failed, e.g. of a damaged model) and deleted heatmap.png and comparison.md."""
    root, args, _ = first_run
    out = Path(shutil.copytree(root / "out", tmp_path / "out"))
    complete = _file_contents(out)
    if stop == "interrupted":
        monkeypatch.setattr(benchmark, "train_model", _raising(KeyboardInterrupt()))
    else:  # as every cell of a damaged model failed
        monkeypatch.setattr(benchmark, "evaluate_cell", _raising(RuntimeError("cannot load the model")))
    with pytest.raises(SystemExit) as exit_info:
        _run(root / "logs", out, *args)
    kept = "the finished jobs are in results.partial.json and table.partial.md (results.json, table.md, comparison.md, "
    if stop == "interrupted":
        assert exit_info.value.code == 130 and kept in capsys.readouterr().out
    else:
        assert str(exit_info.value).startswith(f"6 job(s) failed; {kept}")
    assert {name: data for name, data in _file_contents(out).items() if ".partial." not in name} == complete
    partial = json.loads((out / "results.partial.json").read_text())
    assert partial["cells"] == [] and (out / "table.partial.md").is_file()
    monkeypatch.undo()  # a complete run again: the complete outputs are written, the partial ones left and named
    again = benchmark.main(["-f", str(root / "logs"), "--out", str(out), *TINY, *args, "--verbose", "1"])
    assert again["counts"]["cells_cached"] == 6 and (out / "results.json").read_bytes() != complete["results.json"]
    assert "Left as earlier runs with these settings wrote them (not redrawn by this run): results.partial.json, " in (
        capsys.readouterr().out
    )


def test_an_interrupted_first_run_records_its_settings_before_any_job(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(benchmark, "train_model", _raising(KeyboardInterrupt()))
    out, base = tmp_path / "out", ["--maps", "3m", "--methods", "qmix", "-f", str(tmp_path / "logs")]
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main([*base, "--out", str(out)])
    assert exit_info.value.code == 130
    assert sorted(p.name for p in out.iterdir()) == ["results.partial.json", "settings.json", "table.partial.md"]
    assert (
        "Interrupted: the finished jobs are in results.partial.json and table.partial.md; " in capsys.readouterr().out
    )
    with pytest.raises(SystemExit):
        benchmark.main([*base, "--out", str(out), "--n-eval-episodes", "2"])
    assert "--n-eval-episodes 32 there, --n-eval-episodes 2 here" in capsys.readouterr().err


def test_a_cell_with_fewer_seeds_than_the_table_says_so():
    parser = benchmark.build_parser()
    args = parser.parse_args(["--maps", "3m", "--methods", "qmix", "fgsm", "--attacks", "none", "--n-seeds", "2"])
    benchmark.check_args(parser, args)

    def cell(method, seed, win):
        settings = {"map_name": "3m", "method": method, "attack": "none", "epsilon": 0.0, "n_attacked": None}
        return {"settings": {**settings, "seed": seed}, "win_rate": win, "mean_reward": 10 * win, "std_reward": 3.0}

    rows = benchmark.aggregate([cell("qmix", 0, 1.0), cell("qmix", 1, 0.5), cell("fgsm", 0, 0.5)])
    table = benchmark.markdown_table(args, rows)
    assert "| 3m | Vanilla QMIX | 0.75 ± 0.25 / 7.50 ± 2.50 |" in table
    assert "| 3m | FGSM | 0.50 / 5.00 ± 3.00 (n=1) |" in table and "marked (n=K)" in table


def test_a_training_epsilon_off_the_papers_is_accepted_with_explicit_test_budgets():
    parser = benchmark.build_parser()
    args = parser.parse_args(["--maps", "3m", "--methods", "fgsm", "-params", "epsilon:0.1", "--epsilons", "0.1"])
    benchmark.check_args(parser, args)
    assert [benchmark.Setting(0.1, None)] == benchmark.settings_of(args)


def _copied_run(first_run, logs: Path) -> tuple[TrainJob, Path]:
    """A copy of the first run's qmix model as the only run of ``logs``, and the job that finds it."""
    root, _, _ = first_run
    shutil.copytree(root / "logs" / "qmix" / "3m_1", logs / "qmix" / "3m_1")
    params = (("batch_size", 4), ("buffer_size", 64), ("target_update_interval", 5))
    job = TrainJob("3m", "qmix", 0, str(logs), 0.0015, params)
    assert find_trained_model(job) == logs / "qmix" / "3m_1" / "3m.zip"
    return job, logs / "qmix" / "3m_1"


def test_a_run_stopped_before_its_budget_is_not_reused(first_run, tmp_path):
    """zoo/train.py saves the model on Ctrl-C: such a run was taken for a finished one."""
    from sb3_marl import QMIX

    job, run = _copied_run(first_run, tmp_path / "logs")
    model = QMIX.load(run / "3m.zip")
    model.num_timesteps = training_budget(job)[0] - 1
    model.save(run / "3m.zip")
    assert find_trained_model(job) is None


@pytest.mark.parametrize(
    "file, change",
    [
        ("config.yml", {"advantage_learning": 0.9}),  # -params the job does not give
        ("config.yml", {"n_envs": 3}),
        ("args.yml", {"trained_agent": "other.zip"}),  # continued from another model
        ("args.yml", {"trial_id": 4}),
        ("args.yml", {"backend": "sc2"}),
        ("args.yml", {"seed": 1}),
    ],
)
def test_a_run_with_other_settings_is_not_reused(first_run, tmp_path, file, change):
    """Only the settings the job asks for were compared: a run given more -params was reused as the yaml's model."""
    job, run = _copied_run(first_run, tmp_path / "logs")
    path = run / "3m" / file
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **change}))
    assert find_trained_model(job) is None


def test_a_model_retrained_into_the_same_path_gets_new_cells(first_run, tmp_path):
    """Cells were reused by model path: a log folder wiped and trained again reported the old model's cells."""
    import torch

    from sb3_marl import QMIX

    root, _, _ = first_run
    logs, out = tmp_path / "logs", tmp_path / "out"
    _copied_run(first_run, logs)
    args = ("--methods", "qmix", "--attacks", "none", "fgsm")
    first = _run(logs, out, *args)
    assert first["counts"]["cells_computed"] == 2
    assert _run(logs, out, *args)["counts"]["cells_cached"] == 2
    model_path = logs / "qmix" / "3m_1" / "3m.zip"
    model = QMIX.load(model_path)
    with torch.no_grad():
        for parameter in model.policy.parameters():
            parameter.add_(0.5)
    model.save(model_path)  # another model, same path and settings
    again = _run(logs, out, *args)
    assert again["counts"]["cells_computed"] == 2 and again["counts"]["cells_cached"] == 0
    assert {c["settings"]["model_sha256"] for c in again["cells"]} == {file_sha256(model_path)}


def test_cells_play_the_env_settings_the_model_trained_with(tmp_path):
    """-params env_kwargs reached training but not the test env: a sparse-reward model was tested on dense rewards."""
    results = _run(
        tmp_path / "logs",
        tmp_path / "out",
        "--methods",
        "qmix",
        "--attacks",
        "none",
        "-params",
        "env_kwargs:{reward_sparse: true}",
    )
    (cell,) = results["cells"]
    assert cell["settings"]["env_kwargs"] == {"reward_sparse": True}
    # sparse: +1 for a win, -1 for a loss, 0 otherwise (scaled alike); dense returns differ from episode to episode
    assert len({abs(r) for r in cell["episode_rewards"]} - {0.0}) <= 1


def test_tables_name_the_params_and_heatmaps_a_single_setting_off_the_papers(first_run, tmp_path):
    root, _, _ = first_run
    table = (root / "out" / "table.md").read_text()
    assert "Settings changed with -params (where a method takes them): batch_size=4, buffer_size=64," in table
    parser = benchmark.build_parser()
    args = parser.parse_args(["--maps", "3m", "--methods", "qmix", "--attacks", "fgsm", "--epsilons", "0.1"])
    benchmark.check_args(parser, args)
    row = {"map": "3m", "method": "qmix", "attack": "fgsm", "epsilon": 0.1, "n_attacked": None, "win_rate": 0.5}
    row.update(mean_reward=10.0, std_reward=1.0)
    (record,) = benchmark.heatmap_records(args, [row])
    assert record["attack"] == "FGSM\nε=0.1 M=all"


def test_ctrl_c_under_an_executor_without_cancel_futures_still_writes_what_is_done(monkeypatch):
    """Dask's executor has shutdown(wait) only: the interrupt handler's cancel_futures was a TypeError, which lost
    every output of the run."""

    class DaskLikeExecutor(benchmark.InlineExecutor):
        def shutdown(self, wait: bool = True) -> None:  # noqa: D102
            pass

    def fake_train(job):
        if job.method == "fgsm":
            raise KeyboardInterrupt
        return {"path": f"{job.method}.zip", "trained": True, "n_timesteps": 1, "wall_s": 0.0}

    monkeypatch.setattr(benchmark, "train_model", fake_train)
    jobs = [TrainJob("3m", method, 0, "logs") for method in ("qmix", "fgsm")]
    log = benchmark.run_jobs(DaskLikeExecutor(), jobs, lambda job, path: [], [], lambda line: None)
    assert log.interrupted and list(log.models) == [("3m", "qmix", 0)]


def test_results_record_the_code_that_computed_them(first_run):
    root, _, results = first_run
    revision = code_revision()
    assert results["code"] == revision and all(model["code"] == revision for model in results["models"])
    assert all(cell["code"] == revision and cell["compile_env"] is False for cell in results["cells"])
    if (Path(benchmark.__file__).resolve().parents[1] / ".git").exists():
        assert revision is not None and re.fullmatch(r"[0-9a-f]{12}(-dirty)?", revision)


def test_a_regularized_run_is_reused_however_the_log_folder_is_written(tmp_path, monkeypatch):
    """Its pretrained QMIX was matched by the path string: -f logs, then -f /abs/logs, retrained it."""
    monkeypatch.chdir(tmp_path)
    argv = ("--methods", "regularized", "--attacks", "none")
    _run(Path("logs"), tmp_path / "out", *argv)
    again = _run(tmp_path / "logs", tmp_path / "out", *argv)
    assert again["counts"]["models_trained"] == 0 and again["counts"]["models_reused"] == 2


def test_the_table_says_when_learned_attackers_serve_other_settings_than_they_trained_in():
    """Learned attackers are trained attacking every agent with clipping; cells with M < N or --no-clip reuse them,
    which the table's note must say (it named only the attackers' steps)."""
    parser = benchmark.build_parser()
    plain = benchmark.measured_line(parser.parse_args(["--maps", "3m", "--attacks", "atla"]))
    assert "reused" not in plain
    some_agents = benchmark.measured_line(parser.parse_args(["--maps", "3m", "--n-attacked", "1", "--no-clip"]))
    assert "trained attacking every agent with clipping and reused for every M and the unclipped test attacks" in (
        some_agents
    )


def _no_jobs(*args: object) -> None:
    pytest.fail("started jobs before checking the settings")


def test_an_out_holding_results_of_other_settings_is_refused_before_any_job(first_run, tmp_path, monkeypatch, capsys):
    """Cell file names hold map, method, seed, attack, ε and M only: a run with other episodes, budgets, -params or
    clipping replaced the cells of the same names, then results.json and table.md, and deleted the plots."""
    root, args, _ = first_run
    out = Path(shutil.copytree(root / "out", tmp_path / "out"))
    before = _file_contents(out)
    monkeypatch.setattr(benchmark, "run_jobs", _no_jobs)
    for extra, message in [
        (["--n-eval-episodes", "2"], "(--n-eval-episodes 4 there, --n-eval-episodes 2 here), which this run would"),
        (["--timesteps-scale", "0.002"], "--timesteps-scale 0.0015 there, --timesteps-scale 0.002 here"),
        (["-params", "gamma:0.9"], "target_update_interval:5 there, -params batch_size:4 buffer_size:64 gamma:0.9 "),
        (["--no-clip"], "clipped attacks there, --no-clip here"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            _run(root / "logs", out, *args, *extra)
        assert exit_info.value.code == 2 and message in (err := capsys.readouterr().err)
        assert f"--out '{out}' holds the results of other settings (" in err and "pass another --out" in err
    (out / "settings.json").unlink()  # an --out written before the settings file: its results.json's
    with pytest.raises(SystemExit):
        _run(root / "logs", out, *args, "--n-eval-episodes", "2")
    assert "--n-eval-episodes 4 there, --n-eval-episodes 2 here" in capsys.readouterr().err
    assert _file_contents(out) == {name: data for name, data in before.items() if name != "settings.json"}
    # the same settings may add attacks, learned ones with any budget where none ran yet
    parser = benchmark.build_parser()
    argv = ["-f", str(root / "logs"), "--out", str(out), *TINY, "--attacks", "paad", "--attacker-timesteps", "100"]
    benchmark.check_out_settings(parser, parser.parse_args(argv))


def test_outputs_a_run_does_not_draw_are_left_as_earlier_runs_drew_them(first_run, tmp_path, capsys):
    """A run without the paper's cells deleted comparison.md (and one with a single ε epsilon_sweep.png), though the
    cells they show were still there and valid."""
    root, _, _ = first_run
    out = Path(shutil.copytree(root / "out", tmp_path / "out"))
    comparison = (out / "comparison.md").read_bytes()
    results = _run(root / "logs", out, "--methods", "qmix", "--attacks", "random", "--verbose", "1")
    assert results["counts"]["cells_cached"] == 1 and [row["attack"] for row in results["table"]] == ["random"]
    assert (out / "comparison.md").read_bytes() == comparison
    assert "Left as earlier runs with these settings wrote them (not redrawn by this run): comparison.md\n" in (
        capsys.readouterr().out
    )


def test_a_model_file_that_does_not_load_is_not_reused(first_run, tmp_path):
    """Only the settings member was read: a damaged weights member was reused, and every cell of it failed."""
    import zipfile

    job, run = _copied_run(first_run, tmp_path / "logs")
    model = run / "3m.zip"
    with zipfile.ZipFile(model) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    with zipfile.ZipFile(model, "w") as damaged:
        for name, data in members.items():
            damaged.writestr(name, b"garbage" if name == "policy.pth" else data)
    unloadable = []
    assert find_trained_model(job, unloadable) is None
    assert len(unloadable) == 1 and str(model) in unloadable[0] and "'policy.pth'" in unloadable[0]
    result = {"trained": True, "wall_s": 1.0, "n_timesteps": 3, "path": "new.zip", "not_reused": unloadable}
    line = benchmark._model_line(job, result)
    assert line.endswith(f"new.zip; not reused, does not load: {unloadable[0]}")


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda cell: {**cell, "win_rate": "abc"}, "invalid win_rate='abc'"),  # Unknown format code 'f'
        (lambda cell: {**cell, "win_rate": 7.5}, "invalid win_rate=7.5"),  # was taken and printed
        (lambda cell: {**cell, "mean_reward": float("nan")}, "invalid mean_reward=nan"),
        (lambda cell: {**cell, "episode_rewards": [1.0]}, "invalid episode_rewards=[1.0]"),  # 4 episodes a cell
        (lambda cell: {k: v for k, v in cell.items() if k != "win_rate"}, "missing win_rate"),  # KeyError
        (lambda cell: {k: v for k, v in cell.items() if k != "attacker"}, "missing attacker"),  # in write_outputs
        (lambda cell: [cell], "a JSON list, not an object"),  # AttributeError in the job
    ],
)
def test_an_invalid_cached_cell_is_recomputed_and_named(first_run, tmp_path, capsys, edit, problem):
    root, _, first = first_run
    out = Path(shutil.copytree(root / "out", tmp_path / "out"))
    cell = out / "cells" / "3m" / "qmix" / "seed0" / "none_eps0_mall.json"
    cell.write_text(json.dumps(edit(json.loads(cell.read_text()))))
    results = _run(root / "logs", out, "--methods", "qmix", "--attacks", "none", "--verbose", "1")
    assert results["counts"]["cells_computed"] == 1
    assert f"; replaced the invalid cached cell {cell} ({problem})\n" in capsys.readouterr().out
    original = next(c for c in first["cells"] if c["settings"] == json.loads(cell.read_text())["settings"])
    assert json.loads(cell.read_text())["episode_rewards"] == original["episode_rewards"]  # seeded: the same cell


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-f", "{tmp}/file"], "-f '{tmp}/file': {tmp}/file is a file, not a folder"),  # train.py's usage, SystemExit 2
        (["-f", ""], "-f '': an empty path; name a folder"),
        (["--out", ""], "--out '': an empty path; name a folder"),  # was the current folder
        (["--verbose", "-5"], "--verbose must be >= 0 (0: quiet, 1: a line per job, 2: training logs too), got -5"),
    ],
)
def test_bad_folders_and_verbosity_are_refused_before_any_job(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(benchmark, "run_jobs", _no_jobs)
    (tmp_path / "file").write_text("")
    base = ["--maps", "3m", "--methods", "qmix", "-f", str(tmp_path / "logs"), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(base + [arg.format(tmp=tmp_path) for arg in argv])
    assert exit_info.value.code == 2 and message.format(tmp=tmp_path) in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def test_a_bad_scheduler_address_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    """A malformed address raised ValueError (missing port number), one where no scheduler runs OSError after 30 s."""
    import socket

    import dask

    monkeypatch.setattr(benchmark, "run_jobs", _no_jobs)
    base = ["--maps", "3m", "--methods", "qmix", "-f", str(tmp_path / "logs"), "--out", str(tmp_path / "out")]
    for address, message in [
        ("tcp://host", "--scheduler-address 'tcp://host': missing port number in address 'host'; expected tcp://"),
        ("tpc://host:8786", "--scheduler-address 'tpc://host:8786': unknown protocol 'tpc'"),
        ("tcp://host:87860", "port 87860 outside 1..65535; expected tcp://host:port"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            benchmark.main([*base, "--executor", "dask", "--scheduler-address", address])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with socket.socket() as free:  # a port where nothing listens
        free.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{free.getsockname()[1]}"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(SystemExit) as exit_info:
        benchmark.main([*base, "--executor", "dask", "--scheduler-address", address])
    assert str(exit_info.value).startswith(f"--scheduler-address '{address}': no Dask scheduler answers there (")
    assert "\n" not in str(exit_info.value) and not (tmp_path / "out" / "settings.json").exists()


def test_each_preset_has_its_own_default_out(monkeypatch):
    """zoo/benchmark.py and both presets wrote to logs/benchmark, where their settings' results met."""
    argvs = []
    monkeypatch.setattr(benchmark, "main", lambda argv, description: argvs.append(argv) or {})
    for name in ("bench_robust", "bench_learned_attacks"):
        load_benchmark_script(name).main([])
        load_benchmark_script(name).main(["--out", "mine"])
    outs = [benchmark.build_parser().parse_args(argv).out for argv in argvs]
    assert outs == ["logs/bench_robust", "mine", "logs/bench_learned_attacks", "mine"]
    assert benchmark.build_parser().parse_args([]).out == "logs/benchmark"


def test_network_settings_are_refused_up_front_leaving_torchs_random_state():
    """The check built no network: policy_kwargs were refused by every job only, after the others' training."""
    import torch

    state = torch.get_rng_state()
    check_training_settings(TrainJob("3m", "qmix", 0, "logs"))  # builds its networks
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="rnn_hidden_dim=-1 must be an integer >= 1"):
        check_training_settings(
            TrainJob("3m", "qmix", 0, "logs", hyperparams=(("policy_kwargs", {"rnn_hidden_dim": -1}),))
        )
