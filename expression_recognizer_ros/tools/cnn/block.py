"""
``train-head --tune block``: fine-tune a shipped CNN's last residual block together with its head,
on the block's inputs computed once by OpenCV's DNN (so the rest of the network never runs in
PyTorch). The block (conv-ReLU-conv plus the input, ReLU, global average pool, the Gemm) is read
from the ONNX initializers, where export folded the batch norms into the convolutions; the new
weights go back into a copy of the same ONNX, nothing else changed. ``--tune stage`` also tunes
the convolution (and ReLU) that opens the last stage, feeding the block.
"""

import os
import time
from typing import TYPE_CHECKING

import numpy as np

from .network import import_training

if TYPE_CHECKING:   # a training-only dependency, imported where used
    import torch


def read_block(model, stage=False) -> tuple[dict, str]:
    """
    The initializers of the network's last residual block and Gemm, in order (conv1 weight,
    bias, conv2 weight, bias, Gemm weight, bias) by name, and the node whose output is the
    block's input; with ``stage``, the conv-ReLU before the block first (its weight and bias)
    and that conv's input. A network of another shape is a clear error.
    """
    from onnx import numpy_helper
    graph = model.graph
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
    if stage:
        relu = producer.get(skip)
        entry = producer.get(relu.input[0]) if relu is not None and relu.op_type == 'Relu' \
            else None
        if entry is None or entry.op_type != 'Conv' or len(entry.input) < 3:
            raise ValueError('--tune stage: the last residual block does not follow a '
                             'conv-ReLU')
        names = [*entry.input[1:3], *names]
        skip = entry.input[0]
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    return {name: initializers[name].astype(np.float32) for name in names}, \
        'onnx_node!' + producer[skip].name


def block_module(torch, params) -> 'torch.nn.Module':
    """
    The block and head as a PyTorch module holding ``params`` (read_block's order; eight
    arrays: the stage's opening conv first).
    """
    nn = torch.nn
    arrays = list(params.values())
    pairs = list(zip(arrays[::2], arrays[1::2]))

    def conv(weight):
        return nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2],
                         padding=weight.shape[2] // 2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [conv(weight) for weight, _ in pairs[:-1]]
            layers.append(nn.Linear(pairs[-1][0].shape[1], pairs[-1][0].shape[0]))
            self.entry = layers[0] if len(layers) == 4 else None   # first: parameters() order
            self.conv1, self.conv2, self.head = layers[-3:]
            for layer, (weight, bias) in zip(layers, pairs):
                layer.weight.data = torch.from_numpy(weight.copy())
                layer.bias.data = torch.from_numpy(bias.copy())

        def forward(self, x):
            if self.entry is not None:
                x = torch.relu(self.entry(x))
            y = torch.relu(x + self.conv2(torch.relu(self.conv1(x))))
            return self.head(y.mean(dim=(2, 3)))

    return Block()


def block_logits(params, x, batch=1024) -> np.ndarray:
    """Logits of the block with ``params`` on its (n, c, h, w) inputs."""
    torch = import_training('torch')
    net = block_module(torch, params).eval()
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(x[i:i + batch].astype(np.float32))).numpy()
                               for i in range(0, len(x), batch)] or [np.zeros((0, len(
                                   params[list(params)[-1]])))]).astype(np.float64)


def fit_block(faces, weight, params, config, log=print, checkpoint='') -> dict:
    """
    Fine-tune the block and head on soft targets with per-face loss weights: AdamW with a cosine
    schedule for ``config.epochs`` epochs and an L2 pull of every weight towards the base's
    (``config.l2`` per face-mean loss, as for the linear head). Writes ``checkpoint`` (.npz) after
    each epoch when given.
    """
    torch = import_training('torch')
    torch.manual_seed(config.seed)
    net = block_module(torch, params).train()
    start = [p.detach().clone() for p in net.parameters()]
    x = torch.from_numpy(faces.x)
    y = torch.from_numpy(faces.target.astype(np.float32))
    w = torch.from_numpy((weight / weight.mean()).astype(np.float32))
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=0)
    steps = config.epochs * -(-len(y) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps,
                                                   pct_start=0.1)
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(config.epochs):
        started, total = time.monotonic(), 0.0
        for idx in torch.randperm(len(y), generator=generator).split(config.batch_size):
            z = net(x[idx].float())
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
