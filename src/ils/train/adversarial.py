"""Adversarial training on embeddings: FGM (Miyato et al., 2017) and PGD (Madry et al., 2018).

After the clean backward of a micro-batch, the embedding output is moved by at most ``epsilon`` (L2,
per sequence) in the direction that raises the loss, the loss is computed again there and its gradient
is added: the model learns to answer the same for inputs whose embeddings are a little off, which is
what typos and word swaps do to them. FGM takes the clean gradient's direction (one extra forward and
backward); PGD takes ``steps`` projected ascent steps from zero (``steps`` extra gradient passes
that touch no parameter gradient, then the final one). The perturbation is added by a forward hook on the
chosen embedding module, so it works for any method and model kind whose embeddings run as a module:
causal LMs and encoder heads alike, LoRA or full. Hand-written because no maintained library offers
embedding-space adversarial training for an arbitrary PyTorch loop (TextAttack perturbs text; the FGM/PGD
snippets that circulate patch the embedding weight, which a frozen LoRA base has no gradient for).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ils.errors import ConfigError


def embedding_module(model: Any, name: str) -> nn.Module:
    """The module whose output is perturbed: the token embeddings (``input``) or a named module."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if name == "input":
        getter = getattr(base, "get_input_embeddings", None)
        emb = getter() if getter else None
        if isinstance(emb, nn.Module):
            return emb
        raise ConfigError(f"adversarial.attack: {type(base).__name__} has no input embedding module to perturb")
    modules = dict(base.named_modules())
    if name not in modules:
        known = [n for n, m in modules.items() if "embed" in n.rsplit(".", 1)[-1].lower()]
        raise ConfigError(f"adversarial.embedding: no module {name!r} in {type(base).__name__}; embedding "
                          f"modules: {', '.join(known) or 'none'} (or input)")
    return modules[name]


def check(method: Any, model: Any, cfg: Any) -> None:
    """Refuse, before training, a method or model whose embeddings the attack cannot reach."""
    o = cfg.adversarial
    if o.attack is None:
        return
    if not getattr(method, "embedding_access", True):
        raise ConfigError(f"adversarial.attack: method {method.name!r} gives no access to the input "
                          "embeddings (the perturbation has nowhere to go); use another method or drop the attack")
    embedding_module(model, o.embedding)


class Perturb:
    """The forward hook: records the embedding output of the last forward, adds ``delta`` when set."""

    def __init__(self, module: nn.Module):
        self.delta: torch.Tensor | None = None
        self.output: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() or (not module.training and self.delta is None):
            return output  # validation, reference passes and KTO's no-grad mismatched pairs stay clean
        if self.delta is not None:
            output = output + self.delta.to(output.dtype)
        elif not output.requires_grad:  # a frozen embedding: still ask autograd for d loss / d output
            output.requires_grad_(True)
        self.output = output
        if output.requires_grad and output.grad_fn is not None:
            output.retain_grad()
        return output


def _unit(g: torch.Tensor) -> torch.Tensor:
    """Each sequence's gradient scaled to L2 norm 1 (zero stays zero)."""
    norm = g.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *([1] * (g.dim() - 1)))
    return g / norm


def _project(delta: torch.Tensor, eps: float) -> torch.Tensor:
    norm = delta.flatten(1).norm(dim=1).view(-1, *([1] * (delta.dim() - 1)))
    return delta * torch.clamp(eps / norm.clamp(min=1e-12), max=1.0)


class Adversary:
    """Adds the adversarial loss's gradient after each clean backward (``after_backward``)."""

    def __init__(self, model: Any, cfg: Any):
        self.o = cfg.adversarial
        self.hook = Perturb(embedding_module(model, self.o.embedding))
        self.last = 0.0

    def after_backward(self, loss_of: Callable[[], torch.Tensor], backward: Callable[[torch.Tensor], None],
                       scale: float) -> None:
        """``loss_of()`` recomputes the micro-batch's loss sum (with the hook's delta); ``backward`` is the
        accelerator's; ``scale`` turns a loss sum into the step's normalised loss."""
        clean = self.hook.output
        if clean is None or clean.grad is None:
            return
        delta = self._fgm(clean.grad) if self.o.attack == "fgm" else self._pgd(clean, loss_of)
        self.hook.delta = delta.detach()
        try:
            loss = loss_of()
            backward(loss * scale * self.o.weight)
            self.last = float(loss.detach()) * scale
        finally:
            self.hook.delta, self.hook.output = None, None

    def _fgm(self, grad: torch.Tensor) -> torch.Tensor:
        return self.o.epsilon * _unit(grad)

    def _pgd(self, clean: torch.Tensor, loss_of: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Projected ascent from zero; the intermediate gradients are taken with respect to delta only."""
        size = self.o.step_size or 2.5 * self.o.epsilon / self.o.steps
        delta = torch.zeros_like(clean)
        grad = clean.grad
        for step in range(self.o.steps):
            delta = _project(delta + size * _unit(grad), self.o.epsilon).detach()
            if step == self.o.steps - 1:
                break
            delta.requires_grad_(True)
            self.hook.delta = delta
            (grad,) = torch.autograd.grad(loss_of(), delta)
            self.hook.delta = None
        return delta
