"""Sharpness-Aware Minimization (Foret et al., ICLR 2021) as a ``torch.optim`` wrapper.

SAM minimises ``max_{||e|| <= rho} L(w + e)``.  Each step:

1. at the weights ``w``, compute the gradient ``g = grad L(w)`` (first forward/backward);
2. move to the approximate worst point ``w + e``, ``e = rho * g / ||g||_2`` (``first_step``);
   with ``adaptive=True`` (ASAM, Kwon et al. 2021) ``e = rho * w^2 g / ||w g||_2``;
3. compute the gradient there (second forward/backward), return to ``w`` and let the base
   optimizer (AdamW, SGD, ...) step with that gradient (``second_step``).

So a SAM step costs two forward/backward passes.  ``rho`` is shared by all parameter groups
unless a group sets its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer


class SAM(Optimizer):
    """Wrap ``base_optimizer`` with sharpness-aware minimization.

    Args:
        params: parameters or parameter groups, as for any optimizer.
        base_optimizer: the optimizer *class* that takes the actual step
            (e.g. ``torch.optim.AdamW``).
        rho: radius of the neighbourhood (SAM paper default 0.05).
        adaptive: scale the perturbation by ``|w|`` (ASAM).
        **base_kwargs: passed to ``base_optimizer`` (``lr``, ``weight_decay``, ...).

    Use either ``step(closure)`` with a closure that zeroes the gradients, computes the loss,
    calls ``backward()`` and returns the loss (it is called twice), or call ``first_step`` /
    ``second_step`` around your own two backward passes.
    """

    def __init__(self, params: Iterable[Any], base_optimizer: type[Optimizer], *,
                 rho: float = 0.05, adaptive: bool = False, **base_kwargs: Any) -> None:
        if not rho >= 0.0:
            raise ValueError(f"SAM rho must be >= 0, got {rho}")
        super().__init__(params, dict(rho=rho, adaptive=adaptive, **base_kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    @torch.no_grad()
    def _grad_norm(self) -> torch.Tensor:
        norms = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = torch.abs(p) * p.grad if group["adaptive"] else p.grad
                norms.append(g.detach().float().norm(p=2))
        if not norms:
            return torch.zeros(())
        device = norms[0].device
        return torch.stack([n.to(device) for n in norms]).norm(p=2)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move every parameter with a gradient to ``w + e`` (remembering ``e``)."""
        grad_norm = self._grad_norm()
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                e_w = p.grad * scale.to(device=p.device, dtype=p.dtype)
                if group["adaptive"]:
                    e_w = e_w * torch.pow(p, 2)
                p.add_(e_w)
                self.state[p]["e_w"] = e_w
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Return to ``w`` and step the base optimizer with the gradient taken at ``w + e``."""
        for group in self.param_groups:
            for p in group["params"]:
                e_w = self.state[p].pop("e_w", None)
                if e_w is not None:
                    p.sub_(e_w)
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def step(  # type: ignore[override]
            self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        """One full SAM step; returns the loss at ``w`` (the first closure call)."""
        if closure is None:
            raise ValueError("SAM.step needs a closure (it evaluates the loss twice)")
        with torch.enable_grad():
            loss = closure()
        self.first_step(zero_grad=True)
        with torch.enable_grad():
            closure()
        self.second_step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state (SAM keeps nothing between steps)."""
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
