"""Tests of the robust QMIX variants (sb3_marl.robust): regulariser, schedules, defences, save/load."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule
from torch import nn

from sb3_marl.attacks import FGSM, PGD, RandomNoise
from sb3_marl.common.schedules import StepSchedule, make_schedule, schedule_to_dict
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.qmix import QMIX
from sb3_marl.robust import RegularizedQMIX, RobustQMIXFGSM
from sb3_marl.robust.regularizer import hinge_regularizer
from tests.helpers import cue_env, train_cue_qmix, win_rate_under


class LinearAgent(nn.Module):
    """Q = obs @ weight + bias for every agent (hidden state passed through unchanged)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())

    def q_values(self, obs, last_action_onehot, hidden):
        return obs @ self.weight + self.bias, hidden + 1


def alive_obs(*shape: int) -> torch.Tensor:
    """Observations (0, 1): feature 0 at zero, feature 1 (ignored by the agents' Q-values) marks them alive."""
    obs = torch.zeros(*shape, 2)
    obs[..., 1] = 1.0
    return obs


def regularizer_of(agent: LinearAgent, obs: torch.Tensor, epsilon: float = 0.2, hinge_c: float = 10.0):
    avail = torch.ones(*obs.shape[:2], agent.bias.shape[0], dtype=torch.bool)
    last = torch.zeros(avail.shape)
    hidden = torch.zeros(*obs.shape[:2], 1)
    attack = PGD(epsilon, n_steps=3, objective="margin", clip_observations=False, seed=0)
    return hinge_regularizer(agent, obs, avail, last, hidden, [attack], hinge_c)


def test_regularizer_zero_when_margin_exceeds_c():
    # Q(a0) - Q(a1) = 20 - 0.5 * |obs| > c = 10 everywhere in the ball: the floor is reached, nothing to pay.
    agent = LinearAgent(torch.tensor([[0.0, 0.5], [0.0, 0.5]]), torch.tensor([20.0, 0.0]))
    reg = regularizer_of(agent, torch.rand(4, 3, 2))
    assert reg.shape == (4, 3)
    assert torch.equal(reg, torch.zeros(4, 3))


def test_regularizer_positive_and_exceeds_c_when_the_ball_flips_the_action():
    # Clean obs (0, 1): Q = (0.1, 0); moving obs[0] by +0.2 gives Q(a1) = 1.0 > Q(a0): the greedy action flips.
    agent = LinearAgent(torch.tensor([[0.0, 5.0], [0.0, 0.0]]), torch.tensor([0.1, 0.0]))
    reg = regularizer_of(agent, alive_obs(2, 3))
    assert (reg > 10.0).all()
    # the worst case of the ball was found: margin 5 * 0.2 - 0.1 = 0.9, plus c
    torch.testing.assert_close(reg.detach(), torch.full((2, 3), 10.9))
    reg.sum().backward()
    assert agent.weight.grad is not None and agent.weight.grad.abs().sum() > 0


def test_regularizer_between_zero_and_c_when_margin_inside_hinge():
    # a0 stays greedy in the ball but by less than c: -c < margin < 0 -> 0 < reg < c.
    agent = LinearAgent(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.tensor([3.0, 0.0]))
    reg = regularizer_of(agent, alive_obs(1, 2))
    torch.testing.assert_close(reg.detach(), torch.full((1, 2), 10.0 - 3.0 + 0.2))


def test_regularizer_ignores_agents_with_one_available_action():
    agent = LinearAgent(torch.tensor([[0.0, 5.0], [0.0, 0.0]]), torch.tensor([0.1, 0.0]))
    obs = alive_obs(1, 2)
    avail = torch.tensor([[[True, True], [True, False]]])
    attack = PGD(0.2, n_steps=1, objective="margin", clip_observations=False, seed=0)
    reg = hinge_regularizer(agent, obs, avail, torch.zeros(1, 2, 2), torch.zeros(1, 2, 1), [attack], 10.0)
    assert reg[0, 0] > 10.0 and reg[0, 1] == 0.0


def test_regularizer_keeps_the_worst_proposal_per_agent():
    torch.manual_seed(0)
    agent = LinearAgent(torch.randn(2, 4), torch.randn(4) * 0.1)
    obs = torch.rand(8, 3, 2)
    avail = torch.ones(8, 3, 4, dtype=torch.bool)
    args = (agent, obs, avail, torch.zeros(avail.shape), torch.zeros(8, 3, 1))
    pgd = PGD(0.2, n_steps=2, objective="margin", random_start=False, clip_observations=False)
    fgsm = FGSM(0.2, clip_observations=False)
    each = [hinge_regularizer(*args, [attack], 10.0).detach() for attack in (pgd, fgsm)]
    both = hinge_regularizer(*args, [pgd, fgsm], 10.0).detach()
    torch.testing.assert_close(both, torch.maximum(*each))
    assert not torch.equal(each[0], each[1])  # the two proposals differ somewhere, so the max is informative
    with pytest.raises(ValueError, match="at least one attack"):
        hinge_regularizer(*args, [], 10.0)


@pytest.mark.parametrize(
    "schedule", [StepSchedule(0.0, 0.1, 0.5), ConstantSchedule(0.3), LinearSchedule(1.0, 0.0, 0.5)]
)
def test_schedule_round_trip(schedule):
    rebuilt = make_schedule(schedule_to_dict(schedule), "kappa")
    for progress in (1.0, 0.8, 0.51, 0.49, 0.0):
        assert rebuilt(progress) == schedule(progress)


def test_step_schedule_switches_at_half():
    schedule = StepSchedule()
    assert schedule(1.0) == 0.0 and schedule(0.51) == 0.0
    assert schedule(0.5) == 0.1 and schedule(0.0) == 0.1


def test_bad_schedules_raise():
    with pytest.raises(ValueError, match=r"kappa=<function .*> is not allowed: give a finite number, a StepSchedule"):
        make_schedule(lambda _: 0.1, "kappa")
    with pytest.raises(ValueError, match=r"kappa: unknown schedule type 'cosine'; allowed: \["):
        make_schedule({"type": "cosine"}, "kappa")
    with pytest.raises(ValueError, match=r"switch_fraction=1.5 must be a finite number in \[0, 1\]"):
        StepSchedule(switch_fraction=1.5)
    assert make_schedule(0.2, "kappa")(0.3) == 0.2


# ---------------------------------------------------------------------------------------------- algorithms
def toy_env(n_envs: int = 4) -> CueMatchingEnv:
    return cue_env(n_envs, seed=0)


SMALL = {"batch_size": 8, "buffer_size": 64, "exploration_timesteps": 200, "seed": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def pretrained_path(tmp_path_factory) -> str:
    model = QMIX(toy_env(), **SMALL)
    model.learn(300)
    return str(model.save(tmp_path_factory.mktemp("qmix") / "qmix_toy.zip"))


def test_robust_fgsm_acts_and_trains_on_perturbed_observations():
    model = RobustQMIXFGSM(toy_env(), epsilon=0.3, **SMALL)
    assert isinstance(model.attack, FGSM) and model.attack.epsilon == 0.3
    model.learn(200)
    batch = model.replay_buffer.sample(8)
    filled = batch["filled"]
    delta = (batch["obs_perturbed"] - batch["obs"])[filled]
    assert delta.abs().max() <= 0.3 + 1e-6 and delta.abs().max() > 0.2
    # the loss trains on what was acted on; the final (never acted on) observation stays clean
    training_obs = model._training_observations(batch)
    assert torch.equal(training_obs[filled], batch["obs_perturbed"][filled])
    assert torch.equal(training_obs[~filled], batch["obs"][~filled])
    # the acting observations are the attack's perturbation against the current network
    obs, state, avail = model.env.reset()
    last = torch.zeros(*avail.shape)
    hidden = model.policy.initial_hidden(obs.shape[0])
    acting = model._acting_observations(obs, state, avail, last, hidden)
    assert torch.equal(acting, model.attack.perturb(model.policy, obs, avail, last, hidden))


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_robust_fgsm_loss_mixes_perturbed_and_clean_td_losses(weight):
    model = RobustQMIXFGSM(toy_env(), epsilon=0.3, clean_loss_weight=weight, **SMALL)
    model.learn(200)
    batch = model.replay_buffer.sample(8)
    loss, _ = model._compute_loss(batch)
    perturbed_loss, _ = QMIX._td_loss(model, batch)  # QMIX's loss on _training_observations: the perturbed ones
    clean_loss, _ = QMIX._td_loss(model, {**batch, "obs_perturbed": batch["obs"]})
    assert not torch.isclose(perturbed_loss, clean_loss)
    torch.testing.assert_close(loss, (1 - weight) * perturbed_loss + weight * clean_loss)


def test_robust_fgsm_rejects_a_clean_loss_weight_outside_0_1():
    with pytest.raises(ValueError, match="clean_loss_weight=1.5"):
        RobustQMIXFGSM(toy_env(), clean_loss_weight=1.5, **SMALL)


def test_robust_fgsm_attack_probability_attacks_whole_episodes():
    never = RobustQMIXFGSM(toy_env(), epsilon=0.3, attack_probability=0.0, **SMALL)
    never.learn(100)
    batch = never.replay_buffer.sample(8)
    assert torch.equal(batch["obs_perturbed"][batch["filled"]], batch["obs"][batch["filled"]])

    half = RobustQMIXFGSM(toy_env(), epsilon=0.3, attack_probability=0.5, **SMALL)
    half.learn(400)
    episodes = half.replay_buffer.sample(64)
    changed = ((episodes["obs_perturbed"] - episodes["obs"]).abs().amax(dim=(-1, -2)) > 0) & episodes["filled"]
    attacked = changed.any(dim=1)
    # an episode is attacked at (nearly) every acted step or at none of them, and both kinds were collected
    acted = episodes["filled"].sum(dim=1)
    assert torch.all((changed.sum(dim=1) == 0) | (changed.sum(dim=1) >= acted - 1))
    assert 0 < attacked.sum() < attacked.numel()

    with pytest.raises(ValueError, match="attack_probability=-0.1"):
        RobustQMIXFGSM(toy_env(), attack_probability=-0.1, **SMALL)


def test_robust_fgsm_attack_choices_and_errors():
    env = toy_env()
    assert isinstance(RobustQMIXFGSM(env, epsilon=0.1, attack="pgd", **SMALL).attack, PGD)
    with pytest.raises(ValueError, match="differs from epsilon"):
        RobustQMIXFGSM(env, epsilon=0.2, attack=FGSM(0.1), **SMALL)
    with pytest.raises(ValueError, match="epsilon=-1.0 must be a finite number >= 0"):
        RobustQMIXFGSM(env, epsilon=-1.0, **SMALL)
    with pytest.raises(TypeError, match="attack must be a BaseAttack, an attack name, a settings dict or None, got 3"):
        RobustQMIXFGSM(env, attack=3, **SMALL)


def test_robust_fgsm_attack_settings_dicts_take_the_models_epsilon_and_seed(tmp_path):
    """A settings dict without ``epsilon`` / ``seed`` takes the model's (as a name does); bad keys are a ValueError;
    the saved attack leaves ``epsilon`` to the model, so ``load(path, epsilon=...)`` changes both."""
    model = RobustQMIXFGSM(toy_env(), epsilon=0.1, attack={"name": "pgd", "n_steps": 3}, **SMALL)
    assert isinstance(model.attack, PGD) and (model.attack.epsilon, model.attack.seed) == (0.1, 0)
    with pytest.raises(ValueError, match="bad settings for attack 'fgsm' .*n_steps.*; it takes \\['epsilon'"):
        RobustQMIXFGSM(toy_env(), epsilon=0.1, attack={"name": "fgsm", "n_steps": 3}, **SMALL)
    path = model.save(tmp_path / "robust.zip")
    loaded = RobustQMIXFGSM.load(path, epsilon=0.05)
    assert (loaded.epsilon, loaded.attack.epsilon, loaded.attack.n_steps) == (0.05, 0.05, 3)
    assert RobustQMIXFGSM.load(path).attack.get_params() == model.attack.get_params()


def test_robust_fgsm_refuses_a_learned_training_attack():
    """A learned attack's networks are not saved with the model: save() worked and load() failed."""
    from sb3_marl.attacks import ATLAAttack, PAADAttack

    for attack in (ATLAAttack(None, 0.2), PAADAttack(None, 0.2)):
        with pytest.raises(ValueError, match=f"cannot train against a learned attack \\({type(attack).__name__}\\)"):
            RobustQMIXFGSM(toy_env(), epsilon=0.2, attack=attack, **SMALL)


def test_robust_fgsm_save_load_round_trip(tmp_path):
    attack = PGD(0.25, n_steps=4, step_size=0.1, attacked_agents=[1], seed=5)
    model = RobustQMIXFGSM(toy_env(), epsilon=0.25, attack=attack, **SMALL)
    model.learn(100)
    loaded = RobustQMIXFGSM.load(model.save(tmp_path / "robust.zip"))
    assert loaded.epsilon == 0.25
    assert loaded.attack.get_params() == attack.get_params()
    obs = torch.rand(3, 2, model.env.obs_shape)
    for name, value in model.policy.state_dict().items():
        torch.testing.assert_close(loaded.policy.state_dict()[name], value)
    assert (loaded.predict(obs)[0] == model.predict(obs)[0]).all()


def test_regularized_starts_from_pretrained(pretrained_path):
    source = QMIX.load(pretrained_path)
    model = RegularizedQMIX(toy_env(), epsilon=0.2, pretrained=pretrained_path, **SMALL)
    for name, value in source.policy.state_dict().items():
        torch.testing.assert_close(model.policy.state_dict()[name], value)
    assert model.pretrained == pretrained_path
    assert RegularizedQMIX(toy_env(), pretrained=source, **SMALL).pretrained is None
    with pytest.raises(ValueError, match="do not fit"):
        RegularizedQMIX(toy_env(), pretrained=source, policy_kwargs={"rnn_hidden_dim": 8}, **SMALL)


@pytest.mark.parametrize("pretrained", [5, b"qmix.zip", ["qmix.zip"]])
def test_a_pretrained_that_is_no_path_nor_model_is_named(pretrained):
    """It failed in the load of the pretrained file, as ``path=5 must be a path``: a name the user never gave."""
    message = f"pretrained={pretrained!r} must be the path of a QMIX model file (a str or a pathlib.Path), a QMIX model"
    with pytest.raises(TypeError, match=f"^{re.escape(message)} or None$"):
        RegularizedQMIX(toy_env(), pretrained=pretrained, **SMALL)


def test_loading_the_pretrained_model_leaves_the_global_random_streams_alone(pretrained_path):
    """QMIX.load reseeded Python's, numpy's and torch's global generators with the pretrained model's seed, so models
    of every seed left the same global stream behind them."""
    import random

    import numpy as np

    draws = []
    for seed in (7, 8):
        RegularizedQMIX(toy_env(), epsilon=0.2, pretrained=pretrained_path, **{**SMALL, "seed": seed})
        draws.append((torch.rand(1).item(), float(np.random.rand()), random.random()))
    assert all(first != second for first, second in zip(*draws))


def test_regularized_kappa_schedule_gates_the_regularizer(pretrained_path):
    model = RegularizedQMIX(toy_env(), epsilon=0.3, pretrained=pretrained_path, reg_pgd_steps=2, **SMALL)
    model.learn(100)
    batch = model.replay_buffer.sample(8)
    model._current_progress_remaining = 0.7  # first half: kappa 0, TD loss only
    loss, stats = model._compute_loss(batch)
    td_loss, _ = model._td_loss(batch)
    assert stats["kappa"] == 0.0 and "reg_loss" not in stats
    torch.testing.assert_close(loss, td_loss)
    model._current_progress_remaining = 0.3  # second half: kappa 0.1
    loss, stats = model._compute_loss(batch)
    assert stats["kappa"] == pytest.approx(0.1)
    assert stats["reg_loss"] > 0.0  # hinge c = 10: the margin term is active
    torch.testing.assert_close(loss, td_loss + 0.1 * stats["reg_loss"], rtol=1e-4, atol=1e-5)
    loss.backward()
    grads = [p.grad for p in model.policy.online_parameters()]
    assert all(g is not None and g.isfinite().all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_the_regularizer_takes_prioritized_replays_importance_weights(pretrained_path, monkeypatch):
    """The TD loss weighs each episode by its importance weight; the regulariser took its rows unweighted."""
    import sb3_marl.robust.regularized as regularized

    model = RegularizedQMIX(toy_env(), epsilon=0.3, pretrained=pretrained_path, prioritized_replay_alpha=0.6, **SMALL)
    model.learn(100)
    batch = model.replay_buffer.sample(8)
    monkeypatch.setattr(regularized, "hinge_regularizer", lambda policy, obs, *args: torch.ones(len(obs), 2))
    rows_per_episode = batch["filled"].sum(dim=1).float()
    expected = 2.0 * (rows_per_episode * batch["replay_weights"]).sum() / rows_per_episode.sum()
    assert not torch.allclose(batch["replay_weights"], torch.ones(8))  # weights that tell the two apart
    torch.testing.assert_close(model.regularizer_loss(batch), expected)
    unweighted = {key: value for key, value in batch.items() if key != "replay_weights"}
    torch.testing.assert_close(model.regularizer_loss(unweighted), torch.tensor(2.0))


def test_regularized_save_load_round_trip(pretrained_path, tmp_path):
    kappa = LinearSchedule(0.0, 0.2, 0.5)
    model = RegularizedQMIX(
        toy_env(), epsilon=0.15, pretrained=pretrained_path, kappa=kappa, hinge_c=5.0, reg_pgd_steps=3, **SMALL
    )
    path = model.save(tmp_path / "reg.zip")
    loaded = RegularizedQMIX.load(path)  # the pretrained file is not read again
    assert (loaded.epsilon, loaded.hinge_c, loaded.reg_pgd_steps) == (0.15, 5.0, 3)
    assert loaded.pretrained == pretrained_path
    assert schedule_to_dict(loaded.kappa) == schedule_to_dict(kappa)
    assert loaded.attack.get_params() == model.attack.get_params()
    assert [a.get_params() for a in loaded.reg_attacks] == [a.get_params() for a in model.reg_attacks]
    for name, value in model.policy.state_dict().items():
        torch.testing.assert_close(loaded.policy.state_dict()[name], value)


def test_regularized_bad_settings_raise():
    with pytest.raises(ValueError, match="hinge_c=0.0 must be a finite number > 0"):
        RegularizedQMIX(toy_env(), hinge_c=0.0, **SMALL)
    with pytest.raises(ValueError, match="reg_pgd_steps=0 must be an integer >= 1"):
        RegularizedQMIX(toy_env(), reg_pgd_steps=0, **SMALL)
    with pytest.raises(ValueError, match=r"kappa=<function .*> is not allowed: .*arbitrary callables cannot be saved"):
        RegularizedQMIX(toy_env(), kappa=lambda progress: 0.1, **SMALL)
    for kappa, moment in [(-0.1, "starts at -0.1"), (StepSchedule(0.0, -0.1), "ends at -0.1")]:
        with pytest.raises(ValueError, match=f"kappa=.* {moment}; it must stay >= 0"):  # would reward margin flips
            RegularizedQMIX(toy_env(), kappa=kappa, **SMALL)


# ---------------------------------------------------------------------------------------------- learning checks
@pytest.mark.slow
def test_fgsm_hurts_a_trained_qmix_more_than_random_noise():
    torch.manual_seed(0)
    model = train_cue_qmix(4000, exploration_timesteps=2000)
    clean, noise, fgsm = (win_rate_under(model, a) for a in (None, RandomNoise(0.4, seed=0), FGSM(0.4)))
    assert clean >= 0.9
    assert fgsm < noise - 0.2


#: always-zero features padding the cue env's observations in the robustness check (see PaddedCueEnv)
N_PADDING = 24


@pytest.mark.slow
def test_robust_fgsm_resists_the_attack_that_breaks_plain_qmix_of_the_same_budget():
    """Guards against robust training that does nothing: on the plain cue env QMIX itself wins 1.00 under FGSM(0.3),
    so the old check passed whatever RobustQMIXFGSM trained on. On the padded cue env a plain network keeps random
    weights on the zero features, which FGSM exploits. Measured (6000 steps, FGSM 0.25, seeds 0 / 1 / 2 / 3 / 4):
    QMIX 0.02 / 1.00 / 0.00 / 0.00 / 0.00, RobustQMIXFGSM(epsilon=0.3) 1.00 / 1.00 / 1.00 / 0.86 / 0.91; both win
    1.00 unattacked. Seeds 0 and 1 are checked on average (seed 1's plain model resists: the check must not hang on
    one seed's luck, nor on this CPU's rounding); any two of the five seeds average plain <= 0.51 and robust >=
    plain + 0.43.
    """
    budget = {"timesteps": 6000, "exploration_timesteps": 3000, "n_padding": N_PADDING}
    attacked = {QMIX: [], RobustQMIXFGSM: []}
    for seed in (0, 1):
        plain = train_cue_qmix(**budget, seed=seed)
        robust = train_cue_qmix(**budget, cls=RobustQMIXFGSM, epsilon=0.3, seed=seed)
        for model in (plain, robust):
            assert win_rate_under(model, None, N_PADDING) >= 0.9
            attacked[type(model)].append(win_rate_under(model, FGSM(0.25), N_PADDING))
    attacked_plain, attacked_robust = (sum(rates) / len(rates) for rates in attacked.values())
    assert attacked_plain <= 0.6, attacked  # the attack bites an undefended model
    assert attacked_robust >= attacked_plain + 0.35, attacked


def test_a_training_attack_that_does_not_fit_the_env_is_refused_before_anything_changes(tmp_path):
    """load(path, attack=<an attack for agent 5>) of a 3-agent model was accepted, then set_env(a 3-agent env) too,
    and learn() failed at its first step; check_learn_settings (which the zoo calls up front) missed it too."""
    path = RobustQMIXFGSM(CueMatchingEnv(n_agents=3, seed=0)).save(tmp_path / "m")
    for env in (None, CueMatchingEnv(n_agents=3, seed=1)):
        with pytest.raises(ValueError, match=r"^attacked agent ids \[5\] do not exist: the env has agents 0..2$"):
            RobustQMIXFGSM.load(path, env=env, attack={"name": "fgsm", "attacked_agents": [5]})
    loaded = RobustQMIXFGSM.load(path)
    loaded.attack = FGSM(loaded.epsilon, attacked_agents=[5])  # as no constructor or load makes it any more
    env = CueMatchingEnv(n_agents=3, seed=1)
    with pytest.raises(ValueError, match=r"attacked agent ids \[5\] do not exist"):
        loaded.check_learn_settings(env)
    with pytest.raises(ValueError, match=r"attacked agent ids \[5\] do not exist"):
        loaded.set_env(env)
    assert loaded.get_env() is None


def test_hinge_regularizer_names_bad_attacks_and_hinge_c():
    """["pgd"] was "'str' object has no attribute 'perturb'", one attack "not iterable", hinge_c="10" "Tensor + str";
    hinge_c=-10 zeroed the regulariser and attacks of other epsilons were taken."""
    agent = LinearAgent(torch.tensor([[0.0, 0.5], [0.0, 0.5]]), torch.tensor([1.0, 0.0]))
    obs = alive_obs(1, 2)
    args = (agent, obs, torch.ones(1, 2, 2, dtype=torch.bool), torch.zeros(1, 2, 2), torch.zeros(1, 2, 1))
    fgsm = FGSM(0.2, clip_observations=False, seed=0)
    for attacks, hinge_c, error_class, message in (
        (["pgd"], 10.0, TypeError, "attacks holds 'pgd': each must be an attack object (a BaseAttack, e.g. FGSM(0.2))"),
        (
            fgsm,
            10.0,
            TypeError,
            f"attacks={fgsm!r} must be a sequence of attacks, e.g. [PGD(epsilon, objective='margin'), FGSM(epsilon)]",
        ),
        (
            [fgsm, PGD(0.1, objective="margin")],
            10.0,
            ValueError,
            "attacks have epsilons [0.2, 0.1]: the regulariser's ball has one radius; give them one epsilon",
        ),
        ([fgsm], "10", ValueError, "hinge_c='10' must be a finite number > 0"),
        ([fgsm], -10, ValueError, "hinge_c=-10 must be a finite number > 0"),
    ):
        with pytest.raises(error_class) as error:
            hinge_regularizer(*args, attacks, hinge_c)
        assert str(error.value) == message
    float32_epsilon = FGSM(np.float32(0.2), clip_observations=False, seed=0)
    assert hinge_regularizer(*args, [fgsm, float32_epsilon], 10).shape == (1, 2)


class ScaledFGSM(FGSM):
    """An attack class of a user's own, with a setting of its own in its get_params()."""

    def __init__(self, epsilon: float, scale: object = 1.0, **kwargs) -> None:  # noqa: ANN003
        super().__init__(epsilon, **kwargs)
        self.scale = scale

    def get_params(self) -> dict:
        return {**super().get_params(), "scale": self.scale}


def test_an_attack_of_the_models_float32_epsilon_is_adopted():
    """epsilon=np.float32(0.2) with FGSM(0.2) was "attack.epsilon=0.2 differs from epsilon=0.20000000298023224"."""
    model = RobustQMIXFGSM(toy_env(), epsilon=np.float32(0.2), attack=FGSM(0.2, seed=0), **SMALL)
    assert model.attack.epsilon == 0.2
    with pytest.raises(ValueError) as error:
        RobustQMIXFGSM(toy_env(), epsilon=np.float32(0.2), attack=FGSM(0.2001), **SMALL)
    assert str(error.value) == "attack.epsilon=0.2001 differs from epsilon=0.20000000298023224; make them equal"


def test_an_attacks_numpy_settings_are_made_plain_and_what_json_cannot_hold_is_refused(tmp_path):
    """A custom attack whose get_params() held numpy scalars was accepted, then failed the first save ("not
    JSON-serializable"); a value JSON cannot hold is now refused when the model is built."""
    model = RobustQMIXFGSM(toy_env(), epsilon=0.2, attack=ScaledFGSM(0.2, np.float32(0.5)), **SMALL)
    path = model.save(tmp_path / "robust.zip")
    loaded = RobustQMIXFGSM.load(path, custom_objects={"attack": ScaledFGSM(0.2, 0.5)})
    assert loaded.attack.scale == 0.5
    attack = ScaledFGSM(0.2, np.array([1.0, 2.0]), seed=0)
    with pytest.raises(ValueError) as error:
        RobustQMIXFGSM(toy_env(), epsilon=0.2, attack=attack, **SMALL)
    assert str(error.value) == (
        f"attack settings (ScaledFGSM.get_params())={attack.get_params()!r} cannot be saved with the model (Object of "
        "type ndarray is not JSON serializable): use numbers, strings, bools, None, lists and dicts with string keys"
    )


def test_regularized_names_a_pretrained_file_of_another_algorithm(tmp_path):
    """A MAPPO file was refused with "... or give RegularizedQMIX pretrained=path", the very argument given."""
    from sb3_marl.adversaries import MAPPO, PerturbationAdversaryEnv

    victim = QMIX(toy_env(), **SMALL)
    path = str(MAPPO(PerturbationAdversaryEnv(toy_env(), victim, 0.2), n_steps=8).save(tmp_path / "mappo.zip"))
    with pytest.raises(ValueError) as error:
        RegularizedQMIX(toy_env(), pretrained=path, **SMALL)
    assert str(error.value) == f"pretrained={path!r} is a MAPPO model file; pretrained needs a QMIX-family model file"


def test_regularized_refuses_a_learned_adversary_as_pretrained(tmp_path):
    """A PA-AD director (a team playing against its victim's) was taken as the model to fine-tune."""
    from sb3_marl.adversaries import QMIXDirector, TargetActionAdversaryEnv

    director = QMIXDirector(TargetActionAdversaryEnv(toy_env(), QMIX(toy_env(), **SMALL), 0.2), **SMALL)
    path = str(director.save(tmp_path / "director.zip"))
    adversary = "is a QMIXDirector model, a learned adversary (it plays against its victim's team): pretrained needs "
    for pretrained, given in ((director, "pretrained"), (path, f"pretrained={path!r}")):
        with pytest.raises(ValueError) as error:
            RegularizedQMIX(toy_env(), pretrained=pretrained, **SMALL)
        assert str(error.value) == f"{given} {adversary}a QMIX-family team model"


def test_regularized_load_refuses_a_pretrained_override(pretrained_path, tmp_path):
    """load(path, pretrained=<a model of another map>) recorded a pretrained model it never read."""
    path = RegularizedQMIX(toy_env(), **SMALL).save(tmp_path / "regularized.zip")
    for overrides in ({"pretrained": pretrained_path}, {"custom_objects": {"pretrained": None}}):
        with pytest.raises(ValueError) as error:
            RegularizedQMIX.load(path, **overrides)
        given = overrides.get("pretrained")
        assert str(error.value) == (
            f"pretrained={given!r}: a loaded model keeps its saved networks (pretrained is only read when a model is "
            f"built); load {path} without it, or build a RegularizedQMIX(env, pretrained=...)"
        )
