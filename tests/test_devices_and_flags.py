"""Devices this machine lacks, flags given as strings, file objects of the wrong kind and malformed ``predict`` inputs
are refused with errors that name them (they were torch's and zipfile's raw errors, a "corrupt" model file, or taken
silently)."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.common.validation import env_device, model_device
from sb3_marl.qmix import QMIX


def _model() -> QMIX:
    """An untrained model: 2 agents, 3 actions, observations of 2 features."""
    return QMIX(CueMatchingEnv(n_agents=2, n_actions=3, seed=0), seed=0, device="cpu")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return _model().save(tmp_path_factory.mktemp("model") / "model.zip")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        *[  # load said the file was corrupt; the constructor failed at torch.Generator
            (
                name,
                rf"device='{name}' is not available here: torch finds no {name} device on this machine \('auto', 'cpu'",
            )
            for name in ("xpu", "mps", "hpu", "ipu")
        ],
        ("meta", "device='meta' holds no data: a model needs 'cpu' or 'cuda'"),
    ],
)
def test_a_device_this_machine_lacks_is_refused_before_the_model_file_is_read(model_file, tmp_path, device, message):
    with pytest.raises(ValueError, match=message):
        QMIX.load(model_file, device=device)
    with pytest.raises(ValueError, match=message):  # the device is checked first: no "no model file"
        QMIX.load(tmp_path / "missing.zip", device=device)
    with pytest.raises(ValueError, match=message):
        QMIX(CueMatchingEnv(), device=device)
    with pytest.raises(ValueError, match=message.replace("a model", "an env").replace(r"\('auto', ", r"\(")):
        env_device(device)


def test_an_indexed_cpu_is_the_cpu(model_file):
    """torch cannot load saved tensors onto "cpu:3" (load reported a corrupt file); it means the one CPU device."""
    assert model_device("cpu:0") == env_device("cpu:3") == torch.device("cpu")
    assert QMIX.load(model_file, device="cpu:0").device == torch.device("cpu")


def test_an_accelerator_torch_finds_is_taken(monkeypatch):
    """A laptop's Apple GPU (or another accelerator torch reports available) is not refused as unknown."""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert model_device("mps") == torch.device("mps")
    assert env_device("mps") == torch.device("mps")


def test_cuda_falls_back_to_the_cpu_without_cuda_and_a_missing_cuda_index_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert model_device("cuda") == model_device("cuda:1") == model_device("auto") == torch.device("cpu")  # as SB3
    with pytest.raises(ValueError, match="device='cuda': CUDA is not available on this machine"):
        env_device("cuda")  # an env has no fallback
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert model_device("auto") == torch.device("cuda") and model_device("cuda:0") == torch.device("cuda:0")
    for check in (model_device, env_device):
        with pytest.raises(ValueError, match="device='cuda:1' is not available here: this machine's CUDA devices are "):
            check("cuda:1")


def test_flags_given_as_strings_are_refused(model_file):
    """A non-empty string was taken as True."""
    with pytest.raises(ValueError, match="print_system_info='no' must be True or False"):
        QMIX.load(model_file, print_system_info="no")
    model = _model()
    for source in (model_file, model.get_parameters()):
        with pytest.raises(ValueError, match="exact_match='no' must be True or False"):
            model.set_parameters(source, exact_match="no")


def test_file_objects_must_be_binary_and_open_the_right_way(model_file, tmp_path):
    """Were "not a valid sb3-marl model file (corrupt or truncated?)", "string argument expected, got 'bytes'" and
    "UnsupportedOperation: write"."""
    model, saved = _model(), model_file.read_bytes()
    with (
        open(model_file) as text,
        pytest.raises(
            TypeError, match=r"is a text file: give a binary file open for reading \(open\(path, 'rb'\), io.BytesIO\)"
        ),
    ):
        QMIX.load(text)
    with pytest.raises(TypeError, match=r"StringIO.* is a text file: give a binary file open for writing"):
        model.save(io.StringIO())
    with (
        open(model_file, "rb") as read_only,
        pytest.raises(
            ValueError, match=r"BufferedReader.* is not open for writing: give a binary file open for writing"
        ),
    ):
        model.save(read_only)
    assert model_file.read_bytes() == saved
    with open(tmp_path / "out.zip", "wb") as write_only, pytest.raises(ValueError, match="is not open for reading"):
        QMIX.load(write_only)
    closed = io.BytesIO(saved)
    closed.close()
    with pytest.raises(ValueError, match="is not open for reading"):
        model.set_parameters(closed)


def test_custom_objects_must_be_a_mapping(model_file):
    """Was "'list' object is not a mapping"."""
    with pytest.raises(ValueError, match=r"custom_objects=\[\('seed', 1\)\] must be a mapping of settings \(a dict\)"):
        QMIX.load(model_file, custom_objects=[("seed", 1)])


OBS = np.zeros((2, 2), dtype=np.float32)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        *[  # were "must be real number, not NoneType" and torch's list of the dtypes it converts
            (
                {"observation": observation},
                TypeError,
                rf"observation={shown} is not an array of numbers \(dtype {dtype}\): expected float32 of shape "
                r"\(2, 2\) or \(batch, 2, 2\)",
            )
            for observation, shown, dtype in (
                (None, "None", "object"),
                ({"a": 1}, r"\{'a': 1\}", "object"),
                (np.full((2, 2), "a"), r"array\(\[\['a', .*", "<U1"),
            )
        ],
        (  # was "expected sequence of length 3 at dim 1 (got 2)"
            {"avail_actions": [[1, 1, 1], [1, 1]]},
            ValueError,
            r"avail_actions is a ragged sequence \(its rows differ in length\): expected bool \(or 1/0\) of shape "
            r"\(2, 3\) or \(batch, 2, 3\)",
        ),
        *[  # were read as available
            (
                {"avail_actions": [[value, 1, 1], [1, 1, 1]]},
                ValueError,
                rf"avail_actions holds {shown}: a mask holds True/False or 1/0; expected bool \(or 1/0\) of shape",
            )
            for value, shown in ((np.nan, "nan"), (0.5, "0.5"))
        ],
        (  # was "Could not infer dtype of NoneType"
            {"episode_start": [None]},
            TypeError,
            r"episode_start=\[None\] is not an array of numbers \(dtype object\): expected bool \(or 1/0\) of shape "
            r"\(batch,\)",
        ),
        ({"episode_start": [0.5]}, ValueError, "episode_start holds 0.5: a mask holds True/False or 1/0"),
        (  # was taken: the agents acted on NaN
            {"state": (np.full((1, 2, 64), np.nan, dtype=np.float32), np.zeros((1, 2, 3), dtype=np.float32))},
            ValueError,
            r"state\[0\] \(hidden\) holds NaN or inf: expected finite numbers, float32 of shape \(batch, 2, 64\)",
        ),
        (
            {"state": (np.zeros((1, 2, 64), dtype=np.float32), torch.full((1, 2, 3), np.inf))},
            ValueError,
            r"state\[1\] \(last_action\) holds NaN or inf: expected finite numbers, one-hot float32",
        ),
    ],
)
def test_malformed_predict_inputs_are_named_with_the_shape_and_dtype_expected(arguments, error, message):
    with pytest.raises(error, match=message):
        _model().predict(**{"observation": OBS, **arguments})


def test_predict_takes_masks_as_bools_or_ones_and_zeros():
    model = _model()
    avail = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    actions, state = model.predict(OBS, avail_actions=avail, episode_start=np.array([1]))
    assert actions.tolist() == [0, 1]
    assert model.predict([[0, 1], [1, 0]], state=state, avail_actions=torch.tensor(avail == 1))[0].tolist() == [0, 1]


def test_an_unbounded_number_setting_names_what_it_must_be_once():
    """finite_float without bounds said "must be a finite number finite" (MAPPO's ent_coef, schedule values)."""
    from sb3_marl.common.validation import finite_float

    with pytest.raises(ValueError, match=r"^x=nan must be a finite number$"):
        finite_float("x", float("nan"))
