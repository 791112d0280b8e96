"""
``train-head --tune block``: fine-tune a shipped CNN's last residual block together with its head,
on the block's inputs computed once by OpenCV's DNN (so the rest of the network never runs in
PyTorch). The block (conv-ReLU-conv plus the input, ReLU, global average pool, the Gemm) is read
from the ONNX initializers, where export folded the batch norms into the convolutions; the new
weights go back into a copy of the same ONNX, nothing else changed. ``--tune stage`` also tunes
the convolution (and ReLU) that opens the last stage, feeding the block; ``--tune net`` every
weight, on the faces themselves, each batch randomly augmented as ``train-cnn`` augments.
PyTorch runs the part op by op as the ONNX graph has it (``part_module``).
"""

import os
import time
from typing import TYPE_CHECKING

import numpy as np

from .data import augment as random_augment
from .network import import_training

if TYPE_CHECKING:   # a training-only dependency, imported where used
    import torch


def read_block(model, tune='block') -> tuple[dict, str]:
    """
    The initializers of the network's last residual block and Gemm, in order (conv1 weight,
    bias, conv2 weight, bias, Gemm weight, bias) by name, and the tensor that is the block's
    input; 'stage': the conv-ReLU before the block first (its weight and bias) and that conv's
    input; 'net': every Conv's and the Gemm's, in graph order, and the network's input. A network
    of another shape is a clear error.
    """
    from onnx import numpy_helper
    graph = model.graph
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    if tune == 'net':
        names = [name for node in graph.node if node.op_type in ('Conv', 'Gemm')
                 for name in node.input[1:3]]
        return {name: initializers[name].astype(np.float32) for name in names}, \
            graph.input[0].name
    producer = {out: node for node in graph.node for out in node.output}
    gemm = graph.node[-1]
    chain, tensor = [], gemm.input[0]
    for op in ('Flatten', 'GlobalAveragePool', 'Relu', 'Add'):
        node = producer.get(tensor)
        if node is None or node.op_type != op:
            raise ValueError('--tune block needs a network ending in a residual block, global '
                             'average pool, Flatten and Gemm')
        chain.append(node)
        tensor = node.input[0]
    add = chain[-1]
    skip, body = add.input
    conv2 = producer.get(body)
    relu = producer.get(conv2.input[0]) if conv2 is not None else None
    conv1 = producer.get(relu.input[0]) if relu is not None else None
    if (conv2 is None or conv2.op_type != 'Conv' or relu.op_type != 'Relu' or conv1 is None
            or conv1.op_type != 'Conv' or conv1.input[0] != skip or len(conv1.input) < 3
            or len(conv2.input) < 3):
        raise ValueError('--tune block: the last residual block is not conv-ReLU-conv plus '
                         'its input')
    names = [*conv1.input[1:3], *conv2.input[1:3], *gemm.input[1:3]]
    if tune == 'stage':
        relu = producer.get(skip)
        entry = producer.get(relu.input[0]) if relu is not None and relu.op_type == 'Relu' \
            else None
        if entry is None or entry.op_type != 'Conv' or len(entry.input) < 3:
            raise ValueError('--tune stage: the last residual block does not follow a '
                             'conv-ReLU')
        names = [*entry.input[1:3], *names]
        skip = entry.input[0]
    return {name: initializers[name].astype(np.float32) for name in names}, skip


def part_module(torch, part, params) -> 'torch.nn.Module':
    """
    The network from tensor ``start`` to its output, ``part`` = (ONNX model, start), run op by
    op as the graph says, with ``params`` (every initializer the part uses, in the order of
    ``parameters()``) as its trainable weights.
    """
    model, start = part
    F = torch.nn.functional
    onnx = import_training('onnx')

    def conv(x, weight, bias, pads=(0, 0, 0, 0), strides=(1, 1), dilations=(1, 1), group=1, **_):
        return F.conv2d(x, weight, bias, strides, pads[:2], dilations, group)

    def max_pool(x, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=0, **_):
        return F.max_pool2d(x, kernel_shape, strides, pads[:2], ceil_mode=bool(ceil_mode))

    ops = {'Conv': conv, 'MaxPool': max_pool, 'Relu': torch.relu, 'Add': torch.add,
           'GlobalAveragePool': lambda x: x.mean(dim=(2, 3), keepdim=True),
           'Flatten': lambda x, **_: x.flatten(1),
           'Gemm': lambda x, weight, bias, **_: F.linear(x, weight, bias)}
    nodes, known = [], {start}
    for node in model.graph.node:
        if known & set(node.input):
            nodes.append((node.op_type, [*node.input], node.output[0],
                          {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}))
            known.update(node.output)
    unknown = sorted({op for op, _, _, _ in nodes} - set(ops))
    if unknown:
        raise ValueError(f'the part after {start} has operations PyTorch does not run here: '
                         f'{unknown}')
    used = {name for _, inputs, _, _ in nodes for name in inputs} - known
    if used != set(params):
        raise ValueError(f'the part after {start} uses {sorted(used)}, not the weights given')
    output = model.graph.output[0].name

    class Part(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = torch.nn.ParameterList(
                torch.nn.Parameter(torch.from_numpy(array.copy())) for array in params.values())
            self.index = {name: i for i, name in enumerate(params)}

        def forward(self, x):
            values = {start: x}
            for op, inputs, out, attributes in nodes:
                args = [values[n] if n in values else self.weights[self.index[n]]
                        for n in inputs]
                values[out] = ops[op](*args, **attributes)
            return values[output]

    return Part()


def block_logits(part, params, x, batch=1024) -> np.ndarray:
    """Logits of the part (``part_module``) with ``params`` on its (n, c, h, w) inputs."""
    torch = import_training('torch')
    net = part_module(torch, part, params).eval()
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(x[i:i + batch].astype(np.float32))).numpy()
                               for i in range(0, len(x), batch)] or [np.zeros((0, len(
                                   params[list(params)[-1]])))]).astype(np.float64)


def fit_block(faces, weight, part, params, config, log=print, checkpoint='') -> dict:
    """
    Fine-tune the part and head on soft targets with per-face loss weights: AdamW (or SGD) with
    a one-cycle schedule for ``config.epochs`` epochs and an L2 pull of every weight towards the
    base's (``config.l2`` per face-mean loss, as for the linear head); with ``--tune net`` every
    batch of faces is randomly augmented. Writes ``checkpoint`` (.npz), if given, each epoch.
    """
    torch = import_training('torch')
    torch.manual_seed(config.seed)
    net = part_module(torch, part, params).train()
    start = [p.detach().clone() for p in net.parameters()]
    x = torch.from_numpy(faces.x)
    y = torch.from_numpy(faces.target.astype(np.float32))
    w = torch.from_numpy((weight / weight.mean()).astype(np.float32))
    optimizer = (torch.optim.SGD(net.parameters(), lr=config.lr, momentum=0.9, nesterov=True)
                 if config.optimizer == 'sgd'
                 else torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=0))
    steps = config.epochs * -(-len(y) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps,
                                                   pct_start=0.1)
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(config.epochs):
        started, total = time.monotonic(), 0.0
        for idx in torch.randperm(len(y), generator=generator).split(config.batch_size):
            batch = x[idx].float()
            if config.tune == 'net':
                batch = random_augment(torch, batch, generator)
            z = net(batch)
            loss = -(w[idx] * (y[idx] * torch.log_softmax(z, 1)).sum(1)).mean()
            loss = loss + config.l2 * sum(((p - p0) ** 2).sum()
                                          for p, p0 in zip(net.parameters(), start))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        log(f'  {config.tune} epoch {epoch + 1}/{config.epochs}: loss {total / len(y):.4f}, '
            f'{time.monotonic() - started:.0f} s')
        out = dict(zip(params, (p.detach().numpy().copy() for p in net.parameters())))
        if checkpoint:
            os.makedirs(os.path.dirname(checkpoint) or '.', exist_ok=True)
            np.savez(checkpoint, epoch=epoch + 1, **out)
    return out
