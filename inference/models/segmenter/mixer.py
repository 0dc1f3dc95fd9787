"""One MLP-Mixer layer on a CNN feature map (seed equation 3, Tolstikhin et al. 2021).

With ``F`` the ``(s, c)`` table of tokens (``s = H'W'`` positions of the Res3 map, patch size
``p = 1``; ``c`` channels):

    U[:, i] = F[:, i] + W2 GELU(W1 LN(F)[:, i])      for every channel i   (token mixing)
    Y[j, :] = U[j, :] + W4 GELU(W3 LN(U)[j, :])      for every token j     (channel mixing)

``LN`` normalises each token over its ``c`` channels (pre-norm, inside each residual branch, as
in MLP-Mixer).  Token mixing therefore transposes the normalised table and applies an
``s -> token_hidden -> s`` MLP along the tokens, shared by all channels; channel mixing applies a
``c -> channel_hidden -> c`` MLP along the channels, shared by all tokens.  Dropout (seed: 0.1)
follows the GELU and the output projection of each MLP, as in the reference MLP-Mixer code.

Because ``W1`` is ``(token_hidden, s)``, the layer is tied to one feature-map size: build it
with the ``(H', W')`` of the crop size the network is made for.
"""

from __future__ import annotations

import torch
from torch import nn


class MlpBlock(nn.Module):
    """``Linear(dim, hidden) -> GELU -> Dropout -> Linear(hidden, dim) -> Dropout`` on the
    last axis."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class MixerLayer(nn.Module):
    """A single Mixer layer on a ``(B, c, H', W')`` feature map; the output has the same shape.

    Args:
        channels: ``c``, the token width (the Res3 channels of ResNet-18: 128).
        grid: ``(H', W')`` of the feature map; ``s = H' * W'`` tokens (patch size 1).
        token_hidden: hidden width of the token-mixing MLP (``W1: s -> token_hidden``).
        channel_hidden: hidden width of the channel-mixing MLP (``W3: c -> channel_hidden``).
        dropout: dropout probability inside both MLPs.
    """

    def __init__(self, channels: int, grid: tuple[int, int], *, token_hidden: int,
                 channel_hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.channels = int(channels)
        self.grid = (int(grid[0]), int(grid[1]))
        self.tokens = self.grid[0] * self.grid[1]
        self.norm1 = nn.LayerNorm(self.channels)
        self.token_mlp = MlpBlock(self.tokens, token_hidden, dropout)
        self.norm2 = nn.LayerNorm(self.channels)
        self.channel_mlp = MlpBlock(self.channels, channel_hidden, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if (h, w) != self.grid or c != self.channels:
            raise ValueError(f"MixerLayer built for (c, H', W') = ({self.channels}, "
                             f"{self.grid[0]}, {self.grid[1]}), got ({c}, {h}, {w})")
        f = x.flatten(2).transpose(1, 2)                      # (B, s, c) token table F
        # Token mixing: MLP over the s tokens, one column (channel) at a time.
        u = f + self.token_mlp(self.norm1(f).transpose(1, 2)).transpose(1, 2)
        # Channel mixing: MLP over the c channels, one row (token) at a time.
        y = u + self.channel_mlp(self.norm2(u))
        return y.transpose(1, 2).reshape(b, c, h, w)
