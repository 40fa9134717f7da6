"""Episode replay buffer: padding, masks, ring overwrite, truncated sampling, persistence, prioritized replay."""

import json

import pytest
import torch

from sb3_marl.common.buffers import EpisodeReplayBuffer, PrioritizedEpisodeReplayBuffer, episode_field_specs
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.qmix import QMIX

SPECS = episode_field_specs(n_agents=2, n_actions=3, obs_dim=4, state_dim=5)


def _episodes(lengths: list[int], max_steps: int = 6) -> dict[str, torch.Tensor]:
    k = len(lengths)
    data = {name: torch.zeros((k, max_steps, *shape), dtype=dtype) for name, (shape, dtype) in SPECS.items()}
    for i, length in enumerate(lengths):
        data["filled"][i, :length] = True
        data["reward"][i, :length] = float(i + 1)
    return data


def test_ring_overwrites_oldest_and_sample_truncates():
    buffer = EpisodeReplayBuffer(3, SPECS, max_steps=6)
    buffer.add(_episodes([1, 2]))
    assert (buffer.size(), buffer.full, buffer.buffer_size) == (2, False, 3)  # Stable-Baselines3's names
    buffer.add(_episodes([5, 3]))  # overwrites the episode of length 1
    assert len(buffer) == buffer.size() == 3 and buffer.full
    stored_lengths = sorted(buffer.data["filled"].sum(1).tolist())
    assert stored_lengths == [2, 3, 5]
    batch = buffer.sample(3, torch.Generator().manual_seed(0))
    assert batch["obs"].shape == (3, 6, 2, 4)  # longest episode 5 transitions + final step
    small = EpisodeReplayBuffer(2, SPECS, max_steps=6)
    small.add(_episodes([2, 1]))
    assert small.sample(2)["reward"].shape == (2, 3)
    with pytest.raises(ValueError, match="batch_size=3"):
        small.sample(3)


def test_extra_field_clash_and_unknown_fields_are_rejected():
    with pytest.raises(ValueError, match="'obs'"):
        episode_field_specs(2, 3, 4, 5, {"obs": ((2, 4), torch.float32)})
    buffer = EpisodeReplayBuffer(2, SPECS, max_steps=6)
    with pytest.raises(KeyError, match="fields"):
        buffer.add({"obs": torch.zeros(1, 6, 2, 4)})


def test_collected_episodes_are_padded_with_final_step():
    env = CueMatchingEnv(n_envs=4, episode_limit=5, seed=0)
    model = QMIX(env, seed=0, batch_size=4, buffer_size=64, device="cpu")
    model.learn(60)
    buffer = model.replay_buffer
    n = len(buffer)
    assert n == model._episode_num > 0
    filled = buffer.data["filled"][:n]
    lengths = filled.sum(1)
    steps = torch.arange(filled.shape[1])
    assert torch.equal(filled, steps < lengths[:, None])  # transitions are a prefix
    rows = torch.arange(n)
    # The final step (index = length) carries the last observation (a one-hot cue) and available actions.
    assert torch.all(buffer.data["obs"][rows, lengths].sum(-1) == 1)
    assert buffer.data["avail_actions"][rows, lengths].any(-1).all()
    # Rewards: 1 for every transition but a lost episode's last; nothing after the episode.
    reward = buffer.data["reward"][:n]
    assert torch.all(reward[~filled] == 0)
    won = reward.sum(1) == lengths
    assert torch.all(won == (lengths == env.episode_limit))
    # A loss is terminal; a timeout (the win here) is not stored as terminal, so it bootstraps.
    terminated = buffer.data["terminated"][:n]
    assert torch.equal(terminated.any(1), ~won)
    assert torch.equal(terminated[rows, lengths - 1], ~won)


def test_save_load_round_trip(tmp_path):
    buffer = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    buffer.add(_episodes([2, 4, 3]))
    path = buffer.save(tmp_path / "rb")
    assert path.name == "rb.pkl"  # Stable-Baselines3's suffix
    loaded = EpisodeReplayBuffer.load(path)
    assert len(loaded) == 3 and loaded.pos == buffer.pos
    for name in SPECS:  # rows past n_stored are never read (uninitialised memory)
        assert torch.equal(loaded.data[name][:3], buffer.data[name][:3])
    filling = EpisodeReplayBuffer(4000, SPECS, max_steps=6)
    filling.add(_episodes([2]))
    one_stored = filling.save(tmp_path / "one").stat().st_size
    filling.add(_episodes([2] * 3999))
    all_stored = filling.save(tmp_path / "full").stat().st_size
    assert one_stored * 100 < all_stored  # only the stored rows are written, not the whole capacity
    (tmp_path / "bad.pt").write_bytes(b"not a buffer")
    with pytest.raises(ValueError, match="bad.pt"):
        EpisodeReplayBuffer.load(tmp_path / "bad.pt")


class _RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda payload, meta: meta.update(pos=7), r"header's n_stored=3, pos=7 do not fit its capacity=4"),
        (
            lambda payload, meta: payload.update(extra=_RunsCodeWhenUnpickled()),
            r"the file is refused by torch's weights-only reader \(Unsupported global: GLOBAL (builtins\.)?print",
        ),
        (lambda payload, meta: meta.update(pos=1), r"header's n_stored=3, pos=1 do not fit"),  # would overwrite row 1
        (lambda payload, meta: meta.update(pos="x"), r"bad header \(pos='x' must be an integer >= 0\)"),
        (lambda payload, meta: meta.pop("capacity"), r"bad header \('capacity'\)"),
        (
            lambda payload, meta: payload["data"].update(obs=torch.zeros(3, 7, 5)),
            r"field 'obs' holds episodes of shape \(7, 5\), its header promises \(6, 2, 4\)",
        ),
    ],
)
def test_a_buffer_file_whose_header_and_tensors_disagree_fails_clearly(tmp_path, edit, message):
    buffer = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    buffer.add(_episodes([2, 4, 3]))
    payload = torch.load(buffer.save(tmp_path / "rb"), weights_only=True)
    meta = json.loads(payload["meta"])
    edit(payload, meta)
    payload["meta"] = json.dumps(meta)
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match=f"Cannot read a replay buffer from .*edited.pt: .*{message}"):
        EpisodeReplayBuffer.load(tmp_path / "edited.pt")


def _actions_out_of_range(payload: dict) -> None:
    payload["data"]["actions"][0, 0, 0] = 99


def _a_hole_in_filled(payload: dict) -> None:
    payload["data"]["filled"][1, 0] = False


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_actions_out_of_range, r"its actions run from 0 to 99; the map's are 0..2"),
        (_a_hole_in_filled, r"its 'filled' masks are not one run of 1 to max_steps - 1 steps from step 0"),
    ],
)
def test_a_buffer_file_with_impossible_episodes_fails_clearly(tmp_path, edit, message):
    """Values the learner would crash on (an action past the map's) or misread (a mask that is not a prefix) are
    refused on load, not at the first update."""
    buffer = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    buffer.add(_episodes([2, 4, 3]))
    payload = torch.load(buffer.save(tmp_path / "rb"), weights_only=True)
    edit(payload)
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match=f"Cannot read a replay buffer from .*edited.pt: {message}"):
        EpisodeReplayBuffer.load(tmp_path / "edited.pt")


def test_an_empty_or_damaged_buffer_file_fails_clearly(tmp_path):
    """torch's reader neither names an empty file nor checks the members' CRC-32: a flipped byte loaded silently."""
    buffer = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    buffer.add(_episodes([2, 4, 3]))
    content = bytearray(buffer.save(tmp_path / "rb").read_bytes())
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"Cannot read a replay buffer from .*empty.pt: File is not a zip file"):
        EpisodeReplayBuffer.load(tmp_path / "empty.pt")
    reward = buffer.data["reward"][:3].numpy().tobytes()  # the stored rewards' bytes, a member of their own
    at = bytes(content).index(reward)
    content[at] ^= 0xFF
    (tmp_path / "flipped.pt").write_bytes(bytes(content))
    with pytest.raises(ValueError, match=r"flipped.pt: its member .* fails its CRC check \(the file is corrupt\)"):
        EpisodeReplayBuffer.load(tmp_path / "flipped.pt")


def test_a_buffer_larger_than_the_free_memory_warns(monkeypatch):
    class _Memory:
        available = 1000  # bytes

    monkeypatch.setattr("psutil.virtual_memory", lambda: _Memory())
    with pytest.warns(UserWarning, match=r"buffer_size=4 episodes of 6 steps > 0.00 GB available"):
        buffer = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    assert buffer.nbytes == 4 * 6 * (2 * 4 * 4 + 5 * 4 + 2 * 3 + 2 * 8 + 4 + 1 + 1)


def test_rows_not_yet_stored_are_never_read(monkeypatch):
    """The replay buffer's memory is uninitialised: fill it with garbage and train; nothing of it may leak in."""

    def garbage(self, shape, dtype):
        fill = True if dtype == torch.bool else float("nan") if dtype.is_floating_point else 7
        return torch.full(shape, fill, dtype=dtype)

    monkeypatch.setattr(EpisodeReplayBuffer, "_allocate", garbage)
    env = CueMatchingEnv(n_envs=4, episode_limit=5, seed=0)
    model = QMIX(env, seed=0, batch_size=4, buffer_size=256, device="cpu")
    model.learn(200)  # at most 200 episodes of >= 1 step
    n = len(model.replay_buffer)
    assert 4 <= n < 256  # part of the buffer is still garbage
    for name, tensor in model.replay_buffer.data.items():
        if tensor.dtype.is_floating_point:
            assert torch.isfinite(tensor[:n]).all(), name
    filled = model.replay_buffer.data["filled"][:n]
    assert torch.equal(filled, torch.arange(filled.shape[1]) < filled.sum(1, keepdim=True))  # padding stored as 0
    batch = model.replay_buffer.sample(4, torch.Generator().manual_seed(0))
    loss, _ = model._td_loss(batch)
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())


def test_a_replay_buffer_file_missing_rows_is_refused(tmp_path):
    buffer = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    buffer.add(_episodes([2, 4, 3]))
    path = buffer.save(tmp_path / "rb")
    payload = torch.load(path, weights_only=True)
    payload["data"]["obs"] = payload["data"]["obs"][:2]
    torch.save(payload, tmp_path / "short.pt")
    with pytest.raises(ValueError, match="promises 3 episodes"):
        EpisodeReplayBuffer.load(tmp_path / "short.pt")


def test_prioritized_sampling_follows_priorities_and_weights_correct_for_it():
    buffer = PrioritizedEpisodeReplayBuffer(8, SPECS, max_steps=6, alpha=0.5)
    buffer.add(_episodes([1, 2, 3, 4]))
    assert buffer.priorities[:4].tolist() == [1.0] * 4  # new episodes: the highest priority so far
    buffer.update_priorities(torch.tensor([0, 1, 2, 3]), torch.tensor([1.0, 4.0, 9.0, 0.0]))
    # p^alpha = 1, 2, 3, 1e-3 (the floor 1e-6 ** 0.5): episode 3 is (almost) never drawn, 2 three times as often as 0
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    for _ in range(3000):
        batch = buffer.sample(1, generator, beta=0.5)
        counts[batch["replay_index"]] += 1
    assert counts[3] <= 2
    assert counts[2] / counts[0] == pytest.approx(3.0, rel=0.15) and counts[1] / counts[0] == pytest.approx(
        2.0, rel=0.15
    )
    batch = buffer.sample(3, generator, beta=0.5)
    assert batch["reward"][:, 0].tolist() == (batch["replay_index"] + 1).float().tolist()  # rows match the episodes
    probabilities = torch.tensor([1.0, 2.0, 3.0, 1e-3]) / 6.001
    weights = (4 * probabilities[batch["replay_index"]]) ** -0.5
    assert torch.allclose(batch["replay_weights"], weights / weights.max())
    large = buffer.sample(4, generator, beta=1.0)  # drawn with replacement: the rare episode 3 is still missed
    assert 3 not in large["replay_index"].tolist() and large["replay_weights"].max() == 1.0
    buffer.add(_episodes([2]))
    assert buffer.priorities[4] == 9.0  # the highest priority given so far
    with pytest.raises(ValueError, match="finite"):
        buffer.update_priorities(torch.tensor([0]), torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="alpha=0.0"):
        PrioritizedEpisodeReplayBuffer(8, SPECS, max_steps=6, alpha=0.0)


def test_prioritized_buffer_saves_its_priorities(tmp_path):
    buffer = PrioritizedEpisodeReplayBuffer(4, SPECS, max_steps=6, alpha=0.6)
    buffer.add(_episodes([2, 4, 3]))
    buffer.update_priorities(torch.tensor([0, 2]), torch.tensor([0.5, 7.0]))
    loaded = PrioritizedEpisodeReplayBuffer.load(buffer.save(tmp_path / "prioritized"), alpha=0.6)
    assert loaded.priorities[:3].tolist() == [0.5, 1.0, 7.0] and loaded.max_priority == 7.0
    uniform = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    uniform.add(_episodes([2, 4]))
    from_uniform = PrioritizedEpisodeReplayBuffer.load(uniform.save(tmp_path / "uniform"), alpha=0.6)
    assert from_uniform.priorities[:2].tolist() == [1.0, 1.0]
    assert len(EpisodeReplayBuffer.load(tmp_path / "prioritized.pkl")) == 3  # readable as a uniform buffer too


def test_prioritized_ring_gives_overwritten_rows_the_new_episodes_priority():
    buffer = PrioritizedEpisodeReplayBuffer(3, SPECS, max_steps=6, alpha=1.0)
    buffer.add(_episodes([1, 2]))
    buffer.update_priorities(torch.tensor([0, 1]), torch.tensor([0.5, 4.0]))
    buffer.add(_episodes([3, 4]))  # rows 2 and 0 (the ring wraps)
    assert buffer.priorities.tolist() == [4.0, 4.0, 4.0]
    buffer.update_priorities(torch.tensor([0, 1, 2]), torch.tensor([1.0, 2.0, 3.0]))
    buffer.add(_episodes([1, 2, 3, 5]))  # more than the capacity: the last three, at rows 1, 2, 0
    assert buffer.priorities.tolist() == [4.0, 4.0, 4.0] and buffer.pos == 1
    assert sorted(buffer.data["filled"].sum(1).tolist()) == [2, 3, 5]


def _saved_payload(tmp_path, buffer: EpisodeReplayBuffer) -> dict:
    """The content of ``buffer`` saved to a file, as ``torch.load`` reads it (to edit and save again)."""
    return torch.load(buffer.save(tmp_path / "rb"), weights_only=True)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda payload: payload["priorities"][1:2].fill_(-1.0),
            r"its priorities must be finite numbers > 0, it holds \[-1.0\]",
        ),
        (lambda payload: payload["priorities"][:1].fill_(float("nan")), r"its priorities must be .* it holds \[nan\]"),
        (
            lambda payload: payload.update(max_priority=torch.tensor(float("inf"))),
            r"its max_priority=inf must be a finite number > 0",
        ),
        (
            lambda payload: payload.update(max_priority=torch.ones(2)),
            r"its max_priority=tensor\(\[1., 1.\]\) is not one number",
        ),
        (
            lambda payload: payload.update(priorities=[1.0, 1.0, 1.0]),
            r"its priorities are list; the buffer holds 3 episodes",
        ),
    ],
)
def test_a_buffer_file_with_unusable_priorities_is_refused(tmp_path, edit, message):
    """Negative or NaN priorities and an infinite max_priority loaded, and the first prioritized draw failed in
    torch.multinomial."""
    buffer = PrioritizedEpisodeReplayBuffer(4, SPECS, max_steps=6, alpha=0.6)
    buffer.add(_episodes([2, 4, 3]))
    payload = _saved_payload(tmp_path, buffer)
    edit(payload)
    torch.save(payload, tmp_path / "edited.pkl")
    with pytest.raises(ValueError, match=f"Cannot read a replay buffer from .*edited.pkl: {message}"):
        PrioritizedEpisodeReplayBuffer.load(tmp_path / "edited.pkl", alpha=0.6)


@pytest.mark.parametrize(("field", "value"), [("obs", float("nan")), ("state", float("inf")), ("reward", float("nan"))])
def test_a_buffer_file_with_non_finite_values_is_refused(tmp_path, field, value):
    """Stored NaN observations loaded silently, and every update that sampled their episode trained on NaN."""
    buffer = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    buffer.add(_episodes([2, 4, 3]))
    payload = _saved_payload(tmp_path, buffer)
    payload["data"][field][1, 0] = value
    torch.save(payload, tmp_path / "edited.pkl")
    with pytest.raises(
        ValueError, match=rf"edited.pkl: its field '{field}' holds NaN or inf \(in the episodes at rows \[1\]\)"
    ):
        EpisodeReplayBuffer.load(tmp_path / "edited.pkl")


def test_a_model_file_or_an_unknown_dtype_is_named_when_read_as_a_buffer(tmp_path):
    """A model file gave torch's "file in archive is not in a subdirectory: data"; a float64 field gave
    "'torch.float64'"; alpha=30 overflowed the priorities' powers into an invalid multinomial distribution."""
    model = QMIX(CueMatchingEnv(seed=0), seed=0)
    path = model.save(tmp_path / "m.zip")
    with pytest.raises(
        ValueError,
        match=r"Cannot read a replay buffer from .*m.zip: it is a model \(or policy\) file written by save\(\), not a "
        r"replay buffer: load it with its class's load\(\), e.g. QMIX.load\(path\)",
    ):
        model.load_replay_buffer(path)
    buffer = EpisodeReplayBuffer(4, SPECS, max_steps=6)
    buffer.add(_episodes([2]))
    payload = _saved_payload(tmp_path, buffer)
    meta = json.loads(payload["meta"])
    meta["specs"]["obs"][1] = "torch.float64"
    payload["meta"] = json.dumps(meta)
    torch.save(payload, tmp_path / "float64.pkl")
    with pytest.raises(
        ValueError,
        match=r"float64.pkl: its header gives field 'obs' the dtype 'torch.float64'; a replay buffer stores "
        r"\['torch.float32', 'torch.float16', 'torch.int64', 'torch.int32', 'torch.bool'\]",
    ):
        EpisodeReplayBuffer.load(tmp_path / "float64.pkl")
    with pytest.raises(ValueError, match=r"alpha=30 must be a finite number in \(0, 1\] \(the priority exponent\)"):
        PrioritizedEpisodeReplayBuffer(4, SPECS, max_steps=6, alpha=30)
