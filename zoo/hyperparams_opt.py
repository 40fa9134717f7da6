"""Optuna search spaces, one sampler per algorithm (rl-zoo3's ``HYPERPARAMS_SAMPLER`` convention).

A sampler takes an ``optuna.Trial`` and the augmentation settings the map allows
(:func:`~sb3_marl.common.augmentation.allowed_augmentations`), and returns constructor keyword arguments that
override the yaml defaults.  ``policy_kwargs`` it returns are merged into the yaml ``policy_kwargs`` key by key.
Settings given with ``-params`` stay fixed: the sampler draws from a :class:`FixedParamsTrial`, so that the choices a
search space makes from a setting follow the fixed value (e.g. ``target_update_interval`` from a fixed ``tau``), and
:func:`drop_fixed` takes them out of each trial's sampled settings.
The ranges follow PyMARL / pymarl2's tuned QMIX settings for SMAC.  The attack budget ``epsilon`` is not searched: it is
part of the threat model, not a tuning knob.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna


def sample_qmix_params(trial: optuna.Trial, augmentations: Sequence[str] = ()) -> dict[str, Any]:
    """QMIX search space: the training settings of :func:`sample_training_params` and the network sizes."""
    return {
        **sample_training_params(trial, augmentations),
        "policy_kwargs": {
            "rnn_hidden_dim": trial.suggest_categorical("rnn_hidden_dim", [32, 64, 128]),
            "mixing_embed_dim": trial.suggest_categorical("mixing_embed_dim", [16, 32, 64]),
        },
    }


def sample_training_params(trial: optuna.Trial, augmentations: Sequence[str] = ()) -> dict[str, Any]:
    """Training settings of the QMIX family: optimiser, learning rate, batch, target updates, exploration, TD(lambda).

    Target updates are either hard copies every 50-400 episodes (``tau`` 1, PyMARL) or soft updates after every
    rollout (``target_update_interval`` 1 episode, ``tau`` 0.05-0.2; 0.1 is ``hyperparams/qmix.yml``'s): the interval
    follows ``tau``, a ``tau`` that ``-params`` fixes included (through :class:`FixedParamsTrial`). The kind of
    TD(lambda) trace is searched only with ``td_lambda`` > 0, where it matters. The loss options of
    :class:`~sb3_marl.qmix.QMIX` (Huber loss, advantage learning, lower-bound loss) are each off or at the value
    tried on 2m_vs_1z (``benchmarks/README.md``); prioritized replay is off or at Schaul et al.'s alpha 0.6.

    :param augmentations: the replay augmentation settings (``agent_permutation``, ``mirror_augmentation``) that the
        map allows: each is searched off and on; the others are not searched (the map would refuse them).
    """
    tau = trial.suggest_categorical("tau", [1.0, 0.2, 0.1, 0.05])
    if tau == 1.0:
        target_update_interval = trial.suggest_categorical("target_update_interval", [50, 100, 200, 400])
    else:
        target_update_interval = 1
    td_lambda = trial.suggest_categorical("td_lambda", [0.0, 0.4, 0.6, 0.8])
    lambda_traces = trial.suggest_categorical("lambda_traces", ["peng", "watkins"]) if td_lambda > 0 else "peng"
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 2e-3, log=True),
        "optimizer_class": trial.suggest_categorical("optimizer_class", ["rmsprop", "adam"]),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64, 128]),
        "target_update_interval": target_update_interval,
        "tau": tau,
        "exploration_timesteps": trial.suggest_categorical("exploration_timesteps", [10_000, 25_000, 50_000, 100_000]),
        "gamma": trial.suggest_categorical("gamma", [0.95, 0.99, 0.995]),
        "td_lambda": td_lambda,
        "lambda_traces": lambda_traces,
        "huber_delta": trial.suggest_categorical("huber_delta", [None, 1.0]),
        "advantage_learning": trial.suggest_categorical("advantage_learning", [0.0, 0.5]),
        "lower_bound_coef": trial.suggest_categorical("lower_bound_coef", [0.0, 1.0]),
        "prioritized_replay_alpha": trial.suggest_categorical("prioritized_replay_alpha", [0.0, 0.6]),
        **{name: trial.suggest_categorical(name, [False, True]) for name in augmentations},
    }


def sample_regularized_params(trial: optuna.Trial, augmentations: Sequence[str] = ()) -> dict[str, Any]:
    """RegularizedQMIX: the training settings plus the hinge floor ``hinge_c`` of the regulariser. The network sizes
    are not searched: they are those of the pretrained QMIX the model starts from."""
    return {
        **sample_training_params(trial, augmentations),
        "hinge_c": trial.suggest_categorical("hinge_c", [1.0, 5.0, 10.0, 20.0]),
    }


#: algorithm name -> sampler; the robust variants without extra knobs share the QMIX space.
HYPERPARAMS_SAMPLER: dict[str, Callable[[optuna.Trial, Sequence[str]], dict[str, Any]]] = {
    "qmix": sample_qmix_params,
    "fgsm": sample_qmix_params,
    "regularized": sample_regularized_params,
    "atla": sample_qmix_params,
    "paad": sample_qmix_params,
}


class FixedParamsTrial:
    """An Optuna trial as a sampler sees it when ``-params`` fixes some of the settings it searches: each parameter is
    still suggested to (and recorded by) ``trial``, but a fixed one returns its fixed value, so that what the sampler
    derives from it (``target_update_interval`` from ``tau``) is what trains with the fixed value.

    :param trial: the trial (an ``optuna.Trial``, or an ``optuna.trial.FixedTrial`` replaying a recorded one)
    :param fixed: the fixed values by Optuna parameter name (:func:`fixed_params` of the ``-params`` settings)
    """

    def __init__(self, trial: Any, fixed: Mapping[str, Any]) -> None:
        self.trial = trial
        self.fixed = fixed

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self.fixed.get(name, self.trial.suggest_categorical(name, choices))

    def suggest_float(self, name: str, low: float, high: float, **kwargs: Any) -> float:
        return self.fixed.get(name, self.trial.suggest_float(name, low, high, **kwargs))

    def suggest_int(self, name: str, low: int, high: int, **kwargs: Any) -> int:
        return self.fixed.get(name, self.trial.suggest_int(name, low, high, **kwargs))


def merge_sampled(base: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
    """Override ``base`` hyperparameters with ``sampled`` ones, merging ``policy_kwargs`` key by key where both are
    mappings; any other ``policy_kwargs`` (e.g. ``null`` from ``-params``) replaces the other one whole."""
    merged = {**base, **sampled}
    if isinstance(base.get("policy_kwargs"), dict) and isinstance(sampled.get("policy_kwargs"), dict):
        merged["policy_kwargs"] = {**base["policy_kwargs"], **sampled["policy_kwargs"]}
    return merged


def drop_fixed(sampled: dict[str, Any], fixed: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``sampled`` settings into those a trial uses and those ``fixed`` (the ``-params`` settings) keeps.

    A top-level key of ``fixed`` drops the sampled one; where both are dicts (``policy_kwargs``) only the sub-keys
    ``fixed`` gives are dropped.

    :return: (the sampled settings the trial uses, the dropped ones with ``fixed``'s values)
    """
    kept: dict[str, Any] = {}
    dropped: dict[str, Any] = {}
    for key, value in sampled.items():
        if key not in fixed:
            kept[key] = value
        elif isinstance(value, dict) and isinstance(fixed[key], dict):
            rest = {k: v for k, v in value.items() if k not in fixed[key]}
            if rest:
                kept[key] = rest
            if len(rest) < len(value):
                dropped[key] = {k: fixed[key][k] for k in value if k in fixed[key]}
        else:
            dropped[key] = fixed[key]
    return kept, dropped


def fixed_names(dropped: dict[str, Any]) -> list[str]:
    """The names of :func:`drop_fixed`'s dropped settings, ``policy_kwargs.<key>`` for a sub-key."""
    return [f"{key}.{sub}" if sub is not None else key for key, sub, _ in _dropped_items(dropped)]


def fixed_params(dropped: dict[str, Any]) -> dict[str, Any]:
    """:func:`drop_fixed`'s dropped settings (or the ``-params`` settings) by Optuna parameter name (a ``policy_kwargs``
    sub-key is its own parameter), with the values ``-params`` kept."""
    return {sub if sub is not None else key: value for key, sub, value in _dropped_items(dropped)}


def _dropped_items(dropped: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    """``(setting, sub-key or None, kept value)`` of each of :func:`drop_fixed`'s dropped settings: the sub-keys of
    ``policy_kwargs``, the one mapping samplers return; any other setting whole (a schedule's mapping included)."""
    return [
        (key, sub, value[sub] if sub is not None else value)
        for key, value in dropped.items()
        for sub in (value if key == "policy_kwargs" and isinstance(value, dict) else [None])
    ]
