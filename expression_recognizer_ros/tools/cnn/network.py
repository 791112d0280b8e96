"""
The compact CNN of ``train-cnn``: its layers, a line describing them for the manifest, and its
weights read back from a checkpoint or from an exported ONNX (fine-tuning, distillation).
"""

import importlib
import math
import pickle
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:   # a training-only dependency, imported where used
    import torch


def import_training(module: str) -> ModuleType:
    """A training-only dependency (torch, onnx), or a clear error that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeError(f'{module} is missing, a training-only dependency: '
                           'pip install -r requirements-train.txt') from None


def build_network(widths, n_labels, arch='vgg', depths=(0, 1, 1, 1)) -> 'torch.nn.Sequential':
    """
    'vgg': four VGG-style blocks (3x3 conv, batch norm, ReLU; max-pool between), global average
    pool, linear. 'res': per stage a 3x3 conv (two in the first, at full resolution), then
    ``depths[i]`` residual blocks (conv-BN-ReLU-conv-BN plus the input, ReLU); max-pool between
    stages, the same head.
    """
    nn = import_training('torch').nn

    def conv(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    class Residual(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(*conv(c, c), nn.Conv2d(c, c, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(c))
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(x + self.body(x))

    if arch not in ('vgg', 'res'):
        raise ValueError(f'unknown CNN architecture {arch!r}; expected vgg or res')
    layers, channels = [], 1
    for i, width in enumerate(widths):
        for _ in range(1 if i == len(widths) - 1 or (arch == 'res' and i > 0) else 2):
            layers += conv(channels, width)
            channels = width
        if arch == 'res':
            layers += [Residual(width) for _ in range(depths[i])]
        layers.append(nn.MaxPool2d(2) if i < len(widths) - 1 else nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.3), nn.Linear(channels, n_labels))


def describe_network(arch, widths, depths) -> str:
    """One line describing the network's layers, for the manifest."""
    if arch == 'res':
        return (f'residual: stages {list(widths)} (a 3x3 conv each, two in the first) '
                f'with {list(depths)} '
                'residual blocks, max-pool between, global average pool, linear')
    return f'4 VGG-style blocks {list(widths)}, global average pool, linear'


def load_weights(torch, net, path, option, shape_options, faces, log) -> dict:
    """
    Load a state_dict (or a shipped ``cnn.onnx``, see ``_onnx_weights``) into ``net`` and return
    it; another network's weights or a non-checkpoint file are a clear error.
    """
    try:
        if path.endswith('.onnx'):
            difference = _onnx_weights(torch, net, path, faces)
            log(f'{path}: rebuilt for PyTorch; OpenCV DNN gives its logits within '
                f'{difference:.1e} on {len(faces)} Training faces')
        else:
            net.load_state_dict(torch.load(path, map_location='cpu'))
    except (RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise ValueError(f'{option} {path} is not a checkpoint of this network: give '
                         f'{shape_options} it was trained with') from exc
    return net.state_dict()


def _onnx_weights(torch, net, path, faces):
    """
    Rebuild a trained network from its exported ONNX (batch norm folded into the convolutions),
    so a shipped model can be fine-tuned or distilled from without its PyTorch checkpoint. The
    initializers go to ``net``'s convolutions and linear layer in order, shapes checked; each
    batch norm gets the mean and variance of its convolution's output on ``faces`` (a sample of
    Training faces), with scale and shift that undo them, so in eval mode the network computes
    the ONNX's function and in training its batch statistics start near their usual range.
    OpenCV's DNN must then give the same logits on ``faces`` (1e-4) or this fails.
    """
    onnx = import_training('onnx')
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    found = [(node.op_type, [values[name] for name in node.input[1:]]) for node in graph.node
             if node.op_type in ('Conv', 'Gemm')]
    nn = torch.nn
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    if (len(found) != len(layers) or len(norms) != len(layers) - 1
            or any(w[0].shape != tuple(m.weight.shape) for (_, w), m in zip(found, layers))):
        raise RuntimeError(f'{path}: its layers are not those of this network')
    outputs = {}
    with torch.no_grad():
        for (_, (weight, bias)), layer in zip(found, layers):
            layer.weight.copy_(torch.tensor(weight))
            if isinstance(layer, nn.Linear):
                layer.bias.copy_(torch.tensor(bias))
        hooks = [c.register_forward_hook(lambda m, i, o: outputs.__setitem__(m, o))
                 for c in layers[:-1]]
        net.eval()
        for norm, (_, (_, bias)) in zip(norms, found):   # first the folded, exact identity
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0)
            norm.weight.fill_(math.sqrt(1 + norm.eps))
            norm.bias.copy_(torch.tensor(bias))
        net(faces)
        for hook in hooks:
            hook.remove()
        for conv, norm in zip(layers[:-1], norms):
            mean, var = outputs[conv].mean((0, 2, 3)), outputs[conv].var((0, 2, 3))
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
            norm.weight.copy_(torch.sqrt(var + norm.eps))
            norm.bias.add_(mean)
        got = net(faces).numpy()
    import cv2
    onnx_net = cv2.dnn.readNetFromONNX(path)
    onnx_net.setInput(np.ascontiguousarray(faces.numpy()))
    difference = float(np.abs(onnx_net.forward() - got).max())
    if difference > 1e-4:
        raise RuntimeError(f'{path}: the rebuilt network differs from the ONNX by {difference}')
    return difference


def check_export(onnx_bytes, expected, blob) -> dict:
    """OpenCV's DNN must give PyTorch's logits and labels for the exported network."""
    import cv2
    net = cv2.dnn.readNetFromONNX(np.frombuffer(onnx_bytes, np.uint8))
    net.setInput(np.ascontiguousarray(blob))
    got = net.forward()
    same = float((got.argmax(1) == expected.argmax(1)).mean())
    if same < 0.99:
        raise RuntimeError(f'OpenCV DNN and PyTorch disagree on {1 - same:.1%} of the faces; '
                           'export is broken')
    return {'max_abs_logit_difference': float(np.abs(got - expected).max()), 'same_label': same}
