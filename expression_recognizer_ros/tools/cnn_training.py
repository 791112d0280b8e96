"""``train-cnn``: the compact CNN, trained with PyTorch on the CPU, exported to ONNX for ``classifiers/cnn.py``.

PyTorch is a training-only dependency (``requirements-train.txt``); nothing here runs in a node.
FER2013 Training is fitted with augmentation; the epoch kept and the softmax temperature are chosen on
PublicTest only, so PrivateTest stays an honest figure.
"""

import csv
import io
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from ..classifiers.cnn import CnnClassifier, softmax, standardize
from ..core.labels import canonical
from ..core.preprocessing import Preprocessing
from .training import model_labels

FERPLUS_COLUMNS = ('neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear')


@dataclass
class CnnConfig:
    epochs: int = 40
    batch_size: int = 64
    lr: float = 0.05              # peak of the one-cycle schedule (SGD, Nesterov momentum 0.9)
    weight_decay: float = 5e-4
    widths: tuple = (32, 64, 128, 256)
    ferplus: str = ''             # fer2013new.csv: soft targets from the FER+ votes; '' = original labels only
    ferplus_weight: float = 0.5   # target = (1 - w) * original one-hot + w * FER+ vote shares
    seed: int = 0
    limit: int = 0                # use only the first N Training faces (smoke tests)
    min_std: float = 1.0          # blank training faces are dropped, as for the Fisherface models


def _torch():
    try:
        import torch
    except ImportError:
        raise RuntimeError('train-cnn needs PyTorch (training only): pip install -r requirements-train.txt') from None
    return torch


def build_network(widths, n_labels):
    """Four VGG-style blocks (3x3 conv, batch norm, ReLU; max-pool between), global average pool, linear."""
    nn = _torch().nn
    layers, channels = [], 1
    for i, width in enumerate(widths):
        for _ in range(1 if i == len(widths) - 1 else 2):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2) if i < len(widths) - 1 else nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.3), nn.Linear(channels, n_labels))


def read_ferplus(path, n_rows, vocabulary):
    """FER+ vote shares per FER2013 row in ``vocabulary`` order, and a mask of rows FER+ deems usable."""
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    if len(rows) != n_rows or header[2:9] != list(FERPLUS_COLUMNS):
        raise ValueError(f'{path}: expected FER+ votes ({", ".join(FERPLUS_COLUMNS)}, ...) for {n_rows} rows')
    order = [vocabulary.index(canonical(name)) for name in FERPLUS_COLUMNS]
    votes = np.zeros((n_rows, len(vocabulary)), np.float32)
    votes[:, order] = np.array([[float(v) for v in row[2:9]] for row in rows], np.float32)
    totals = votes.sum(axis=1, keepdims=True)
    usable = np.array([bool(row[1].strip()) for row in rows]) & (totals[:, 0] > 0)
    return votes / np.maximum(totals, 1), usable


def augment(torch, x, generator):
    """Random mirror, rotation (±10°), scale (±10%), shift (±3.6 px), contrast and brightness (±20%)."""
    n = x.shape[0]
    u = lambda: torch.rand(n, generator=generator) * 2 - 1  # noqa: E731
    angle, scale = u() * math.radians(10), 1 + 0.1 * u()
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * mirror, -sin, 0.15 * u()], 1),
                         torch.stack([sin * mirror, cos, 0.15 * u()], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, padding_mode='border', align_corners=False)
    return x * (1 + 0.2 * u())[:, None, None, None] + 0.2 * u()[:, None, None, None]


def fit_temperature(logits, truth):
    """The temperature minimizing the negative log-likelihood of held-out labels."""
    def nll(log_t):
        z = logits / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(truth)), truth]))
    return math.exp(minimize_scalar(nll, bounds=(-3, 3), method='bounded').x)


def expected_calibration_error(probabilities, truth, bins=15):
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def train_cnn(dataset, preprocessing=Preprocessing(), config=CnnConfig(), log=print):
    """Return (classifier without its network, ONNX bytes, metrics); ``CnnClassifier.save`` writes them."""
    torch = _torch()
    if dataset.usage is None:
        raise ValueError('train-cnn trains on the FER2013 CSV (Training, with PublicTest for model selection)')
    if preprocessing.features != 'pixels' or preprocessing.size != 48:
        raise ValueError('the CNN takes 48x48 pixels (preprocessing size 48, features pixels)')
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    vocabulary = model_labels(dataset.labels)
    index = {label: i for i, label in enumerate(vocabulary)}
    truth = np.array([index[label] for label in dataset.labels])
    targets = np.eye(len(vocabulary), dtype=np.float32)[truth]
    usage = np.array(dataset.usage)
    rows = np.flatnonzero(usage == 'Training')
    if config.ferplus:
        votes, usable = read_ferplus(config.ferplus, len(dataset), vocabulary)
        targets[usable] = (1 - config.ferplus_weight) * targets[usable] + config.ferplus_weight * votes[usable]
        log(f'FER+ soft targets (weight {config.ferplus_weight}); {int((~usable[rows]).sum())} Training faces '
            'FER+ marks unusable are left out')
        rows = rows[usable[rows]]
    rows = rows[dataset.images[rows].std(axis=(1, 2)) >= config.min_std]
    if config.limit:
        rows = rows[:config.limit]
    faces = torch.from_numpy(standardize(dataset.images))
    targets = torch.from_numpy(targets)
    public, private = (np.flatnonzero(usage == split) for split in ('PublicTest', 'PrivateTest'))
    net = build_network(config.widths, len(vocabulary)).to(memory_format=torch.channels_last)
    parameters = sum(p.numel() for p in net.parameters())
    log(f'training a {parameters:,}-parameter CNN on {len(rows)} faces, {config.epochs} epochs, '
        f'{torch.get_num_threads()} threads; labels {vocabulary}')
    steps = math.ceil(len(rows) / config.batch_size)
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.epochs * steps)

    def logits_of(idx, mirror=False):
        net.eval()
        with torch.no_grad():
            out = [net(faces[idx[i:i + 512]].flip(3) if mirror else faces[idx[i:i + 512]])
                   for i in range(0, len(idx), 512)]
        return torch.cat(out).numpy()

    history, best = [], (-1.0, None, 0)
    for epoch in range(config.epochs):
        started, net_loss = time.perf_counter(), 0.0
        net.train()
        order = torch.from_numpy(rows)[torch.randperm(len(rows), generator=generator)]
        for step in range(steps):
            batch = order[step * config.batch_size:(step + 1) * config.batch_size]
            x = augment(torch, faces[batch], generator).contiguous(memory_format=torch.channels_last)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                out = net(x)
            loss = -(targets[batch] * torch.log_softmax(out.float(), 1)).sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            net_loss += loss.item()
        accuracy = float((logits_of(public).argmax(1) == truth[public]).mean())
        history.append({'epoch': epoch + 1, 'loss': net_loss / steps, 'public_accuracy': accuracy,
                        'seconds': time.perf_counter() - started})
        log(f'epoch {epoch + 1}/{config.epochs}: loss {net_loss / steps:.3f}, PublicTest {accuracy:.3f}, '
            f'{history[-1]["seconds"]:.0f} s')
        if accuracy > best[0]:
            best = (accuracy, {k: v.clone() for k, v in net.state_dict().items()}, epoch + 1)
    net.load_state_dict(best[1])
    net = net.to(memory_format=torch.contiguous_format).eval()

    metrics = {'config': dict(asdict(config), widths=list(config.widths)), 'parameters': parameters,
               'n_train': len(rows), 'best_epoch': best[2], 'history': history,
               'train_seconds': sum(h['seconds'] for h in history)}
    calibration = {}
    for mirror in (False, True):
        def logits(idx):
            z = logits_of(idx)
            return (z + logits_of(idx, True)) / 2 if mirror else z
        name = 'flip' if mirror else 'plain'
        z_public, z_private = logits(public), logits(private)
        temperature = fit_temperature(z_public, truth[public])
        calibration[name] = {
            'temperature': temperature,
            'PublicTest_accuracy': float((z_public.argmax(1) == truth[public]).mean()),
            'PrivateTest_accuracy': float((z_private.argmax(1) == truth[private]).mean()),
            'PrivateTest_ece_before': expected_calibration_error(softmax(z_private), truth[private]),
            'PrivateTest_ece_after': expected_calibration_error(softmax(z_private / temperature), truth[private]),
        }
        log(f'{name}: PublicTest {calibration[name]["PublicTest_accuracy"]:.3f}, PrivateTest '
            f'{calibration[name]["PrivateTest_accuracy"]:.3f}; temperature {temperature:.2f}, PrivateTest ECE '
            f'{calibration[name]["PrivateTest_ece_before"]:.3f} -> {calibration[name]["PrivateTest_ece_after"]:.3f}')
    metrics['calibration'] = calibration
    metrics['PrivateTest'] = {'accuracy': calibration['plain']['PrivateTest_accuracy'], 'n': len(private)}
    metrics['PublicTest'] = {'accuracy': calibration['plain']['PublicTest_accuracy'], 'n': len(public)}

    buffer = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 1, 48, 48), buffer, dynamo=False, input_names=['face'],
                      output_names=['logits'], dynamic_axes={'face': {0: 'n'}, 'logits': {0: 'n'}})
    classifier = CnnClassifier(vocabulary, None, preprocessing, calibration['plain']['temperature'])
    metrics['onnx_check'] = _check_export(buffer.getvalue(), logits_of(public[:512]), faces[public[:512]].numpy())
    log(f'ONNX in OpenCV DNN vs PyTorch on 512 PublicTest faces: {metrics["onnx_check"]}')
    return classifier, buffer.getvalue(), metrics


def _check_export(onnx_bytes, expected, blob):
    """OpenCV's DNN must give PyTorch's logits and labels for the exported network."""
    import cv2
    net = cv2.dnn.readNetFromONNX(np.frombuffer(onnx_bytes, np.uint8))
    net.setInput(np.ascontiguousarray(blob))
    got = net.forward()
    same = float((got.argmax(1) == expected.argmax(1)).mean())
    if same < 0.99:
        raise RuntimeError(f'OpenCV DNN and PyTorch disagree on {1 - same:.1%} of the faces; export is broken')
    return {'max_abs_logit_difference': float(np.abs(got - expected).max()), 'same_label': same}
