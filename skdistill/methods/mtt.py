"""Matching training trajectories (MTT, Cazenavette et al., CVPR 2022)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from ._base import MSG_PLAN_KIND, Method
from ._experts import (
    EXPERT_BATCH_SIZE,
    EXPERT_LR,
    N_EXPERTS,
    ExpertNetwork,
    ExpertTraining,
    buffer_keys,
    parameter_splitter,
    resolve_buffers,
)

#: Reference values of MTT. The trajectory lengths are the paper's CIFAR-10 IPC 10 setting
#: (its hyper-parameter table; the same values in public reproduction scripts): ``syn_steps``
#: N = 30 student steps, ``expert_epochs`` M = 2, ``max_start_epoch`` 20. The learning rates
#: are the defaults of the reference ``distill.py`` (also its README's command): ``lr_img``
#: 1000 (the synthetic images, SGD with momentum 0.5), ``lr_lr`` 1e-5 (the learnable step
#: size, SGD with momentum 0.5) and ``lr_teacher`` 0.01 (its initial value). The paper's
#: CIFAR-10 rows use ZCA whitening with other image rates; skdistill standardises per channel
#: and uses no ZCA, the reference code's setting without ``--zca``.
SYN_STEPS = 30
EXPERT_EPOCHS = 2
MAX_START_EPOCH = 20
LR_IMG = 1000.0
LR_LR = 1e-5
LR_INIT = 0.01

MSG_BATCH_NORM = (
    "net_norm='batch' does not apply to method='mtt': the student replays expert parameters "
    "and batch-norm running statistics are not parameters; use net_norm='instance' (the "
    "reference's) or 'none'."
)
MSG_NO_EXPERTS = (
    "method='mtt' has no expert trajectories yet; call prepare_experts (the distiller does) or "
    "use_experts before matching."
)
MSG_SAMPLE_WEIGHT = (
    "sample_weight does not apply to method='mtt': it matches experts trained on the data, "
    "not weighted statistics of it; fit without sample_weight."
)

MSG_N_BUFFERS = "the plan reads {n} buffer(s); got {got} trajectory tensor(s)."
MSG_TRAJECTORY_SHAPE = (
    "expert trajectories must be (n_experts >= 1, snapshots, n_params) tensors with at least "
    "max_start_epoch + expert_epochs = {needed} snapshots (max_start_epoch={max_start}, "
    "expert_epochs={m}); got shape {shape}. Lower max_start_epoch or expert_epochs, or train "
    "longer experts."
)

MSG_UNSHARED_INIT = (
    "the {n} expert buffers in {where} were trained separately, so their experts do not "
    "start from the same networks and their checkpoints cannot be averaged; train them "
    "together: skdistill.methods.train_experts(X, y, sensitive_features, buffers='groups', "
    "save_dir=...)."
)

UNROLLS = ("recompute", "full")
#: What an expert epoch is (see :func:`~skdistill.methods.train_experts`).
EPOCH_LENGTHS = ("buffer", "all")


def check_settings(net_norm, sample_weight):
    """Refuse the distiller's settings that trajectory matching cannot take.

    Batch norm (its running statistics are no parameters an expert checkpoint replays) and
    sample weights (experts are trained on the data, not on weighted statistics).
    """
    if net_norm == "batch":
        raise ValueError(MSG_BATCH_NORM)
    if sample_weight is not None:
        raise ValueError(MSG_SAMPLE_WEIGHT)


def _gradient_fn(network, split, labels, steps, augment):
    """``gradient(w, x, i, create_graph)``: the student's loss gradient at step ``i``.

    ``w`` is the flat parameter vector (``split`` views it as the network's parameters), ``x``
    the synthetic set; step ``i`` trains on the samples ``steps[i][0]`` augmented with the
    drawn parameters ``steps[i][1]``.
    """

    def gradient(w, x, i, create_graph):
        idx, aug = steps[i]
        batch = x[idx] if aug is None else augment.apply(x[idx], aug)
        loss = F.cross_entropy(functional_call(network, split(w), (batch,)), labels[idx])
        return torch.autograd.grad(loss, w, create_graph=create_graph)[0]

    return gradient


class _RecomputedUnroll(torch.autograd.Function):
    """``N`` SGD steps of the student, differentiated by recomputing one step at a time.

    Forward keeps the ``N`` parameter vectors only (no graph); backward walks the steps in
    reverse, rebuilding one step's double-backward graph at a time: with
    ``w_{i+1} = w_i - lr g_i(w_i, x)`` and ``lam = dL/dw_{i+1}``, it adds
    ``-lr (dg_i/dx)^T lam`` to ``dL/dx``, ``-g_i . lam`` to ``dL/dlr``, and passes
    ``lam - lr (dg_i/dw_i)^T lam`` on. The gradient is exactly that of the full unroll.
    """

    @staticmethod
    def forward(ctx, gradient, n_steps, x, lr, start):
        w, visited = start.detach(), []
        for i in range(n_steps):
            visited.append(w)
            with torch.enable_grad():
                g = gradient(w.detach().requires_grad_(True), x.detach(), i, False)
            w = w - lr.detach() * g
        ctx.gradient = gradient
        ctx.save_for_backward(x, lr, torch.stack(visited))
        return w

    @staticmethod
    def backward(ctx, lam):
        x, lr, visited = ctx.saved_tensors
        lr = lr.detach()
        grad_x, grad_lr = torch.zeros_like(x), torch.zeros_like(lr)
        for i in reversed(range(visited.shape[0])):
            with torch.enable_grad():
                w = visited[i].detach().requires_grad_(True)
                xi = x.detach().requires_grad_(True)
                g = ctx.gradient(w, xi, i, True)
                hw, hx = torch.autograd.grad(g, (w, xi), grad_outputs=lam)
            grad_lr -= (g.detach() * lam).sum()
            grad_x -= lr * hx
            lam = lam - lr * hw
        return None, None, grad_x, grad_lr, lam if ctx.needs_input_grad[4] else None


def unroll(gradient, n_steps, x, lr, start, mode="recompute"):
    """The student's parameters after ``n_steps`` SGD steps from ``start``, differentiable.

    ``mode="full"`` keeps the graph of every step (MTT's reference: memory grows with
    ``n_steps``); ``"recompute"`` keeps the ``n_steps`` parameter vectors only and rebuilds
    one step's graph at a time when differentiated (the same gradient, memory of one step).
    """
    if mode == "recompute":
        return _RecomputedUnroll.apply(gradient, n_steps, x, lr, start)
    w = start.detach().requires_grad_(True)
    for i in range(n_steps):
        w = w - lr * gradient(w, x, i, True)
    return w


class TrajectoryMatching(Method):
    """MTT: match the parameters an expert reaches on real data by training on the synthetic set.

    Expert networks are trained on real data and their parameters recorded after every epoch
    (the *expert buffers*, see :func:`skdistill.methods.train_experts`). Every iteration
    draws a start epoch ``t`` in ``[0, max_start_epoch)`` and an expert index ``e``, the same
    in every buffer the target reads (experts ``e`` of buffers trained together start from
    the same network); the target's :class:`~skdistill.targets.TrajectoryPlan` turns their
    checkpoints at ``t`` and ``t + expert_epochs`` into start and target points (vanilla: the
    expert's own; COBRA: the mean of the groups' checkpoints; FairDD: every group's own,
    losses summed). A student network starts from each start point ``theta_t`` and takes
    ``syn_steps`` SGD steps on the (augmented) synthetic set with a learnable step size
    ``lr``; the loss is the normalised parameter distance
    ``||theta_hat - theta_{t+M}||^2 / ||theta_t - theta_{t+M}||^2``, back-propagated through
    every student step into the synthetic samples and into ``lr`` (which has its own SGD
    optimiser, momentum 0.5, learning rate ``lr_lr``, as in MTT). The student is
    ``torch.func.functional_call`` of the method's network on a flat parameter vector.

    Parameters
    ----------
    sample_shape : tuple of int
        ``(C, H, W)`` (ConvNet) or ``(d,)`` (MLP).
    n_classes : int
        Number of classes.
    net_width, net_depth : int or None
        Network size; ``None`` takes the reference defaults (ConvNet 128/3, MLP 256/2).
    net_norm : {"instance", "none"} or None
        ConvNet normalisation; instance norm (the reference's) when None.
    device : torch.device
        Where the student runs.
    augment : DSA or None
        Augmentation of the synthetic batch at every student step (per-sample parameters,
        as MTT's ``DiffAugment``); the experts are trained with it too.
    syn_steps : int, default=30
        Student steps per iteration (MTT's ``syn_steps``, N).
    expert_epochs : int, default=2
        Expert epochs between the start and the target point (MTT's ``expert_epochs``, M).
    max_start_epoch : int, default=20
        Start epochs are drawn in ``[0, max_start_epoch)`` (MTT's ``max_start_epoch``).
    lr_init : float, default=0.01
        Initial learnable student step size (MTT's ``lr_teacher``).
    lr_lr : float, default=1e-5
        Learning rate of the step size (MTT's ``lr_lr``).
    batch_syn : int or None, default=None
        Synthetic samples per student step (in a fresh random order every pass); all of them
        when None (MTT's default).
    expert_dir : str, path or None, default=None
        Folder of expert buffers (see :meth:`prepare_experts`); a temporary folder, removed
        with the method, when None.
    n_experts, expert_lr, expert_batch_size, expert_epoch_length : int, float, int, str or int
        How experts are trained when the fit trains them (see
        :func:`~skdistill.methods.train_experts`): 10 experts, lr 0.01, batches of 256,
        epochs of one pass over each buffer's data (``"buffer"``; ``"all"``: as many SGD
        steps for a group's buffer as for one on all the data).
    unroll : {"recompute", "full"}, default="recompute"
        How the student steps are differentiated: ``"full"`` keeps every step's graph, as
        MTT does (memory grows with ``syn_steps``); ``"recompute"`` rebuilds one step at a
        time in the backward pass (the same gradient; memory of one step plus ``syn_steps``
        parameter vectors; 1.25 to 1.5 times the time on a CPU). On Colored MNIST
        (ConvNet 128/3, 100 images, 10 steps): 380 MiB against 2.3 GiB, growing by about
        230 MiB per step for ``"full"``.

    Attributes
    ----------
    syn_lr : Tensor
        The learnable student step size (a float64 scalar).
    """

    name = "mtt"
    options = frozenset({"net_norm", "augment"})
    plan_kinds = frozenset({"trajectories"})
    default_lr = LR_IMG
    default_augment = "dsa"  # MTT augments the synthetic images and the experts' batches

    def __init__(
        self,
        sample_shape,
        n_classes,
        *,
        net_width=None,
        net_depth=None,
        net_norm=None,
        device,
        augment=None,
        syn_steps=SYN_STEPS,
        expert_epochs=EXPERT_EPOCHS,
        max_start_epoch=MAX_START_EPOCH,
        lr_init=LR_INIT,
        lr_lr=LR_LR,
        batch_syn=None,
        expert_dir=None,
        n_experts=N_EXPERTS,
        expert_lr=EXPERT_LR,
        expert_batch_size=EXPERT_BATCH_SIZE,
        expert_epoch_length="buffer",
        unroll="recompute",
    ):
        super().__init__(device, augment)
        check_settings(net_norm, None)
        self.syn_steps, self.expert_epochs = syn_steps, expert_epochs
        self.max_start_epoch, self.batch_syn, self.unroll = max_start_epoch, batch_syn, unroll
        self.expert_dir = expert_dir
        self.training = ExpertTraining(
            n_experts=n_experts,
            epochs=max_start_epoch - 1 + expert_epochs,
            lr=expert_lr,
            batch_size=expert_batch_size,
            augment=augment,
            epoch_length=expert_epoch_length,
        )
        self.expert_network = ExpertNetwork(
            tuple(sample_shape), n_classes, net_width, net_depth, net_norm
        )
        self.network = self.expert_network.build().to(device)
        self.network.requires_grad_(False)  # the student's parameters come from the experts
        self.split = parameter_splitter(self.network)
        self.syn_lr = torch.tensor(float(lr_init), dtype=torch.float64, device=device)
        self.syn_lr.requires_grad_(True)
        self.lr_optimizer = torch.optim.SGD([self.syn_lr], lr=lr_lr, momentum=0.5)
        self.plan = self.buffers = self._tempdir = None
        self._draw = None

    # ------------------------------------------------------------------ experts
    def prepare_experts(self, plan, data, *, seed=0, verbose=0):
        """Read (or train) the expert buffers that ``plan`` needs, and use them.

        ``data`` is the fit's :class:`~skdistill.methods._experts.ExpertData`. Buffers are
        read from ``expert_dir``; when it holds none of them they are trained (with this
        method's augmentation and expert settings, just long enough for ``max_start_epoch``
        and ``expert_epochs``) and saved there, or into a temporary folder removed with the
        method when ``expert_dir`` is None.
        """
        keys = buffer_keys(plan.buffers, data.groups.shape[0])
        expert_dir = self.expert_dir
        buffers, self._tempdir = resolve_buffers(
            data,
            keys,
            self.expert_network,
            self.training,
            directory=expert_dir,
            seed=seed,
            device=self.device,
            verbose=verbose,
        )
        where = f"expert_dir={str(expert_dir)!r}" if expert_dir is not None else "the fit"
        if len({buffers.info[k]["training"]["seed"] for k in keys}) > 1:
            raise ValueError(MSG_UNSHARED_INIT.format(where=where, n=len(keys)))
        for key in keys:
            buffers.check(
                key,
                data,
                self.expert_network,
                (self.max_start_epoch, self.expert_epochs),
                where=where,
            )
        self.use_experts(plan, [buffers[k] for k in keys])

    def use_experts(self, plan, trajectories):
        """Match ``plan`` with ``trajectories``, one ``(n_experts, epochs + 1, P)`` per buffer."""
        if len(trajectories) != plan.point_weights.shape[1]:
            raise ValueError(
                MSG_N_BUFFERS.format(n=plan.point_weights.shape[1], got=len(trajectories))
            )
        needed = self.max_start_epoch + self.expert_epochs
        for traj in trajectories:
            if traj.ndim != 3 or traj.shape[0] < 1 or traj.shape[1] < needed:
                raise ValueError(
                    MSG_TRAJECTORY_SHAPE.format(
                        shape=tuple(traj.shape),
                        needed=needed,
                        max_start=self.max_start_epoch,
                        m=self.expert_epochs,
                    )
                )
        self.plan, self.buffers = plan, list(trajectories)

    # ------------------------------------------------------------------ life cycle
    def begin_iteration(self, seed):
        """Draw the start epoch and the expert (and seed the augmentation).

        One expert index ``e`` is drawn for all buffers: the trajectories of the groups'
        experts ``e``, which start from the same network when trained together (see
        :func:`~skdistill.methods.train_experts`).
        """
        super().begin_iteration(seed)
        if self.buffers is None:
            raise RuntimeError(MSG_NO_EXPERTS)
        start = int(torch.randint(self.max_start_epoch, (1,), generator=self.generator))
        n_experts = min(b.shape[0] for b in self.buffers)
        expert = int(torch.randint(n_experts, (1,), generator=self.generator))
        self._draw = start, [expert] * len(self.buffers)

    def after_step(self, synthetic):
        """Step the learnable student step size with its own optimiser."""
        self.lr_optimizer.step()

    def state_dict(self):
        """The learnable step size and its optimiser (checkpointed with the synthetic set)."""
        return {"syn_lr": self.syn_lr.detach(), "lr_optimizer": self.lr_optimizer.state_dict()}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`."""
        if not state:
            return
        with torch.no_grad():
            self.syn_lr.copy_(state["syn_lr"])
        self.lr_optimizer.load_state_dict(state["lr_optimizer"])

    def fitted_attributes(self, state):
        """``synthetic_lr_``: the learnt student step size, to train models on the set with.

        ``state`` is the :meth:`state_dict` of the iteration the estimator keeps.
        """
        return {"synthetic_lr_": float(state["syn_lr"])}

    # ------------------------------------------------------------------ the loss
    def checkpoints(self, dtype):
        """``(start, target)`` stacks ``(n_buffers, P)`` of the drawn experts' checkpoints."""
        t, experts = self._draw
        take = lambda epoch: torch.stack(  # noqa: E731
            [b[e, epoch] for b, e in zip(self.buffers, experts)]
        ).to(self.device, dtype)
        return take(t), take(t + self.expert_epochs)

    def _steps(self, n_syn, image_size):
        """The samples and augmentation parameters of every student step (drawn once)."""
        batch = self.batch_syn or n_syn
        steps, chunks = [], []
        for _ in range(self.syn_steps):
            if not chunks:
                chunks = list(torch.randperm(n_syn, generator=self.generator).split(batch))
            idx = chunks.pop().to(self.device)
            aug = None
            if self.augment is not None:
                aug = self.augment.draw(idx.shape[0], self.generator, image_size)
            steps.append((idx, aug))
        return steps

    def trajectory_loss(self, gradient, synthetic, start, target):
        """The normalised distance of the student's end point to ``target``."""
        lr = self.syn_lr.to(synthetic.dtype)
        end = unroll(gradient, self.syn_steps, synthetic, lr, start, self.unroll)
        return (end - target).pow(2).sum() / (start - target).pow(2).sum()

    def match(self, x_real, plan, synthetic, ipc):
        """Back-propagate the trajectory loss into ``synthetic.grad`` and the step size's.

        ``x_real`` is unused (the experts stand for the real data); ``plan`` is the
        target's :class:`~skdistill.targets.TrajectoryPlan`. Terms are back-propagated one
        at a time, so memory holds one student unroll.
        """
        if plan.kind not in self.plan_kinds:
            raise ValueError(
                MSG_PLAN_KIND.format(
                    method=self.name, kind=plan.kind, kinds=sorted(self.plan_kinds)
                )
            )
        if self._draw is None:
            raise RuntimeError(MSG_NO_EXPERTS)
        start, target = (plan.points(c) for c in self.checkpoints(synthetic.dtype))
        n_classes = synthetic.shape[0] // ipc
        labels = torch.arange(n_classes, device=synthetic.device).repeat_interleave(ipc)
        steps = self._steps(synthetic.shape[0], synthetic.shape[-2:])
        gradient = _gradient_fn(self.network, self.split, labels, steps, self.augment)
        self.syn_lr.grad = None
        total = torch.zeros((), dtype=synthetic.dtype, device=synthetic.device)
        for k in np.flatnonzero(plan.loss_weights):
            loss = float(plan.loss_weights[k]) * self.trajectory_loss(
                gradient, synthetic, start[k], target[k]
            )
            loss.backward(inputs=[synthetic, self.syn_lr])
            total += loss.detach()
        return total
