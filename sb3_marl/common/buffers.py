"""Episode storage for recurrent multi-agent Q-learning (PyMARL's ``EpisodeBatch`` / ``ReplayBuffer``).

Every field is a preallocated tensor ``[capacity, max_steps, *shape]`` on one device, with
``max_steps = episode_limit + 1``.  An episode of ``L`` transitions occupies steps ``0..L``: steps ``0..L-1``
hold the transitions (``filled`` is True there) and step ``L`` holds the final observation, state and
available actions, which the TD target bootstraps from.  Steps after ``L`` are zero padding.

The replay buffer's tensors are allocated uninitialised (``torch.empty``): on CPU the operating system then
commits memory page by page as episodes are stored, so a run that stores 3 000 episodes of a 5 000-episode buffer
holds about 3/5 of its size, as with Stable-Baselines3's numpy buffers.  Rows not yet stored are never read.
"""

from __future__ import annotations

import json
import math
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import psutil
import torch

from sb3_marl.common.save_util import load_weights_only
from sb3_marl.common.validation import finite_float, whole_number
from sb3_marl.file_util import atomic_path

#: name -> (per-step shape, dtype)
FieldSpecs = dict[str, tuple[tuple[int, ...], torch.dtype]]

_DTYPES = {str(dtype): dtype for dtype in (torch.float32, torch.float16, torch.int64, torch.int32, torch.bool)}


def _field_dtype(name: str, dtype: Any) -> torch.dtype:
    """The dtype that a buffer file's header gives field ``name``, as its name ``dtype`` (``"torch.float32"``); a
    ValueError naming the field and the dtypes a buffer stores when it is none of them."""
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise ValueError(f"its header gives field {name!r} the dtype {dtype!r}; a replay buffer stores {list(_DTYPES)}")
    return _DTYPES[dtype]


def episode_field_specs(
    n_agents: int, n_actions: int, obs_dim: int, state_dim: int, extra_fields: FieldSpecs | None = None
) -> FieldSpecs:
    """The standard per-step fields plus ``extra_fields`` (e.g. ``obs_perturbed``) declared by an algorithm."""
    specs: FieldSpecs = {
        "obs": ((n_agents, obs_dim), torch.float32),
        "state": ((state_dim,), torch.float32),
        "avail_actions": ((n_agents, n_actions), torch.bool),
        "actions": ((n_agents,), torch.int64),
        "reward": ((), torch.float32),
        "terminated": ((), torch.bool),
        "filled": ((), torch.bool),
    }
    for name, spec in (extra_fields or {}).items():
        if name in specs:
            raise ValueError(f"Extra field {name!r} clashes with a standard field; standard fields: {list(specs)}")
        specs[name] = (tuple(spec[0]), spec[1])
    return specs


class EpisodeBatch:
    """``capacity`` padded episodes, each field a tensor ``[capacity, max_steps, *shape]``.

    :param specs: the fields (see :func:`episode_field_specs`).
    :param capacity: number of episodes held.
    :param max_steps: steps per episode slot (``episode_limit + 1``).
    :param device: where the tensors live.
    """

    def __init__(self, specs: FieldSpecs, capacity: int, max_steps: int, device: torch.device | str = "cpu") -> None:
        if capacity < 1 or max_steps < 2:
            raise ValueError(f"capacity={capacity} must be >= 1 and max_steps={max_steps} >= 2")
        self.specs = specs
        self.capacity = capacity
        self.max_steps = max_steps
        self.device = torch.device(device)
        self.data = {
            name: self._allocate((capacity, max_steps, *shape), dtype) for name, (shape, dtype) in specs.items()
        }

    def _allocate(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A zero-filled field tensor (padding and cleared rows read as zeros)."""
        return torch.zeros(shape, dtype=dtype, device=self.device)

    @property
    def nbytes(self) -> int:
        """Size of all field tensors in bytes (what a full buffer occupies)."""
        return self.size_in_bytes(self.specs, self.capacity, self.max_steps)

    @staticmethod
    def size_in_bytes(specs: FieldSpecs, capacity: int, max_steps: int) -> int:
        """Bytes taken by ``capacity`` episode slots of ``max_steps`` steps with the fields ``specs``."""
        per_step = sum(math.prod(shape) * dtype.itemsize for shape, dtype in specs.values())
        return capacity * max_steps * per_step

    def write(self, step: torch.Tensor, rows: torch.Tensor | None = None, **fields: torch.Tensor) -> None:
        """Write one time step per row: ``data[name][rows[i], step[i]] = fields[name][i]``.

        :param step: int64[K] time index of each row.
        :param rows: int64[K] episode rows (all rows ``0..capacity-1`` when None).
        :param fields: values, leading dimension ``K``; unknown names raise a ``KeyError``.
        """
        rows = torch.arange(self.capacity, device=self.device) if rows is None else rows
        for name, value in fields.items():
            if name not in self.data:
                raise KeyError(f"Unknown episode field {name!r}; known: {list(self.data)}")
            self.data[name][rows, step] = value.to(self.data[name].dtype)

    def clear_rows(self, mask: torch.Tensor) -> None:
        """Zero the episodes selected by the bool[capacity] ``mask``."""
        for tensor in self.data.values():
            tensor[mask] = 0


def buffer_file(path: str | Path) -> Path:
    """The file :meth:`EpisodeReplayBuffer.save` writes for ``path``: ``.pkl`` added when it has no suffix, as
    Stable-Baselines3 names its replay buffers."""
    path = Path(path)
    return path if path.suffix else path.with_suffix(".pkl")


class EpisodeReplayBuffer(EpisodeBatch):
    """A FIFO ring of ``buffer_size`` episodes sampled uniformly without replacement.

    :param buffer_size: capacity in episodes.
    :param specs: the fields (see :func:`episode_field_specs`).
    :param max_steps: steps per episode slot (``episode_limit + 1``).
    :param device: where the tensors live.
    """

    def __init__(self, buffer_size: int, specs: FieldSpecs, max_steps: int, device: torch.device | str = "cpu") -> None:
        if torch.device(device).type == "cpu":
            needed, available = self.size_in_bytes(specs, buffer_size, max_steps), psutil.virtual_memory().available
            if needed > available:
                warnings.warn(
                    f"This system does not have apparently enough memory to store the complete replay buffer: "
                    f"{needed / 1e9:.2f} GB for buffer_size={buffer_size} episodes of {max_steps} steps > "
                    f"{available / 1e9:.2f} GB available. Memory is taken as episodes are stored; lower "
                    f"buffer_size if the run will store that many.",
                    stacklevel=2,
                )
        super().__init__(specs, buffer_size, max_steps, device)
        self.pos = 0
        self.n_stored = 0

    def _allocate(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised field tensor: :meth:`add` writes whole episode slots, padding included, and only the
        ``n_stored`` rows written so far are read, so nothing needs zeroing (and untouched memory is not taken)."""
        return torch.empty(shape, dtype=dtype, device=self.device)

    def __len__(self) -> int:
        return self.n_stored

    def size(self) -> int:
        """Episodes stored (Stable-Baselines3's ``ReplayBuffer.size()``, which counts transitions)."""
        return self.n_stored

    @property
    def buffer_size(self) -> int:
        """Capacity in episodes (Stable-Baselines3's ``buffer_size``; :attr:`capacity`)."""
        return self.capacity

    @property
    def full(self) -> bool:
        """Whether every slot holds an episode, so that the next one replaces the oldest (Stable-Baselines3's)."""
        return self.n_stored == self.capacity

    def add(self, episodes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Append ``K`` finished episodes, overwriting the oldest ones once full.

        :param episodes: every field of the buffer, each ``[K, max_steps, *shape]``.
        :return: the rows written, int64[min(K, capacity)] (the last episodes when ``K`` exceeds the capacity).
        """
        if set(episodes) != set(self.data):
            raise KeyError(f"Episodes have fields {sorted(episodes)}; the buffer stores {sorted(self.data)}")
        k = next(iter(episodes.values())).shape[0]
        keep = min(k, self.capacity)
        index = (self.pos + torch.arange(keep, device=self.device)) % self.capacity
        for name, tensor in self.data.items():
            tensor[index] = episodes[name][k - keep :].to(self.device)
        self.pos = (self.pos + keep) % self.capacity
        self.n_stored = min(self.n_stored + keep, self.capacity)
        return index

    def can_sample(self, batch_size: int) -> bool:
        """Whether ``batch_size`` distinct episodes are stored."""
        return self.n_stored >= batch_size

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``batch_size`` distinct episodes, every field truncated to ``L_max + 1`` steps.

        ``L_max`` is the longest episode (in transitions) of the sample, so the final observation of that
        episode is kept.

        :param batch_size: number of episodes.
        :param generator: random generator on the buffer's device.
        """
        if not self.can_sample(batch_size):
            raise ValueError(f"batch_size={batch_size} exceeds the {self.n_stored} episodes stored")
        return self._episodes(torch.randperm(self.n_stored, device=self.device, generator=generator)[:batch_size])

    def _episodes(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The episodes at rows ``index`` (int64[K]), every field truncated to the longest one's ``L_max + 1`` steps."""
        length = int(self.data["filled"][index].sum(dim=1).max())
        return {name: tensor[index, : length + 1] for name, tensor in self.data.items()}

    def save(self, path: str | Path) -> Path:
        """Write the stored episodes (plain tensors) and a JSON header to ``path`` (``.pkl`` added if missing, the
        suffix of Stable-Baselines3's replay buffers; the content is no pickle of objects: it loads with
        ``weights_only=True``), atomically (:func:`~sb3_marl.file_util.atomic_path`)."""
        path = buffer_file(path)
        meta = {
            "capacity": self.capacity,
            "max_steps": self.max_steps,
            "pos": self.pos,
            "n_stored": self.n_stored,
            "specs": {name: [list(shape), str(dtype)] for name, (shape, dtype) in self.specs.items()},
        }
        # a copy, not a view: torch.save writes a view's whole storage (every row of the buffer)
        stored = {name: tensor[: self.n_stored].to("cpu", copy=True) for name, tensor in self.data.items()}
        payload: dict[str, Any] = {"meta": json.dumps(meta), "data": stored, **self._extra_state()}
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path

    def _extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors that :meth:`save` writes beside the episodes (none here; see the prioritized buffer)."""
        return {}

    def _restore_extra_state(self, payload: dict[str, Any]) -> None:
        """Read back what :meth:`_extra_state` saved (nothing here)."""

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu", **kwargs: Any) -> EpisodeReplayBuffer:
        """Read a buffer written by :meth:`save` (``torch.load(weights_only=True)``: no code runs).

        :param kwargs: further arguments of the constructor (e.g. the prioritized buffer's ``alpha``).
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f"No replay buffer file {path}")
        try:
            with zipfile.ZipFile(path) as archive:  # torch's reader does not check the members' CRC-32
                damaged, members = archive.testzip(), archive.namelist()
            if damaged is not None:
                raise ValueError(f"its member {damaged} fails its CRC check (the file is corrupt)")
            if "data" in members:  # the JSON settings of a model zip (torch.save keeps its members in a folder)
                raise ValueError(
                    "it is a model (or policy) file written by save(), not a replay buffer: load it with its class's "
                    "load(), e.g. QMIX.load(path); replay buffers are the .pkl files of save_replay_buffer()"
                )
            payload = load_weights_only(Path(path), torch.device(device), "the file")
            meta = json.loads(payload["meta"])
            specs = {name: (tuple(shape), _field_dtype(name, dtype)) for name, (shape, dtype) in meta["specs"].items()}
        except (
            OSError,
            EOFError,
            RuntimeError,
            KeyError,
            ValueError,
            TypeError,
            pickle.UnpicklingError,
            zipfile.BadZipFile,
        ) as error:
            raise ValueError(f"Cannot read a replay buffer from {path}: {error or type(error).__name__}") from error
        try:
            capacity = whole_number("capacity", meta["capacity"], 1)
            n_stored = whole_number("n_stored", meta["n_stored"], 0)
            pos = whole_number("pos", meta["pos"], 0)
            max_steps = whole_number("max_steps", meta["max_steps"], 1)
        except (KeyError, ValueError) as error:
            raise ValueError(f"Cannot read a replay buffer from {path}: bad header ({error})") from None
        stored = payload["data"]
        rows = {name: tuple(tensor.shape[:1]) for name, tensor in stored.items()}
        if set(stored) != set(specs) or any(shape != (n_stored,) for shape in rows.values()):
            raise ValueError(
                f"Cannot read a replay buffer from {path}: its header promises {n_stored} episodes of the fields "
                f"{sorted(specs)}, the file holds {rows}"
            )
        # a ring buffer: filled rows 0..n_stored-1, writing next at n_stored until full, then anywhere
        if n_stored > capacity or pos >= capacity or (n_stored < capacity and pos != n_stored):
            raise ValueError(
                f"Cannot read a replay buffer from {path}: its header's n_stored={n_stored}, pos={pos} do not fit "
                f"its capacity={capacity}"
            )
        buffer = cls(capacity, specs, max_steps, device, **kwargs)
        for name, tensor in stored.items():
            if tensor.shape[1:] != buffer.data[name].shape[1:]:
                raise ValueError(
                    f"Cannot read a replay buffer from {path}: field {name!r} holds episodes of shape "
                    f"{tuple(tensor.shape[1:])}, its header promises {tuple(buffer.data[name].shape[1:])}"
                )
            buffer.data[name][:n_stored] = tensor
        problem = _episode_problem({name: tensor[:n_stored] for name, tensor in buffer.data.items()})
        if problem:
            raise ValueError(f"Cannot read a replay buffer from {path}: {problem}")
        buffer.pos, buffer.n_stored = pos, n_stored
        try:
            buffer._restore_extra_state(payload)
        except ValueError as error:
            raise ValueError(f"Cannot read a replay buffer from {path}: {error}") from None
        return buffer


def _episode_problem(stored: dict[str, torch.Tensor]) -> str:
    """What makes stored episodes unusable (an empty string when nothing): ``filled`` must mark steps ``0..L-1`` of
    each episode with ``1 <= L < max_steps`` (the last step holds the final observation), actions must index the
    available-action masks, and the float fields (observations, states, rewards) must be finite: a NaN would reach
    every update that samples its episode."""
    missing = sorted({"filled", "actions", "avail_actions"} - set(stored))
    if missing:
        return f"it lacks the fields {missing}"
    filled = stored["filled"].bool()
    lengths = filled.sum(dim=1)
    if bool((filled[:, 1:] & ~filled[:, :-1]).any()) or bool((lengths < 1).any()) or bool(filled[:, -1].any()):
        return "its 'filled' masks are not one run of 1 to max_steps - 1 steps from step 0 per episode"
    n_actions = stored["avail_actions"].shape[-1]
    actions = stored["actions"]
    if bool(((actions < 0) | (actions >= n_actions)).any()):
        return f"its actions run from {int(actions.min())} to {int(actions.max())}; the map's are 0..{n_actions - 1}"
    floats = {name: tensor for name, tensor in stored.items() if tensor.is_floating_point()}
    for name, tensor in floats.items():  # one pass over each: observations, states, rewards
        rows = (~torch.isfinite(tensor)).flatten(1).any(dim=1).nonzero().flatten().tolist()
        if rows:
            more = ", ..." if len(rows) > 5 else ""
            return f"its field {name!r} holds NaN or inf (in the episodes at rows {rows[:5]}{more})"
    return ""


class PrioritizedEpisodeReplayBuffer(EpisodeReplayBuffer):
    """Prioritized replay of whole episodes (Schaul et al., 2016, proportional variant).

    Each episode of a batch is drawn (with replacement, as in the paper) with probability
    ``P(i) = p_i^alpha / sum_j p_j^alpha``, where ``p_i`` is the priority that the learner last gave it
    (:meth:`update_priorities`, e.g. its mean absolute TD error); new episodes get the highest priority given so
    far, so that each is replayed soon. :meth:`sample` adds the importance-sampling weights ``(n P(i))^-beta`` of
    the sampled episodes divided by the batch's largest one (float[K], field ``replay_weights``; normalising by the
    batch rather than by the buffer's rarest episode keeps one near-zero priority from shrinking every step), and
    their rows (int64[K], field ``replay_index``). With a few thousand episodes, sampling is one
    ``torch.multinomial`` over the stored priorities; no sum tree is needed.

    :param alpha: priority exponent in (0, 1] (0 would be uniform: use :class:`EpisodeReplayBuffer`; 1: sampling in
        proportion to the priorities).
    :param buffer_size: see :class:`EpisodeReplayBuffer`, as ``specs``, ``max_steps`` and ``device``.
    """

    #: smallest priority, so that every stored episode can be sampled
    min_priority = 1e-6

    def __init__(
        self,
        buffer_size: int,
        specs: FieldSpecs,
        max_steps: int,
        device: torch.device | str = "cpu",
        alpha: float = 0.6,
    ) -> None:
        alpha = finite_float("alpha", alpha, 0.0, 1.0, low_open=True, meaning="the priority exponent")
        super().__init__(buffer_size, specs, max_steps, device)
        self.alpha = alpha
        self.priorities = torch.zeros(buffer_size, device=self.device)
        self.max_priority = 1.0

    def add(self, episodes: dict[str, torch.Tensor]) -> torch.Tensor:
        index = super().add(episodes)
        self.priorities[index] = self.max_priority
        return index

    def sample(
        self, batch_size: int, generator: torch.Generator | None = None, beta: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """``batch_size`` episodes drawn by priority (an episode may be drawn twice), with their rows and
        importance-sampling weights.

        :param beta: exponent in [0, 1] of the importance-sampling correction (1: full correction).
        """
        if not self.can_sample(batch_size):
            raise ValueError(f"batch_size={batch_size} exceeds the {self.n_stored} episodes stored")
        probabilities = self.priorities[: self.n_stored].pow(self.alpha)
        probabilities = probabilities / probabilities.sum()
        index = torch.multinomial(probabilities, batch_size, replacement=True, generator=generator)
        weights = (self.n_stored * probabilities[index]).pow(-beta)
        return {**self._episodes(index), "replay_index": index, "replay_weights": weights / weights.max()}

    def update_priorities(self, index: torch.Tensor, priorities: torch.Tensor) -> None:
        """Set the priorities (float[K], >= 0; floored at :attr:`min_priority`) of the episodes at rows ``index``."""
        if not bool(torch.isfinite(priorities).all()):
            raise ValueError(f"Priorities must be finite, got {priorities.tolist()}")
        priorities = priorities.detach().to(self.device).clamp(min=self.min_priority)
        self.priorities[index] = priorities
        self.max_priority = max(self.max_priority, float(priorities.max()))

    def _extra_state(self) -> dict[str, torch.Tensor]:
        return {
            "priorities": self.priorities[: self.n_stored].to("cpu", copy=True),
            "max_priority": torch.tensor(self.max_priority),
        }

    def _restore_extra_state(self, payload: dict[str, Any]) -> None:
        """The saved priorities, which must be finite and > 0 (``torch.multinomial`` draws by them); a buffer saved
        without them (uniform replay) gets priority 1 for every episode."""
        if "priorities" not in payload:
            self.priorities[: self.n_stored] = self.max_priority
            return
        priorities, max_priority = payload["priorities"], payload.get("max_priority")
        if not isinstance(priorities, torch.Tensor) or priorities.shape != (self.n_stored,):
            found = tuple(priorities.shape) if isinstance(priorities, torch.Tensor) else type(priorities).__name__
            raise ValueError(
                f"its priorities are {found}; the buffer holds {self.n_stored} episodes, one priority each"
            )
        usable = torch.isfinite(priorities) & (priorities > 0)
        if not bool(usable.all()):
            raise ValueError(f"its priorities must be finite numbers > 0, it holds {priorities[~usable][:5].tolist()}")
        if not (isinstance(max_priority, torch.Tensor) and max_priority.numel() == 1):
            raise ValueError(f"its max_priority={max_priority!r} is not one number")
        self.max_priority = finite_float("its max_priority", max_priority.item(), 0.0, low_open=True)
        self.priorities[: self.n_stored] = priorities.to(self.device)
