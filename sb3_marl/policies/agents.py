"""Per-agent recurrent Q-network with weights shared by all agents (PyMARL's ``RNNAgent``)."""

from __future__ import annotations

import torch
from torch import nn


class RNNAgent(nn.Module):
    """``fc -> ReLU -> GRU -> fc``: maps one agent's input to a Q-value per action.

    The GRU is a fused :class:`torch.nn.GRU` (``batch_first``), so one call runs a whole sequence; a single
    step is a sequence of length one.  Its cell is the same function as PyMARL's ``GRUCell``.

    :param input_dim: size of one agent's input (observation, optional last-action and agent-id one-hots).
    :param n_actions: number of discrete actions (Q-values produced per step).
    :param hidden_dim: width of the first layer and of the GRU hidden state.
    """

    def __init__(self, input_dim: int, n_actions: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.n_actions = n_actions
        self.hidden_dim = hidden_dim
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.rnn = nn.GRU(hidden_dim, hidden_dim, batch_first=True)
        self.fc2 = nn.Linear(hidden_dim, n_actions)

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the network over sequences.

        :param inputs: float[M, T, input_dim], ``M`` independent sequences (episodes x agents) of ``T`` steps.
        :param hidden: float[M, hidden_dim], the hidden state before the first step.
        :return: Q-values float[M, T, n_actions] and the hidden state after the last step, float[M, hidden_dim].
        """
        states = self.hidden_states(inputs, hidden)
        return self.fc2(states), states[:, -1]

    def hidden_states(self, inputs: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """The GRU state after each step, float[M, T, hidden_dim] (same arguments as :meth:`forward`)."""
        out, _ = self.rnn(torch.relu(self.fc1(inputs)), hidden.unsqueeze(0).contiguous())
        return out
