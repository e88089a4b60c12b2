"""Compile a resolved plan into an ``nn.Module`` whose parameter names follow the spec's names."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from archprof.spec.modules import Graph, Seq
from archprof.spec.plan import Node, Plan


def compile_plan(plan: Plan, device: str | torch.device | None = None) -> nn.Module:
    """Build the model; on ``device='meta'`` no parameter memory is allocated.

    With ``device=None`` modules are created on the ambient default device.
    """
    if device is None:
        model = _module(plan.root)
    else:
        with torch.device(device):
            model = _module(plan.root)
    if plan.spec.init:
        from archprof.spec.init import apply

        apply(model, plan.spec.init)
    model.spec_name = plan.spec.name
    model.input_shape = plan.input_shape
    return model


def _module(node: Node) -> nn.Module:
    if node.op is not None:
        return node.op.build(*node.in_shapes)
    children = OrderedDict((child.name, _module(child)) for child in node.children)
    if not node.is_graph:
        module = Seq(children)
    else:
        steps = [(child.name, child.inputs, child.outputs) for child in node.children]
        module = Graph(children, steps, node.input_names, node.output)
    module.spec_kind = node.block or node.kind   # what an analysis calls the container (bottleneck, seq)
    return module
