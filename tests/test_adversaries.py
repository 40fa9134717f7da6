"""Adversary envs, learned attacks, MAPPO networks/buffer and the MAPPO algorithm (fast checks on a toy env)."""

from __future__ import annotations

import math

import pytest
import torch

from sb3_marl.adversaries.adversary_env import PerturbationAdversaryEnv, TargetActionAdversaryEnv
from sb3_marl.adversaries.policies import MAPPOPolicy
from sb3_marl.adversaries.rollout_buffer import MultiAgentRolloutBuffer
from sb3_marl.attacks.learned import ATLAAttack, PAADAttack
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.policies.qmix_policy import QMIXPolicy

N_ENVS, N_AGENTS, N_ACTIONS = 6, 3, 4
_SHAPES = CueMatchingEnv(n_agents=N_AGENTS, n_actions=N_ACTIONS)
OBS_DIM, STATE_DIM = _SHAPES.obs_shape, _SHAPES.state_shape


class SpyEnv(CueMatchingEnv):
    """CueMatchingEnv whose team reward is shifted by +1 (never zero) and that remembers what it saw."""

    def step(self, actions: torch.Tensor):  # noqa: ANN201
        self.seen_actions = actions.clone()
        obs, state, avail, reward, terminated, info = super().step(actions)
        self.seen_reward = reward + 1.0
        return obs, state, avail, self.seen_reward.clone(), terminated, info


def make_victim(seed: int = 0) -> QMIXPolicy:
    """A random victim whose weights are scaled up so that its greedy actions depend on the observation."""
    torch.manual_seed(seed)
    victim = QMIXPolicy(N_AGENTS, N_ACTIONS, OBS_DIM, STATE_DIM, rnn_hidden_dim=16)
    with torch.no_grad():
        victim.agent.fc1.weight.mul_(5.0)
        victim.agent.fc2.weight.mul_(5.0)
    return victim


def make_env(seed: int = 0) -> SpyEnv:
    env = SpyEnv(n_envs=N_ENVS, n_agents=N_AGENTS, n_actions=N_ACTIONS, episode_limit=8, seed=seed)
    env.obs_low, env.obs_high = torch.zeros(OBS_DIM), torch.ones(OBS_DIM)
    return env


def run_steps(env, actions_fn, n_steps: int = 20):  # noqa: ANN001, ANN201
    """Step ``env`` with ``actions_fn(obs, avail)``, resetting finished envs; yields each step's results."""
    obs, state, avail = env.reset()
    for _ in range(n_steps):
        before = obs.clone()
        result = env.step(actions_fn(obs, avail))
        yield before, result
        obs, state, avail = result[:3]
        if result[4].any():
            obs, state, avail = env.reset(result[4])


@pytest.mark.parametrize("epsilon", [0.05, 0.2])
def test_atla_perturbations_stay_in_ball_and_bounds(epsilon: float) -> None:
    attack = ATLAAttack(None, epsilon, obs_low=-torch.ones(5), obs_high=torch.ones(5))
    obs = torch.rand(4, N_AGENTS, 5) * 2 - 1
    obs[1, 2] = 0.0  # dead agent
    actions = torch.randn(4, N_AGENTS, 5) * 3  # outside [-1, 1] on purpose: clamped
    avail, last, hidden = torch.ones(4, N_AGENTS, 2, dtype=torch.bool), torch.zeros(4, N_AGENTS, 2), torch.zeros(4, 1)
    perturbed = attack.perturb_with_actions(None, obs, avail, last, hidden, actions)
    delta = (perturbed - obs).abs()
    assert delta.max() <= epsilon + 1e-6
    assert delta.max() > epsilon / 2
    assert torch.equal(perturbed[1, 2], obs[1, 2])
    assert (perturbed >= -1).all() and (perturbed <= 1).all()


def test_atla_attack_uses_adversary_actions_inside_ball() -> None:
    adversary = MAPPOPolicy(N_AGENTS, 5, 5, 7)
    attack = ATLAAttack(adversary, 0.2, deterministic=False, seed=3)
    obs = torch.rand(4, N_AGENTS, 5) + 0.1
    args = (torch.ones(4, N_AGENTS, 2, dtype=torch.bool), torch.zeros(4, N_AGENTS, 2), torch.zeros(4, 1))
    perturbed = attack.perturb(None, obs, *args)
    assert (perturbed - obs).abs().max() <= 0.2 + 1e-6
    assert not torch.equal(perturbed, obs)
    with pytest.raises(RuntimeError, match="no adversary"):
        ATLAAttack(None, 0.2).perturb(None, obs, *args)


def test_adversary_reward_is_negated_team_reward_and_victim_sees_perturbation() -> None:
    victim = make_victim()
    env = PerturbationAdversaryEnv(make_env(), victim, epsilon=0.2)
    generator = torch.Generator().manual_seed(0)
    for _, (_, _, _, reward, _, info) in run_steps(
        env, lambda obs, avail: torch.rand(obs.shape, generator=generator) * 2 - 1, n_steps=30
    ):
        assert torch.equal(reward, -env.env.seen_reward)
        assert (reward < 0).all()
        assert torch.equal(info["victim_actions"], env.env.seen_actions)


def test_adversary_env_reports_the_agents_it_perturbed() -> None:
    victim = make_victim()
    env = PerturbationAdversaryEnv(make_env(), victim, epsilon=0.2, attacked_agents=1)
    seen, q_values = [], victim.q_values

    def watched_q_values(obs, last, hidden):  # noqa: ANN001, ANN202
        seen.append(obs.clone())  # what the victim is shown
        return q_values(obs, last, hidden)

    victim.q_values = watched_q_values
    for before, (_, _, _, _, _, info) in run_steps(env, lambda obs, avail: torch.ones(obs.shape), n_steps=10):
        attacked = info["attacked_agents"]
        assert attacked.dtype == torch.bool and attacked.shape == (N_ENVS, N_AGENTS)
        assert (attacked.sum(-1) == 1).all()
        assert torch.equal((seen[-1] != before).any(-1), attacked)  # exactly those observations moved


def test_adversary_env_with_zero_budget_replays_the_clean_victim() -> None:
    victim = make_victim()
    adversary_env = PerturbationAdversaryEnv(make_env(seed=1), victim, epsilon=0.0)
    clean_env = make_env(seed=1)
    obs, _, avail = clean_env.reset()
    hidden = victim.initial_hidden(N_ENVS)
    last = torch.zeros(N_ENVS, N_AGENTS, N_ACTIONS)
    adversary_env.reset()
    for _ in range(5):
        q, hidden = victim.q_values(obs, last, hidden)
        actions = victim.select_actions(q, avail, 0.0)
        adv_result = adversary_env.step(torch.ones(N_ENVS, N_AGENTS, OBS_DIM))
        obs, _, avail, reward, terminated, _ = clean_env.step(actions)
        assert torch.equal(adv_result[5]["victim_actions"], actions)
        if terminated.any():
            obs, _, avail = clean_env.reset(terminated)
            adversary_env.reset(terminated)
            hidden = hidden.masked_fill(terminated.view(-1, 1, 1), 0.0)
            last = last.masked_fill(terminated.view(-1, 1, 1), 0.0)
            last[~terminated] = torch.nn.functional.one_hot(actions[~terminated], N_ACTIONS).float()
        else:
            last = torch.nn.functional.one_hot(actions, N_ACTIONS).float()


def test_adversary_env_errors() -> None:
    victim = make_victim()
    env = TargetActionAdversaryEnv(make_env(), victim, epsilon=0.2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(N_ENVS, N_AGENTS, dtype=torch.long))
    env.reset()
    unavailable = torch.full((N_ENVS, N_AGENTS), N_ACTIONS - 1)  # last action: unavailable to even agents
    with pytest.raises(ValueError, match="not available"):
        env.step(unavailable)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        env.step(torch.full((N_ENVS, N_AGENTS), 7))
    with pytest.raises(ValueError, match="integer action indices of shape"):
        env.step(torch.full((N_ENVS, N_AGENTS), 1.7))  # was truncated to 1 silently
    with pytest.raises(ValueError, match=r"integer action indices of shape \(6, 3\)"):
        env.step(torch.zeros(N_ENVS, dtype=torch.long))  # was an opaque gather error
    atla = PerturbationAdversaryEnv(make_env(), victim, epsilon=0.2)
    atla.reset()
    nan_actions = torch.zeros(N_ENVS, N_AGENTS, OBS_DIM)
    nan_actions[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        atla.step(nan_actions)  # a NaN observation reached the victim
    wrong_victim = QMIXPolicy(N_AGENTS, N_ACTIONS + 1, OBS_DIM, STATE_DIM)
    with pytest.raises(
        ValueError, match=r"\(n_agents, obs_shape, n_actions\) = \(3, 3, 4\) but the model expects \(3, 3, 5\)"
    ):
        PerturbationAdversaryEnv(make_env(), wrong_victim, epsilon=0.2)  # check_env_matches, as in evaluate_policy
    with pytest.raises(ValueError, match="epsilon"):
        PerturbationAdversaryEnv(make_env(), victim, epsilon=-1.0)


def _step_error(env, actions) -> str:  # noqa: ANN001
    with pytest.raises(ValueError) as info:
        env.step(actions)
    return str(info.value)


def test_target_actions_are_checked_like_the_games_actions() -> None:
    """One check (check_joint_actions) for every env: PA-AD's target actions give the game's messages, naming the env,
    agent and value (before: "target action 3 of env 0, agent 0 is not available to the victim", and an out-of-range
    action named no env)."""
    game = make_env()
    game.reset()
    adversary = TargetActionAdversaryEnv(make_env(), make_victim(), epsilon=0.2)
    adversary.reset()
    ones = torch.ones(N_ENVS, N_AGENTS, dtype=torch.long)
    for env_index, agent, value, message in (
        (1, 2, 3, "env 1, agent 2: action 3 is not available (available actions: [0, 1, 2]; n_actions = 4)"),
        (2, 1, 7, "env 2, agent 1: action 7 is not available: it is not an action index in [0, 4) "),
        (0, 0, -1, "env 0, agent 0: action -1 is not available: it is not an action index in [0, 4) "),
    ):
        actions = ones.clone()
        actions[env_index, agent] = value
        assert _step_error(adversary, actions) == _step_error(game, actions)
        assert _step_error(game, actions).startswith(message)
    for bad in (ones.bool(), ones.to(torch.complex64), ones.double(), ones[:, :2]):
        assert _step_error(adversary, bad) == _step_error(game, bad)
        assert _step_error(game, bad).startswith("actions must be integer action indices of shape (6, 3)")


@pytest.mark.parametrize(
    "actions, message",
    [
        (
            torch.full((2, 3), 1.0),
            r"integer action indices of shape \(2, 3\) = \(n_envs, n_agents\), got torch.float32",
        ),
        (torch.ones(2, 3, dtype=torch.bool), r"integer action indices .* got torch.bool"),
        (torch.ones(3, 2, dtype=torch.long), r"of shape \(2, 3\) .* got torch.int64 of shape \(3, 2\)"),
        (torch.tensor([[1, 1, 1], [1, 4, 1]]), r"^env 1, agent 1: action 4 is not available: .* in \[0, 4\)"),
        (torch.tensor([[1, 1, -2], [1, 1, 1]]), r"^env 0, agent 2: action -2 is not available: .* in \[0, 4\)"),
    ],
)
def test_the_toy_env_refuses_bad_actions_with_a_clear_message(actions: torch.Tensor, message: str) -> None:
    """Before: the toy env checked availability only (a float, bool or out-of-range action was a gather error)."""
    env = CueMatchingEnv(n_envs=2, n_agents=3, n_actions=4, seed=0)
    env.reset()
    with pytest.raises(ValueError, match=message):
        env.step(actions)
    env.step(torch.ones(2, 3, dtype=torch.int32))  # any integer dtype


def test_target_action_env_steers_victim_toward_targets() -> None:
    """The eq.-7 actor makes the victim play the director's target far more often than without a budget."""

    def hit_rate(epsilon: float) -> float:
        env = TargetActionAdversaryEnv(make_env(seed=2), make_victim(), epsilon=epsilon, clip_observations=False)
        generator = torch.Generator().manual_seed(0)
        targets: list[torch.Tensor] = []

        def random_targets(obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
            targets.append((torch.rand(avail.shape, generator=generator) * avail).argmax(-1))
            return targets[-1]

        steps = run_steps(env, random_targets, 40)
        hits = [info["victim_actions"] == target for (_, (*_, info)), target in zip(steps, targets)]
        return torch.stack(hits).float().mean().item()

    assert hit_rate(2.0) > hit_rate(0.0) + 0.15


def test_paad_attack_director_state_restarts_at_episode_start() -> None:
    victim, director = make_victim(0), make_victim(1)
    attack = PAADAttack(director, 0.2, seed=0)
    obs = torch.rand(2, N_AGENTS, OBS_DIM)
    avail = torch.ones(2, N_AGENTS, N_ACTIONS, dtype=torch.bool)
    start = torch.zeros(2, N_AGENTS, N_ACTIONS)
    first = attack.adversary_actions(obs, avail, start)
    hidden_after_first = attack._director_hidden.clone()
    # later step in env 0, new episode in env 1
    later = start.clone()
    later[0, :, 0] = 1.0
    attack.adversary_actions(obs, avail, later)
    fresh = PAADAttack(director, 0.2)
    assert torch.equal(fresh.adversary_actions(obs, avail, start), first)
    assert torch.allclose(attack._director_hidden[1], hidden_after_first[1])
    assert not torch.allclose(attack._director_hidden[0], hidden_after_first[0])
    perturbed = attack.perturb(victim, obs, avail, start, victim.initial_hidden(2))
    assert (perturbed - obs).abs().max() <= 0.2 + 1e-6


def test_mappo_policy_actions_and_log_probs() -> None:
    policy = MAPPOPolicy(N_AGENTS, 5, 5, 7)
    obs = torch.randn(8, N_AGENTS, 5)
    actions, pre_tanh, log_prob = policy.act(obs)
    assert actions.shape == (8, N_AGENTS, 5) and (actions.abs() < 1).all()
    assert torch.allclose(torch.tanh(pre_tanh), actions)
    evaluated, entropy = policy.evaluate_actions(obs, pre_tanh)
    assert torch.allclose(evaluated, log_prob, atol=1e-5)
    assert entropy.shape == (8, N_AGENTS)
    # change of variables: log p(a) = log N(u) - sum log(1 - tanh(u)^2)
    normal = torch.distributions.Normal(policy.distribution(obs).mean, policy.log_std.exp())
    expected = (normal.log_prob(pre_tanh) - torch.log(1 - actions.pow(2))).sum(-1)
    assert torch.allclose(log_prob, expected, atol=1e-3)
    deterministic, _, _ = policy.act(obs, deterministic=True)
    assert torch.equal(deterministic, policy.act(obs, deterministic=True)[0])
    assert policy.value(torch.randn(8, 7)).shape == (8,)
    with pytest.raises(ValueError, match="n_agents=3"):
        policy.act(torch.randn(8, 2, 5))


def test_rollout_buffer_gae_matches_hand_computation() -> None:
    gamma, lam = 0.9, 0.8
    buffer = MultiAgentRolloutBuffer(3, 1, 1, 1, 1, 1)
    rewards, values, next_values = [1.0, 2.0, 3.0], [0.5, 0.4, 0.3], [0.4, 7.0, 0.2]
    dones, timeouts = [False, True, False], [False, True, False]  # step 1 ends by time limit
    for t in range(3):
        buffer.add(
            torch.zeros(1, 1, 1),
            torch.zeros(1, 1),
            torch.zeros(1, 1, 1),
            torch.zeros(1, 1),
            torch.ones(1, 1, dtype=torch.bool),
            torch.tensor([rewards[t]]),
            torch.tensor([values[t]]),
            torch.tensor([next_values[t]]),
            torch.tensor([dones[t]]),
            torch.tensor([timeouts[t]]),
        )
    buffer.compute_returns_and_advantage(gamma, lam)
    a2 = 3.0 + gamma * 0.2 - 0.3
    a1 = 2.0 + gamma * 7.0 - 0.4  # timeout: bootstraps from V(final state), trace stops
    a0 = 1.0 + gamma * 0.4 - 0.5 + gamma * lam * a1
    assert torch.allclose(buffer.advantages.flatten(), torch.tensor([a0, a1, a2]))
    assert torch.allclose(buffer.returns.flatten(), torch.tensor([a0 + 0.5, a1 + 0.4, a2 + 0.3]))
    batches = list(buffer.minibatches(2, torch.Generator().manual_seed(0)))
    assert [len(b["advantages"]) for b in batches] == [2, 1]
    assert math.isclose(float(sum(b["advantages"].sum() for b in batches)), a0 + a1 + a2, rel_tol=1e-5)


def test_an_evaluation_leaves_the_paad_directors_memory_of_the_training_episodes() -> None:
    """One PA-AD attack both attacks training episodes and an evaluation of the same batch size: the evaluation
    started the director's memory afresh and handed the training episodes its own state until their next start."""
    from sb3_marl.common.evaluation import evaluate_policy

    victim, director = make_victim(0), make_victim(1)
    attack = PAADAttack(director, 0.2, seed=0)
    obs = torch.rand(N_ENVS, N_AGENTS, OBS_DIM)
    avail = torch.ones(N_ENVS, N_AGENTS, N_ACTIONS, dtype=torch.bool)
    mid_episode = torch.zeros(N_ENVS, N_AGENTS, N_ACTIONS)
    mid_episode[..., 1] = 1.0
    for _ in range(3):  # training episodes in progress
        attack.adversary_actions(obs, avail, mid_episode)
    hidden, last_target = attack._director_hidden.clone(), attack._director_last_action.clone()
    evaluate_policy(victim, make_env(seed=5), 12, attack=attack)
    assert torch.equal(attack._director_hidden, hidden) and torch.equal(attack._director_last_action, last_target)
    fresh = PAADAttack(director, 0.2, seed=0)  # the evaluation itself played with a fresh memory
    start = torch.zeros_like(mid_episode)
    with attack.separate_memory():
        assert torch.equal(attack.adversary_actions(obs, avail, start), fresh.adversary_actions(obs, avail, start))
        assert not torch.equal(attack._director_hidden, hidden)
    assert torch.equal(attack._director_hidden, hidden)


def _qmix_victim():  # noqa: ANN202
    from sb3_marl.qmix import QMIX

    return QMIX(make_env(), seed=0, buffer_size=8, batch_size=4, policy_kwargs={"rnn_hidden_dim": 8})


def test_an_adversary_env_is_refused_as_the_game_env() -> None:
    """It was accepted and the reward's sign flipped back: the adversary then learned to help its victim."""
    victim = make_victim()
    inner = TargetActionAdversaryEnv(make_env(), victim, 0.2)
    message = (
        "env is already an adversary env (TargetActionAdversaryEnv, whose reward is minus its victim team's); give "
        "the game env (its .env)"
    )
    for env_class in (PerturbationAdversaryEnv, TargetActionAdversaryEnv):
        with pytest.raises(TypeError) as error:
            env_class(inner, victim, 0.2)
        assert str(error.value) == message


def test_a_victim_without_networks_or_that_is_an_adversary_is_named() -> None:
    """An unbuilt QMIX was "victim must be a QMIX model or a QMIXPolicy ..., got QMIX"; a PA-AD director was taken
    as the victim, a team playing against its own victim's."""
    from sb3_marl.adversaries.director import QMIXDirector
    from sb3_marl.qmix import QMIX

    with pytest.raises(ValueError) as error:
        PerturbationAdversaryEnv(make_env(), QMIX(None, _init_setup_model=False), 0.2)
    assert str(error.value) == (
        "victim is a QMIX with no policy yet (built with _init_setup_model=False): give a trained QMIX-family model"
    )
    director = QMIXDirector(TargetActionAdversaryEnv(make_env(), _qmix_victim(), 0.2), buffer_size=8, batch_size=4)
    with pytest.raises(ValueError) as error:
        TargetActionAdversaryEnv(make_env(), director, 0.2)
    assert str(error.value) == (
        "victim is a QMIXDirector, a learned adversary (it plays against its victim's team): give the QMIX-family "
        "team model to attack"
    )


def test_the_perturbation_env_takes_numpy_and_list_actions() -> None:
    """A numpy array or a list of directions was "'numpy.ndarray' object has no attribute 'to'"."""
    envs = [PerturbationAdversaryEnv(make_env(seed=3), make_victim(), 0.2) for _ in range(3)]
    for env in envs:
        env.reset()
    directions = torch.rand(N_ENVS, N_AGENTS, OBS_DIM, generator=torch.Generator().manual_seed(0)) * 2 - 1
    results = [env.step(actions) for env, actions in zip(envs, (directions, directions.numpy(), directions.tolist()))]
    for result in results[1:]:
        assert torch.equal(result[0], results[0][0]) and torch.equal(result[3], results[0][3])
        assert torch.equal(result[5]["victim_actions"], results[0][5]["victim_actions"])
    with pytest.raises(TypeError) as error:
        envs[0].step(None)
    assert str(error.value) == (
        f"actions=None is not an array of numbers (dtype object): expected float32[n_envs={N_ENVS}, "
        f"n_agents={N_AGENTS}, obs_dim={OBS_DIM}]"
    )


def test_a_learned_adversary_of_another_epsilon_is_refused() -> None:
    """An adversary trained in an env of epsilon 0.05 drove an attack of 0.2 (its env's float32 epsilon is taken)."""
    import numpy as np

    from sb3_marl.adversaries.director import QMIXDirector
    from sb3_marl.adversaries.mappo import MAPPO

    victim = _qmix_victim()
    mappo = MAPPO(PerturbationAdversaryEnv(make_env(), victim, 0.05), n_steps=8, batch_size=8)
    director = QMIXDirector(TargetActionAdversaryEnv(make_env(), victim, 0.05), buffer_size=8, batch_size=4)
    for attack_class, adversary, name in ((ATLAAttack, mappo, "adversary"), (PAADAttack, director, "director")):
        with pytest.raises(ValueError) as error:
            attack_class(adversary, 0.2)
        assert str(error.value) == (
            f"the {name}'s env perturbs with epsilon=0.05, but epsilon=0.2 was given: the {name} learned to perturb "
            "within its env's budget; give the attack that epsilon"
        )
        assert attack_class(adversary, np.float32(0.05)).epsilon == pytest.approx(0.05)
