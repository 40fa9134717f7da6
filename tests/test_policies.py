"""Networks: shapes, sequence/step equivalence, mixer monotonicity, masked action selection."""

import pytest
import torch

from sb3_marl.policies import QMixer, QMIXPolicy, VDNMixer

N, A, OBS, S = 3, 5, 7, 11


@pytest.fixture
def policy() -> QMIXPolicy:
    torch.manual_seed(0)
    return QMIXPolicy(N, A, OBS, S, rnn_hidden_dim=16, mixing_embed_dim=8, hypernet_embed=12)


def test_sequence_equals_step_by_step(policy):
    b, t = 4, 6
    obs = torch.randn(b, t, N, OBS)
    last = torch.nn.functional.one_hot(torch.randint(A, (b, t, N)), A).float()
    hidden0 = torch.randn(b, N, 16)
    q_seq = policy.q_values_sequence(obs, last, hidden0)
    hidden_seq = policy.hidden_sequence(obs, last, hidden0)
    assert hidden_seq.shape == (b, t, N, 16)
    hidden = hidden0
    for step in range(t):
        torch.testing.assert_close(hidden, hidden_seq[:, step], rtol=1e-5, atol=1e-5)
        q, hidden = policy.q_values(obs[:, step], last[:, step], hidden)
        torch.testing.assert_close(q, q_seq[:, step], rtol=1e-5, atol=1e-5)


def test_step_is_differentiable_in_obs(policy):
    obs = torch.randn(2, N, OBS, requires_grad=True)
    q, _ = policy.q_values(obs, torch.zeros(2, N, A), policy.initial_hidden(2))
    q.max(-1).values.sum().backward()
    assert obs.grad is not None and obs.grad.abs().sum() > 0


def test_wrong_obs_shape_is_rejected(policy):
    with pytest.raises(ValueError, match="obs_dim=7"):
        policy.q_values(torch.zeros(2, N, OBS + 1), torch.zeros(2, N, A), policy.initial_hidden(2))


def test_unknown_mixer_is_rejected():
    with pytest.raises(ValueError, match=r"Unknown mixer 'qplex'; allowed: \('qmix', 'vdn', None\)"):
        QMIXPolicy(N, A, OBS, S, mixer="qplex")


@pytest.mark.parametrize("mixer_cls", [QMixer, VDNMixer])
def test_mixer_is_monotonic(mixer_cls):
    torch.manual_seed(1)
    mixer = QMixer(N, S, 8, 12) if mixer_cls is QMixer else VDNMixer()
    qs = torch.randn(64, 2, N, requires_grad=True)
    q_tot = mixer(qs, torch.randn(64, 2, S) * 3)
    assert q_tot.shape == (64, 2)
    (grad,) = torch.autograd.grad(q_tot.sum(), qs)
    assert (grad >= 0).all()


def test_vdn_mixer_sums_the_agents_values():
    qs, states = torch.randn(3, 4, N), torch.randn(3, 4, S)
    torch.testing.assert_close(VDNMixer()(qs, states), sum(qs[..., i] for i in range(N)))


def test_qmixer_computes_the_documented_formula():
    """Q_tot = w2^T ELU(W1^T q + b1) + V(s), W1 = |hyper_w1(s)| viewed [N, E], w2 = |hyper_w2(s)|, one row at a time."""
    torch.manual_seed(2)
    mixer = QMixer(N, S, 8, 12)
    qs, states = torch.randn(3, 4, N), torch.randn(3, 4, S)
    q_tot = mixer(qs, states)
    for b in range(3):
        for t in range(4):
            s = states[b, t]
            w1 = mixer.hyper_w1(s).abs().view(N, 8)
            hidden = torch.nn.functional.elu(qs[b, t] @ w1 + mixer.hyper_b1(s))
            expected = hidden @ mixer.hyper_w2(s).abs() + mixer.hyper_v(s)[0]
            torch.testing.assert_close(q_tot[b, t], expected)


def test_target_starts_equal_then_follows_hard_copy(policy):
    obs, last = torch.randn(2, 3, N, OBS), torch.zeros(2, 3, N, A)
    torch.testing.assert_close(policy.q_values_sequence(obs, last), policy.q_values_sequence(obs, last, target=True))
    with torch.no_grad():
        policy.agent.fc2.bias.add_(1.0)
    assert not torch.allclose(policy.q_values_sequence(obs, last), policy.q_values_sequence(obs, last, target=True))
    policy.update_target()
    torch.testing.assert_close(policy.q_values_sequence(obs, last), policy.q_values_sequence(obs, last, target=True))


def test_select_actions_respects_availability():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(500, N, A)
    avail = torch.rand(500, N, A) < 0.5
    avail[..., 2] = True
    for eps in (0.0, 0.5, 1.0):
        actions = QMIXPolicy.select_actions(q, avail, eps, gen)
        assert avail.gather(-1, actions.unsqueeze(-1)).all()
    greedy = QMIXPolicy.select_actions(q, avail, 0.0)
    assert torch.equal(greedy, q.masked_fill(~avail, -float("inf")).argmax(-1))
    # With epsilon = 1 every available action gets picked sometimes.
    random_actions = QMIXPolicy.select_actions(torch.zeros(2000, 1, A), torch.ones(2000, 1, A, dtype=torch.bool), 1.0)
    assert set(random_actions.unique().tolist()) == set(range(A))


def test_select_actions_with_one_epsilon_per_episode():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(3, 400, A)  # 3 episodes of 400 agents each
    avail = torch.ones(3, 400, A, dtype=torch.bool)
    actions = QMIXPolicy.select_actions(q, avail, torch.tensor([0.0, 0.5, 1.0]), gen)
    greedy_share = (actions == q.argmax(-1)).float().mean(-1)
    assert greedy_share[0] == 1.0  # epsilon 0: greedy only
    # epsilon 0.5: greedy or a random action that happens to be greedy, (1 - 0.5) + 0.5 / A
    assert abs(greedy_share[1] - (0.5 + 0.5 / A)) < 0.06
    assert abs(greedy_share[2] - 1 / A) < 0.06  # epsilon 1: uniform
    # A tensor of equal epsilons acts as the number would, draw for draw.
    same = [
        QMIXPolicy.select_actions(q, avail, eps, torch.Generator().manual_seed(1))
        for eps in (0.3, torch.full((3,), 0.3))
    ]
    assert torch.equal(*same)


@pytest.mark.parametrize(
    ("epsilon", "message"),
    [
        (1.5, "epsilon=1.5"),
        (-0.1, "epsilon=-0.1"),
        (torch.tensor([0.1, 1.5]), r"epsilon=\[0.1.*, 1.5\] has values outside \[0, 1\]"),
        (torch.tensor([0.1, 0.1, 0.1]), r"epsilon has shape \(3,\); expected \(2,\), one per episode"),
    ],
)
def test_select_actions_rejects_bad_epsilon(epsilon, message):
    with pytest.raises(ValueError, match=message):
        QMIXPolicy.select_actions(torch.zeros(2, N, A), torch.ones(2, N, A, dtype=torch.bool), epsilon)


def test_optimizer_names_and_learning_rates_are_checked():
    """optimizer_class="adam", which QMIX accepts, failed on "'str' object has no attribute '__name__'"; a bad
    learning_rate was blamed on optimizer_kwargs."""
    adam = QMIXPolicy(3, 9, 30, 48, optimizer_class="adam")
    assert type(adam.optimizer) is torch.optim.Adam and adam.constructor_kwargs["optimizer_class"] == "Adam"
    rmsprop = QMIXPolicy(N, A, OBS, S, optimizer_class="rmsprop", optimizer_kwargs={"eps": 1e-3})
    assert type(rmsprop.optimizer) is torch.optim.RMSprop
    assert rmsprop.constructor_kwargs["optimizer_kwargs"] == {"alpha": 0.99, "eps": 1e-3}  # QMIX's defaults, overridden
    for name in ("sgd", 5):
        with pytest.raises(
            ValueError,
            match=rf"optimizer_class={name!r} must be a torch.optim.Optimizer subclass \(e.g. torch.optim.Adam\) or "
            r"one of the names \['adam', 'rmsprop'\]",
        ):
            QMIXPolicy(N, A, OBS, S, optimizer_class=name)
    for learning_rate in ("x", -1):
        with pytest.raises(
            ValueError, match=rf"^learning_rate={learning_rate!r} must be a finite number >= 0 \(0: the weights stay\)$"
        ):
            QMIXPolicy(N, A, OBS, S, learning_rate=learning_rate)


def test_a_policy_file_whose_settings_do_not_fit_is_named(policy, tmp_path):
    """A file without optimizer_class gave KeyError: 'optimizer_class', an extra setting "__init__() got an unexpected
    keyword argument 'foo'", and another rnn_hidden_dim torch's raw "Error(s) in loading state_dict"."""
    from tests.helpers import rewrite_data

    path = policy.save(tmp_path / "policy")
    edits = [
        (
            lambda data: data["kwargs"].pop("optimizer_class"),
            r"edited.zip is not a valid QMIXPolicy file: its settings lack \['optimizer_class'\] \(of \['n_agents', ",
        ),
        (
            lambda data: data["kwargs"].update(foo=1),
            r"edited.zip holds settings \['foo'\] that QMIXPolicy does not take \(a file of another version\?\); its "
            r"settings are \['n_agents', ",
        ),
        (
            lambda data: data["kwargs"].update(rnn_hidden_dim=8),
            r"edited.zip is not a valid QMIXPolicy file: its weights do not fit the networks that its settings build: "
            r"Error\(s\) in loading state_dict for QMIXPolicy:\s+size mismatch",
        ),
        (
            lambda data: data["kwargs"].update(n_agents=0),
            r"edited.zip: its settings do not make a valid QMIXPolicy: n_agents=0 must be an integer >= 1",
        ),
    ]
    for edit, message in edits:

        def edited(data, edit=edit):
            edit(data)
            return data

        rewrite_data(path, tmp_path / "edited.zip", edited)
        with pytest.raises(ValueError, match=message):
            QMIXPolicy.load(tmp_path / "edited.zip")


def test_the_policys_own_predict_names_masks_and_states_it_cannot_use(policy: QMIXPolicy):
    """policy.predict (SB3's public policy API) read a 0.5 mask as True and acted on a NaN hidden state; only the
    model's predict refused them."""
    obs = torch.zeros(N, OBS)
    half = torch.full((N, A), 0.5)
    with pytest.raises(ValueError, match=r"^avail_actions holds 0.5: a mask holds True/False or 1/0"):
        policy.predict(obs, avail_actions=half)
    _, (hidden, last_action) = policy.predict(obs)
    hidden[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^state\[0\] \(hidden\) holds NaN or inf"):
        policy.predict(obs, state=(hidden, last_action))
    with pytest.raises(TypeError, match=r"^observation=None is not an array of numbers"):
        policy.predict(None)
