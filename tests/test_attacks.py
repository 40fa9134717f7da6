"""Tests of the observation attacks (sb3_marl.attacks) on a small recurrent Q-agent."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

from sb3_marl.attacks import FGSM, PGD, RandomNoise, make_attack
from sb3_marl.attacks.gradient import action_margin
from sb3_marl.policies import QMIXPolicy
from sb3_marl.policies.qmix_policy import greedy_actions

N_AGENTS, OBS_DIM, N_ACTIONS, HIDDEN = 3, 10, 6, 16


class TinyAgent(nn.Module):
    """A shared-weight recurrent Q-network with the ``q_values`` contract of ``QMIXPolicy``."""

    def __init__(self, n_agents: int = N_AGENTS, obs_dim: int = OBS_DIM, n_actions: int = N_ACTIONS) -> None:
        super().__init__()
        self.n_agents, self.obs_dim, self.n_actions = n_agents, obs_dim, n_actions
        self.fc1 = nn.Linear(obs_dim + n_actions + n_agents, 32)
        self.rnn = nn.GRUCell(32, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, n_actions)

    def initial_hidden(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, self.n_agents, HIDDEN)

    def q_values(self, obs, last_action_onehot, hidden):
        batch_size = obs.shape[0]
        agent_id = torch.eye(self.n_agents).expand(batch_size, -1, -1)
        x = torch.relu(self.fc1(torch.cat([obs, last_action_onehot, agent_id], dim=-1)))
        h = self.rnn(x.reshape(-1, x.shape[-1]), hidden.reshape(-1, HIDDEN)).view(batch_size, self.n_agents, HIDDEN)
        return self.fc2(h), h


def make_inputs(batch_size: int = 8, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    obs = torch.rand(batch_size, N_AGENTS, OBS_DIM, generator=gen) * 2 - 1
    avail = torch.rand(batch_size, N_AGENTS, N_ACTIONS, generator=gen) > 0.3
    avail[..., 1] = True
    last = nn.functional.one_hot(torch.randint(N_ACTIONS, (batch_size, N_AGENTS), generator=gen), N_ACTIONS).float()
    hidden = torch.randn(batch_size, N_AGENTS, HIDDEN, generator=gen)
    return obs, avail, last, hidden


@pytest.fixture(scope="module")
def trained_agent() -> TinyAgent:
    """A TinyAgent taught (supervised, 300 Adam steps) to pick the argmax of a fixed linear teacher."""
    torch.manual_seed(0)
    agent = TinyAgent()
    teacher = torch.randn(OBS_DIM, N_ACTIONS)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-2)
    for step in range(300):
        obs, _, last, hidden = make_inputs(64, seed=100 + step)
        q, _ = agent.q_values(obs, last, hidden * 0)
        loss = nn.functional.cross_entropy(q.reshape(-1, N_ACTIONS), (obs @ teacher).argmax(-1).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    agent.zero_grad(set_to_none=True)
    return agent


ATTACK_CLASSES = [FGSM, PGD, RandomNoise]


@pytest.mark.parametrize("attack_class", ATTACK_CLASSES)
def test_perturbation_inside_ball_and_bounds(attack_class):
    agent = TinyAgent()
    obs, avail, last, hidden = make_inputs()
    low, high = -torch.ones(OBS_DIM), torch.ones(OBS_DIM)
    attack = attack_class(0.3, obs_low=low, obs_high=high, seed=1)
    perturbed = attack.perturb(agent, obs, avail, last, hidden)
    assert perturbed.shape == obs.shape
    delta = (perturbed - obs).abs()
    assert delta.max() <= 0.3 + 1e-6
    assert delta.max() > 0.1  # something was actually perturbed
    assert (perturbed >= low).all() and (perturbed <= high).all()
    assert not perturbed.requires_grad


@pytest.mark.parametrize("attack_class", ATTACK_CLASSES)
def test_unattacked_and_dead_agents_untouched(attack_class):
    agent = TinyAgent()
    obs, avail, last, hidden = make_inputs()
    obs[2, 0] = 0.0  # agent 0 of env 2 is dead
    attack = attack_class(0.2, attacked_agents=[0, 2], clip_observations=False, seed=3)
    perturbed = attack.perturb(agent, obs, avail, last, hidden)
    assert torch.equal(perturbed[:, 1], obs[:, 1])
    assert torch.equal(perturbed[2, 0], obs[2, 0])
    changed = (perturbed != obs).any(-1)
    assert changed[:2, 0].all() and changed[3:, 0].all() and changed[:, 2].all()


def test_random_subset_of_agents_is_seeded_and_has_size_m():
    obs, avail, last, hidden = make_inputs(batch_size=64)
    masks = [RandomNoise(0.1, attacked_agents=2, seed=7).agent_mask(obs) for _ in range(2)]
    assert torch.equal(masks[0], masks[1])
    assert (masks[0].sum(-1) == 2).all()
    # drawn per env: different envs get different subsets
    assert len({tuple(row.tolist()) for row in masks[0]}) > 1


def test_random_subset_is_drawn_among_live_agents():
    obs, avail, last, hidden = make_inputs(batch_size=64)
    obs[:32, 1] = 0.0  # agent 1 is dead in the first 32 envs
    obs[:16, 2] = 0.0  # and agent 2 in the first 16: one live agent left there
    mask = RandomNoise(0.1, attacked_agents=2, seed=7).agent_mask(obs)
    assert not mask[:32, 1].any() and not mask[:16, 2].any()
    # M live agents attacked wherever M live, all of them where fewer
    assert (mask[16:].sum(-1) == 2).all()
    assert torch.equal(mask[:16], obs[:16].ne(0).any(-1))


def test_no_autograd_state_left_and_works_under_no_grad():
    agent = TinyAgent()
    obs, avail, last, hidden = make_inputs()
    with torch.no_grad():
        perturbed = PGD(0.1, n_steps=3, seed=0).perturb(agent, obs, avail, last, hidden)
    assert not torch.equal(perturbed, obs)
    assert all(p.grad is None for p in agent.parameters())


def test_gradient_attacks_run_the_policy_without_cudnn():
    """cuDNN's fused RNN refuses a backward pass in eval mode, the mode evaluations attack in: on a GPU every attacked
    evaluation failed. The attacks turn cuDNN off around their gradient (checked here where no GPU is needed)."""
    agent = TinyAgent()
    seen = []
    q_values = agent.q_values
    agent.q_values = lambda *args: (
        seen.append((torch.is_grad_enabled(), torch.backends.cudnn.enabled)) or q_values(*args)
    )
    obs, avail, last, hidden = make_inputs()
    for attack in (FGSM(0.1), PGD(0.1, n_steps=2, seed=0), FGSM(0.1, push_off_greedy=True)):
        with torch.no_grad():  # as evaluate_policy calls it
            attack.perturb(agent, obs, avail, last, hidden, target_actions=avail.float().argmax(-1))
    differentiated = [cudnn for grad, cudnn in seen if grad]
    assert len(differentiated) >= 4 and not any(differentiated) and torch.backends.cudnn.enabled


def test_pgd_one_step_equals_fgsm():
    agent = TinyAgent()
    obs, avail, last, hidden = make_inputs()
    kwargs = {"obs_low": -torch.ones(OBS_DIM), "obs_high": torch.ones(OBS_DIM)}
    fgsm = FGSM(0.2, **kwargs).perturb(agent, obs, avail, last, hidden)
    pgd = PGD(0.2, n_steps=1, step_size=0.2, random_start=False, **kwargs).perturb(agent, obs, avail, last, hidden)
    assert torch.equal(fgsm, pgd)


def test_fgsm_flips_trained_agent_more_than_random_noise(trained_agent):
    obs, avail, last, hidden = make_inputs(batch_size=256, seed=9)
    hidden = hidden * 0
    avail[:] = True

    def flip_rate(attack) -> float:
        perturbed = attack.perturb(trained_agent, obs, avail, last, hidden)
        clean = greedy_actions(trained_agent.q_values(obs, last, hidden)[0], avail)
        attacked = greedy_actions(trained_agent.q_values(perturbed, last, hidden)[0], avail)
        return (clean != attacked).float().mean().item()

    fgsm, pgd, noise = (flip_rate(a(0.15, seed=0)) for a in (FGSM, PGD, RandomNoise))
    assert fgsm > 2 * noise
    assert pgd >= fgsm


def test_targeted_fgsm_moves_toward_target(trained_agent):
    obs, avail, last, hidden = make_inputs(batch_size=128, seed=11)
    hidden = hidden * 0
    avail[:] = True
    target = torch.full((128, N_AGENTS), 2)

    def log_prob_target(o: torch.Tensor) -> torch.Tensor:
        return trained_agent.q_values(o, last, hidden)[0].log_softmax(-1)[..., 2].mean()

    for push in (False, True):
        perturbed = FGSM(0.1, push_off_greedy=push).perturb(trained_agent, obs, avail, last, hidden, None, target)
        assert log_prob_target(perturbed) > log_prob_target(obs)


def test_unavailable_actions_do_not_drive_the_attack():
    """Only the available actions' Q-values enter the objective: a lone available action gives no gradient."""
    agent = TinyAgent()
    obs, avail, last, hidden = make_inputs()
    avail[:] = False
    avail[..., 3] = True
    perturbed = FGSM(0.2).perturb(agent, obs, avail, last, hidden)
    assert torch.equal(perturbed, obs)


@pytest.mark.parametrize("epsilon", [-0.1, math.nan, math.inf, "big", "0.2", True])
def test_bad_epsilon_raises(epsilon):
    with pytest.raises(ValueError, match=re.escape(f"epsilon={epsilon!r} must be a finite number >= 0")):
        FGSM(epsilon)


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        (0, "attacked_agents=0: the number of attacked agents must be >= 1"),
        (-1, "attacked_agents=-1: the number of attacked agents must be >= 1"),
        ([0, 0], "attacked_agents has repeated ids: [0, 0]"),
        ([-1], "attacked_agents must be non-empty ids >= 0, got [-1]"),
        ([], "attacked_agents must be non-empty ids >= 0, got []"),
        (True, "attacked_agents must be None, an int >= 1 or a sequence of agent ids, got True"),
        ("01", "attacked_agents must be None, an int >= 1 or a sequence of agent ids, got '01'"),
    ],
)
def test_bad_attacked_agents_raise(agents, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RandomNoise(0.1, attacked_agents=agents)


def test_agents_outside_env_raise():
    agent = TinyAgent()
    obs, avail, last, hidden = make_inputs()
    with pytest.raises(ValueError, match=r"attacked agent ids \[5\] do not exist: the env has agents 0..2"):
        FGSM(0.1, attacked_agents=[0, 5]).perturb(agent, obs, avail, last, hidden)
    with pytest.raises(ValueError, match="attacked_agents=4 but the env has only 3 agents"):
        FGSM(0.1, attacked_agents=4).perturb(agent, obs, avail, last, hidden)


def test_other_bad_inputs_raise():
    agent = TinyAgent()
    obs, avail, last, hidden = make_inputs()
    with pytest.raises(ValueError, match="RandomNoise is not a targeted attack: target_actions must be None"):
        RandomNoise(0.1).perturb(agent, obs, avail, last, hidden, target_actions=torch.zeros(8, N_AGENTS).long())
    with pytest.raises(ValueError, match=rf"target_actions must be action indices in \[0, {N_ACTIONS}\)"):
        FGSM(0.1).perturb(agent, obs, avail, last, hidden, target_actions=torch.full((8, N_AGENTS), N_ACTIONS))
    with pytest.raises(ValueError, match="n_steps=0 must be an integer >= 1"):
        PGD(0.1, n_steps=0)
    with pytest.raises(ValueError, match="step_size=-1.0 must be a finite number > 0"):
        PGD(0.1, step_size=-1.0)
    with pytest.raises(ValueError, match=r"unknown attack 'cw'; allowed: .* loads with custom_objects=\{'attack'"):
        make_attack("cw")  # also what loading a model saved with an attack class of one's own says
    # an unavailable target has nothing to raise: the attack silently turned untargeted
    targets = torch.ones(8, N_AGENTS, dtype=torch.long)
    targets[2, 1] = int((~avail[2, 1]).nonzero()[0])
    with pytest.raises(ValueError, match=rf"target_actions\[2, 1\]={int(targets[2, 1])} is not available to agent 1"):
        FGSM(0.1).perturb(agent, obs, avail, last, hidden, target_actions=targets)
    # make_attack given an object, a list or a learned attack's settings: named, not a dict() error
    for spec in (FGSM(0.1), ["fgsm"]):
        with pytest.raises(TypeError, match="give an attack name"):
            make_attack(spec)
    for spec in ({"name": "PAADAttack", "epsilon": 0.1}, "atla", "paad"):  # get_params()' name, the zoo's names
        with pytest.raises(ValueError, match="is a learned attack: it needs its trained adversary"):
            make_attack(spec)
    with pytest.raises(ValueError, match=r"it takes \['epsilon', 'n_steps', 'step_size', 'random_start', 'attacked_ag"):
        make_attack("pgd", epsilon=0.1, attacked=[0])


TARGETS_EXPECTED = f"target_actions must be a torch.int64 tensor of shape [B=2, n_agents={N_AGENTS}]"
OBS_EXPECTED = f"obs must be a torch.float32 tensor of shape [B, n_agents={N_AGENTS}, obs_dim={OBS_DIM}]"
AVAIL_EXPECTED = f"avail_actions must be a torch.bool tensor of shape [B=2, n_agents={N_AGENTS}, n_actions={N_ACTIONS}]"


@pytest.mark.parametrize(
    "given, error, message",
    [
        ({"target_actions": np.ones((2, N_AGENTS), np.int64)}, TypeError, f"{TARGETS_EXPECTED}, got numpy.ndarray"),
        ({"target_actions": torch.ones(2, N_AGENTS)}, TypeError, f"{TARGETS_EXPECTED}, got torch.float32"),
        ({"target_actions": [[1] * N_AGENTS] * 2}, TypeError, f"{TARGETS_EXPECTED}, got list"),
        ({"target_actions": torch.ones(2, 1, dtype=torch.long)}, ValueError, f"{TARGETS_EXPECTED}, got shape (2, 1)"),
        ({"obs": np.zeros((2, N_AGENTS, OBS_DIM), np.float32)}, TypeError, f"{OBS_EXPECTED}, got numpy.ndarray"),
        (
            {"obs": torch.zeros(2, N_AGENTS, OBS_DIM, dtype=torch.float64)},
            TypeError,
            f"{OBS_EXPECTED}, got torch.float64",
        ),
        ({"obs": torch.zeros(N_AGENTS, OBS_DIM)}, ValueError, f"{OBS_EXPECTED}, got shape ({N_AGENTS}, {OBS_DIM})"),
        (
            {"obs": torch.zeros(2, N_AGENTS, OBS_DIM, device="meta")},
            ValueError,
            f"{OBS_EXPECTED} on cpu (the device of the policy), got one on meta",
        ),
        ({"avail": np.ones((2, N_AGENTS, N_ACTIONS), bool)}, TypeError, f"{AVAIL_EXPECTED}, got numpy.ndarray"),
        (
            {"avail": torch.ones(2, N_AGENTS, N_ACTIONS + 2, dtype=torch.bool)},
            ValueError,
            f"{AVAIL_EXPECTED}, got shape (2, {N_AGENTS}, {N_ACTIONS + 2})",
        ),
        (
            {"last": torch.zeros(2, N_AGENTS, N_ACTIONS, dtype=torch.long)},
            TypeError,
            "last_action_onehot must be a floating-point torch tensor of shape "
            f"[B=2, n_agents={N_AGENTS}, n_actions={N_ACTIONS}], got torch.int64",
        ),
        (
            {"hidden": torch.zeros(1, 2 * N_AGENTS, HIDDEN)},
            ValueError,
            f"hidden must be a torch.float32 tensor of shape [B=2, n_agents={N_AGENTS}, hidden_dim={HIDDEN}], got "
            f"shape (1, {2 * N_AGENTS}, {HIDDEN})",
        ),
        (
            {"state": torch.zeros(3, 7)},
            ValueError,
            "state must be a floating-point torch tensor of shape [B=2, state_dim], got shape (3, 7)",
        ),
    ],
)
def test_bad_perturb_inputs_are_named_with_their_expected_dtype_and_shape(given, error, message):
    """They failed deep inside torch: "'numpy.ndarray' object has no attribute 'long'", gather's dtype error, "mat1
    and mat2 must have the same dtype", "Expected hidden size (1, 6, 64)", "The size of tensor a (8) must match"."""
    policy = QMIXPolicy(n_agents=N_AGENTS, n_actions=N_ACTIONS, obs_dim=OBS_DIM, state_dim=7, rnn_hidden_dim=HIDDEN)
    obs, avail, last, _ = make_inputs(batch_size=2)
    inputs = {"obs": obs, "avail": avail, "last": last, "hidden": policy.initial_hidden(2), "state": None, **given}
    target_actions = inputs.pop("target_actions", None)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        FGSM(0.1).perturb(policy, *inputs.values(), target_actions=target_actions)


def test_bad_adversary_actions_and_agent_masks_are_named_with_their_expected_dtype_and_shape():
    """A numpy array of ATLA actions was "'numpy.ndarray' object has no attribute 'detach'"."""
    from sb3_marl.attacks import ATLAAttack, PAADAttack

    obs, avail, last, hidden = make_inputs(batch_size=2)
    directions = "adversary_actions must be a floating-point torch tensor of shape "
    directions += f"[B=2, n_agents={N_AGENTS}, obs_dim={OBS_DIM}], got numpy.ndarray"
    with pytest.raises(TypeError, match=f"^{re.escape(directions)}$"):
        ATLAAttack(None, 0.1).perturb_with_actions(None, obs, avail, last, hidden, np.zeros((2, N_AGENTS, OBS_DIM)))
    targets = f"adversary_actions must be a torch.int64 tensor of shape [B=2, n_agents={N_AGENTS}], got torch.float32"
    with pytest.raises(TypeError, match=f"^{re.escape(targets)}$"):
        PAADAttack(None, 0.1).perturb_with_actions(TinyAgent(), obs, avail, last, hidden, torch.ones(2, N_AGENTS))
    mask = f"agent_mask must be a torch.bool tensor of shape [B=2, n_agents={N_AGENTS}], got shape (2, 1)"
    with pytest.raises(ValueError, match=f"^{re.escape(mask)}$"):
        ATLAAttack(None, 0.1).perturb_with_actions(
            None, obs, avail, last, hidden, torch.zeros_like(obs), torch.ones(2, 1, dtype=torch.bool)
        )


def test_an_evaluation_inside_separate_memory_leaves_the_random_stream_as_it_was():
    """The episodes in progress drew other agents and noise depending on whether, and how often, the (shared)
    training attack was evaluated in between."""
    obs, avail, last, hidden = make_inputs(batch_size=64)
    attack, untouched = RandomNoise(0.1, attacked_agents=1, seed=5), RandomNoise(0.1, attacked_agents=1, seed=5)
    with attack.separate_memory():  # before the attack's first draw (its generator is made inside)
        attack.random_point(obs)
    assert torch.equal(attack.agent_mask(obs), untouched.agent_mask(obs))
    with attack.separate_memory():
        attack.agent_mask(obs)
        attack.random_point(obs)
    assert torch.equal(attack.agent_mask(obs), untouched.agent_mask(obs))
    assert torch.equal(attack.random_point(obs), untouched.random_point(obs))


def test_a_seeded_paad_attack_leaves_torchs_global_generator_alone():
    """Its inner FGSM was unseeded and drew its seed from torch's global generator."""
    from sb3_marl.attacks import PAADAttack

    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    PAADAttack(None, 0.1, seed=3)
    assert torch.equal(torch.rand(1), expected)


@pytest.mark.parametrize(
    "attack", [FGSM(0.2, attacked_agents=2, push_off_greedy=True), PGD(0.1, 5, 0.05, False, seed=4)]
)
def test_params_round_trip(attack):
    rebuilt = make_attack(attack.get_params())
    assert type(rebuilt) is type(attack)
    assert rebuilt.get_params() == attack.get_params()
    agent = TinyAgent()
    obs, avail, last, hidden = make_inputs()
    inputs = (agent, obs, avail, last, hidden)
    assert torch.equal(rebuilt.perturb(*inputs), attack.perturb(*inputs))


def test_margin_objective_raises_the_margin(trained_agent):
    obs, avail, last, hidden = make_inputs(batch_size=128, seed=13)
    hidden = hidden * 0
    avail[:] = True
    greedy = greedy_actions(trained_agent.q_values(obs, last, hidden)[0], avail)

    def mean_margin(o: torch.Tensor) -> float:
        return action_margin(trained_agent.q_values(o, last, hidden)[0], avail, greedy).mean().item()

    perturbed = PGD(0.1, n_steps=5, objective="margin", seed=0).perturb(trained_agent, obs, avail, last, hidden)
    assert mean_margin(perturbed) > mean_margin(obs)
    with pytest.raises(ValueError, match="objective"):
        FGSM(0.1, objective="hinge")


def test_action_margin_definition():
    q = torch.tensor([[1.0, 3.0, 2.0], [1.0, 3.0, 2.0], [5.0, 0.0, 0.0]])
    avail = torch.tensor([[True, True, True], [True, False, True], [True, False, False]])
    margin = action_margin(q, avail, torch.tensor([1, 0, 0]))
    assert margin[:2].tolist() == [-1.0, 1.0]
    assert margin[2] == -math.inf


def test_works_with_qmix_policy():
    policy = QMIXPolicy(n_agents=N_AGENTS, n_actions=N_ACTIONS, obs_dim=OBS_DIM, state_dim=7, rnn_hidden_dim=HIDDEN)
    obs, avail, last, _ = make_inputs()
    hidden = policy.initial_hidden(obs.shape[0])
    perturbed = FGSM(0.1, clip_observations=False).perturb(policy, obs, avail, last, hidden)
    assert (perturbed - obs).abs().max().item() == pytest.approx(0.1)
    assert all(p.grad is None for p in policy.parameters())


def test_an_attack_takes_the_bounds_of_each_env_it_is_used_in():
    """One attack used on 8m, then on 2s3z (same observation size, other feature ranges): it clipped to 8m's ranges
    on 2s3z, moving features up to 0.94 with epsilon 0.05. Bounds given to the attack stay, and are its settings."""
    from sb3_marl.envs import make_env

    noise = RandomNoise(0.05, seed=0)
    for name in ("8m", "2s3z"):
        env = make_env(name, n_envs=4, seed=0)
        obs, _, avail = env.reset()
        noise.use_env_bounds(env)
        zeros = torch.zeros(4, env.n_agents, env.n_actions)
        perturbed = noise.perturb(None, obs, avail, zeros, torch.zeros(4, env.n_agents, 1))
        assert (perturbed - obs).abs().max() <= 0.05 + 1e-6
        assert ((perturbed >= env.obs_low) & (perturbed <= env.obs_high)).all()
    assert noise.get_params()["obs_low"] is None and not noise.has_own_bounds
    own = RandomNoise(0.05, obs_low=torch.full((80,), 0.5), obs_high=torch.ones(80), seed=0)
    own.use_env_bounds(env)
    assert own.has_own_bounds and own.get_params()["obs_low"] == [0.5] * 80
    perturbed = own.perturb(None, obs, avail, zeros, torch.zeros(4, env.n_agents, 1))
    assert (perturbed - obs).abs().max() <= 0.05 + 1e-6  # the clean features under 0.5 stay in the epsilon-ball
    with pytest.raises(ValueError, match="observation bounds have 80 features, the observations 30"):
        own.perturb(None, torch.ones(1, 2, 30), torch.ones(1, 2, 7, dtype=torch.bool), torch.zeros(1, 2, 7), zeros)


def test_attack_bounds_and_seeds_are_checked():
    """NaN bounds made every perturbed observation NaN; a string was torch's "invalid data type"; a seed of 2**70
    was accepted."""
    with pytest.raises(ValueError, match="must not hold NaN"):
        FGSM(0.1, obs_low=[float("nan")] * 3, obs_high=[1.0] * 3)
    with pytest.raises(ValueError, match="obs_low='a' / obs_high='b' must be tensors or sequences of numbers"):
        FGSM(0.1, obs_low="a", obs_high="b")
    with pytest.raises(ValueError, match="seed=1180591620717411303424"):
        FGSM(0.1, seed=2**70)


def test_a_learned_attack_checks_its_adversarys_inputs_before_its_memory_changes():
    """A numpy obs failed in PA-AD's director after its hidden state was set but not its last targets, so every later
    call failed with "'NoneType' object has no attribute 'masked_fill'"; ATLA's failed inside torch.cat."""
    from sb3_marl.adversaries.policies import MAPPOPolicy
    from sb3_marl.attacks import ATLAAttack, PAADAttack

    obs, avail, last, _ = make_inputs(batch_size=2)
    director = TinyAgent()
    attack = PAADAttack(director, 0.2, seed=0)
    message = f"obs must be a torch.float32 tensor of shape [B, n_agents={N_AGENTS}, obs_dim={OBS_DIM}], got "
    with pytest.raises(TypeError, match=f"^{re.escape(message + 'numpy.ndarray')}$"):
        attack.adversary_actions(obs.numpy(), avail, last)
    assert attack._get_memory() == (None, None)
    first = attack.adversary_actions(obs, avail, last)
    assert torch.equal(first, PAADAttack(director, 0.2, seed=0).adversary_actions(obs, avail, last))
    memory = [item.clone() for item in attack._get_memory()]
    avail_message = f"avail_actions must be a torch.bool tensor of shape [B=2, n_agents={N_AGENTS}, n_actions="
    with pytest.raises(ValueError, match=f"^{re.escape(avail_message)}{N_ACTIONS}\\], got shape \\(2, 3, 2\\)$"):
        attack.adversary_actions(obs, avail[..., :2], last)
    assert all(torch.equal(kept, now) for kept, now in zip(memory, attack._get_memory()))
    atla = ATLAAttack(MAPPOPolicy(N_AGENTS, OBS_DIM, OBS_DIM, 7), 0.2)
    with pytest.raises(TypeError, match=f"^{re.escape(message + 'list')}$"):
        atla.adversary_actions(obs.tolist(), avail, last)


def test_a_learned_attack_names_an_adversary_model_without_its_networks():
    """It said "adversary must be a MAPPO model, its MAPPOPolicy or None, got MAPPO" of a MAPPO model."""
    from sb3_marl.adversaries import MAPPO
    from sb3_marl.attacks import ATLAAttack, PAADAttack
    from sb3_marl.qmix import QMIX

    unbuilt = "is a {} with no policy yet (built with _init_setup_model=False): give a trained one"
    with pytest.raises(ValueError, match=f"^adversary {re.escape(unbuilt.format('MAPPO'))}$"):
        ATLAAttack(MAPPO(None, _init_setup_model=False), 0.2)
    with pytest.raises(ValueError, match=f"^director {re.escape(unbuilt.format('QMIX'))}$"):
        PAADAttack(QMIX(None, _init_setup_model=False), 0.2)
