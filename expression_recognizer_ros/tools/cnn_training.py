"""
``train-cnn``: the compact CNN, trained with PyTorch (CPU, or a GPU when one is there), exported to
ONNX for ``classifiers/cnn.py``.

PyTorch is a training-only dependency (``requirements-train.txt``); nothing here runs in a node.
FER2013 Training is fitted with augmentation; the epoch kept and the softmax temperature are chosen
on PublicTest only, so PrivateTest stays an honest figure. Optional: a residual network
(``arch='res'``), mixup, random erasing, label smoothing, class-balanced loss, and distillation
from an ensemble of larger teacher networks trained first in the same run; a wall-clock budget can
size the schedules.
"""

import csv
from dataclasses import asdict, dataclass
import hashlib
import io
import lzma
import math
import os
import pickle
import time

import numpy as np

from .training import model_labels
from ..classifiers.cnn import CnnClassifier, softmax, standardize
from ..core.labels import canonical
from ..core.preprocessing import Preprocessing

FERPLUS_COLUMNS = ('neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear')


@dataclass
class CnnConfig:
    """The ``train-cnn`` options: network, schedule, augmentation, distillation, calibration."""

    # 0: as many as fit in the phase's share of time_budget (measured on epoch 1)
    epochs: int = 40
    batch_size: int = 64
    lr: float = 0.05              # peak of the one-cycle schedule (SGD, Nesterov momentum 0.9)
    weight_decay: float = 5e-4
    widths: tuple = (32, 64, 128, 256)
    # fer2013new.csv: soft targets from the FER+ votes; '' = original labels only
    ferplus: str = ''
    ferplus_weight: float = 0.5   # target = (1 - w) * original one-hot + w * FER+ vote shares
    seed: int = 0
    limit: int = 0                # use only the first N Training faces (smoke tests)
    min_std: float = 1.0          # blank training faces are dropped, as for the Fisherface models
    # 'vgg' (cnn-fer2013's) or 'res': a conv per stage, then `depths` residual blocks
    arch: str = 'vgg'
    depths: tuple = (0, 1, 1, 1)  # residual blocks per stage ('res' only)
    device: str = 'auto'          # 'auto' (a CUDA GPU when PyTorch sees one), 'cpu' or 'cuda'
    # seconds of training in all (teachers + student) when epochs is 0
    time_budget: float = 0.0
    label_smoothing: float = 0.0  # target = (1 - e) * target + e / classes
    mixup: float = 0.0            # Beta(a, a) mixup of faces and targets on every batch; 0 = off
    # probability of blanking a random rectangle (8-20 px sides) of a face
    erase: float = 0.0
    # loss weight of a face ~ (its class's Training count) ** -balance
    balance: float = 0.0
    # distillation: train this many teacher networks first (seeds seed+1 ...)
    teachers: int = 0
    teacher_arch: str = 'res'
    teacher_widths: tuple = (64, 128, 256, 512)
    teacher_depths: tuple = (1, 2, 2, 2)
    teacher_share: float = 0.5    # share of time_budget the teachers get (with epochs 0)
    teacher_epochs: int = 0       # with epochs > 0: epochs per teacher (0 = epochs)
    # student target = (1 - w) * label target + w * mean teacher probabilities
    distill_weight: float = 0.7
    # folder for the teachers' and the student's best weights (state_dict .pt)
    checkpoints: str = ''
    # fit one logit offset per class with the temperature on PublicTest
    calibrate_bias: bool = False
    # a student state_dict (.pt, e.g. from --checkpoints) to start from: fine-tuning
    init: str = ''
    # trained teachers' state_dicts (.pt, teacher_arch/widths/depths) to distill from, before
    # any new ones (`teachers`); the student's own checkpoint makes this self-distillation.
    # A shipped cnn.onnx works for init and teachers too (_onnx_weights)
    teacher_weights: tuple = ()
    # an outside teacher's probabilities per FER2013 face (peer-faceapi --soft-labels, .npz):
    # label target = (1 - soft_weight) * label target + soft_weight * its probabilities
    soft_labels: str = ''
    soft_weight: float = 0.3


def _torch():
    try:
        import torch
    except ImportError:
        raise RuntimeError('train-cnn needs PyTorch (training only): '
                           'pip install -r requirements-train.txt') from None
    return torch


def build_network(widths, n_labels, arch='vgg', depths=(0, 1, 1, 1)):
    """
    'vgg': four VGG-style blocks (3x3 conv, batch norm, ReLU; max-pool between), global average
    pool, linear. 'res': per stage a 3x3 conv (two in the first, at full resolution), then
    ``depths[i]`` residual blocks (conv-BN-ReLU-conv-BN plus the input, ReLU); max-pool between
    stages, the same head.
    """
    nn = _torch().nn

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


def describe_network(arch, widths, depths):
    """One line describing the network's layers, for the manifest."""
    if arch == 'res':
        return (f'residual: stages {list(widths)} (a 3x3 conv each, two in the first) '
                f'with {list(depths)} '
                'residual blocks, max-pool between, global average pool, linear')
    return f'4 VGG-style blocks {list(widths)}, global average pool, linear'


def read_ferplus(path, source_rows, vocabulary):
    """
    FER+ vote shares for the given FER2013 CSV rows in ``vocabulary`` order, and a mask of the rows
    FER+ deems usable. ``source_rows``: each face's row in the CSV (all of them, or a pack's
    subset).
    """
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    if len(rows) != FER2013_ROWS or header[2:9] != list(FERPLUS_COLUMNS):
        raise ValueError(f'{path}: expected FER+ votes ({", ".join(FERPLUS_COLUMNS)}, ...) '
                         f'for {FER2013_ROWS} rows')
    rows = [rows[i] for i in source_rows]
    order = [vocabulary.index(canonical(name)) for name in FERPLUS_COLUMNS]
    votes = np.zeros((len(rows), len(vocabulary)), np.float32)
    votes[:, order] = np.array([[float(v) for v in row[2:9]] for row in rows], np.float32)
    totals = votes.sum(axis=1, keepdims=True)
    usable = np.array([bool(row[1].strip()) for row in rows]) & (totals[:, 0] > 0)
    return votes / np.maximum(totals, 1), usable


def read_soft_labels(path, dataset, rows, vocabulary):
    """
    An outside teacher's probabilities (``peer.write_soft_labels``) for the faces ``rows`` of
    ``dataset``, in ``vocabulary`` order, matched by CSV row; and what the manifest records of it.
    A file of other faces, another CSV or an unfinished run is a clear error.
    """
    with np.load(path) as f:
        done, p = int(f['done']), f['p']
        file_rows, classes = f['rows'][:done], [str(c) for c in f['classes']]
        info = {'path': path, 'checksum': pack_checksum(path), 'teacher': str(f['package']),
                'weights_sha256': str(f['weights_sha256']), 'faces': done}
        if str(f['checksum']) != dataset.checksum:
            raise ValueError(f'{path}: soft labels of {f["checksum"]}, not of this dataset '
                             f'({dataset.checksum})')
    missing = sorted(set(classes) ^ set(vocabulary))
    if missing:
        raise ValueError(f'{path}: soft labels for {classes}; the model has {vocabulary}')
    where = {r: i for i, r in enumerate(file_rows)}
    wanted = [int(dataset.paths[i].rsplit(':', 1)[1]) for i in rows]
    lacking = [r for r in wanted if r not in where]
    if lacking:
        raise ValueError(f'{path}: no soft labels for {len(lacking)} of the {len(wanted)} '
                         f'Training faces (CSV row {lacking[0]}, ...); finish the peer-faceapi '
                         'run')
    soft = p[[where[r] for r in wanted]][:, [classes.index(label) for label in vocabulary]]
    return (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32), info


FER2013_ROWS = 35887
PACK_SPLITS = ('Training', 'PublicTest')   # all train-cnn reads; PrivateTest stays out of a pack


def _med_residuals(images):
    """
    Residuals of the median edge detector (JPEG-LS's predictor) per 48x48 face: compress far
    better.
    """
    a = images.astype(np.int16)
    left, up, corner = (np.zeros_like(a) for _ in range(3))
    left[:, :, 1:], up[:, 1:, :], corner[:, 1:, 1:] = a[:, :, :-1], a[:, :-1, :], a[:, :-1, :-1]
    return ((a - _med(left, up, corner)) & 255).astype(np.uint8)


def _med(left, up, corner):
    low, high = np.minimum(left, up), np.maximum(left, up)
    return np.where(corner >= high, low, np.where(corner <= low, high, left + up - corner))


def _med_decode(residuals):
    n, h, w = residuals.shape
    res = np.ascontiguousarray(residuals.transpose(1, 2, 0)).astype(np.int16)
    out = np.zeros((h + 1, w + 1, n), np.int16)     # a zero row and column before the image
    for r in range(h):
        for c in range(w):
            out[r + 1, c + 1] = (res[r, c] + _med(out[r + 1, c], out[r, c + 1], out[r, c])) & 255
    return np.ascontiguousarray(out[1:, 1:].transpose(2, 0, 1)).astype(np.uint8)


def write_pack(dataset, path):
    """
    A compact, lossless copy of FER2013's Training and PublicTest rows (about 50 MB instead of the
    94 MB CSV.gz) for a training machine without ../shared: MED residuals compressed with xz,
    labels, splits, each row's index in the CSV, the CSV's checksum and whether the faces were
    realigned (``--align``). ``load_training_data`` reads it back.
    """
    usage = np.array(dataset.usage)
    rows = np.flatnonzero(np.isin(usage, PACK_SPLITS))
    images = np.ascontiguousarray(dataset.images[rows])
    from ..core.labels import FER2013_CLASSES
    np.savez(path,
             residuals_xz=np.frombuffer(lzma.compress(_med_residuals(images).tobytes(),
                                                      preset=9 | lzma.PRESET_EXTREME), np.uint8),
             shape=np.array(images.shape),
             emotion=np.array([FER2013_CLASSES.index(dataset.labels[i]) for i in rows], np.int8),
             usage=np.array([PACK_SPLITS.index(usage[i]) for i in rows], np.int8),
             # rows in the CSV
             rows=np.array([int(dataset.paths[i].rsplit(':', 1)[1]) for i in rows], np.int32),
             source_checksum=np.array(dataset.checksum),
             aligned=np.array(dataset.aligned),
             images_sha256=np.array(hashlib.sha256(images).hexdigest()))
    return pack_checksum(path)


def pack_checksum(path):
    """The SHA-256 of a pack file, as ``sha256:<hex>``."""
    with open(path, 'rb') as f:
        return 'sha256:' + hashlib.sha256(f.read()).hexdigest()


def load_training_data(path):
    """
    The FER2013 CSV (``datasets.load``) or a pack from ``write_pack``: a Dataset either way; a
    pack's checksum is the CSV's it came from, verified through the faces' own SHA-256.
    """
    from .datasets import Dataset, load
    if not path.endswith('.npz'):
        return load(path, 'fer2013')
    from ..core.labels import FER2013_CLASSES
    with np.load(path) as pack:
        residuals = np.frombuffer(lzma.decompress(pack['residuals_xz'].tobytes()), np.uint8)
        images = _med_decode(residuals.reshape(tuple(pack['shape'])))
        if hashlib.sha256(images).hexdigest() != str(pack['images_sha256']):
            raise ValueError(f'{path}: the unpacked faces do not match their checksum')
        return Dataset(name='fer2013', images=images,
                       labels=[FER2013_CLASSES[c] for c in pack['emotion']],
                       paths=[f'fer2013.csv.gz:{r}' for r in pack['rows']],
                       usage=[PACK_SPLITS[u] for u in pack['usage']],
                       checksum=str(pack['source_checksum']),
                       aligned=bool(pack['aligned']) if 'aligned' in pack else False)


def augment(torch, x, generator, erase=0.0):
    """
    Random mirror, rotation (±10°), scale (±10%), shift (±3.6 px), contrast and brightness (±20%);
    with ``erase`` > 0, that share of the faces gets a random rectangle (8-20 px sides) set to 0
    (the mean). The random numbers come from ``generator`` on the CPU, so a seed gives the same
    draws on any device.
    """
    n, device = x.shape[0], x.device
    u = lambda: (torch.rand(n, generator=generator) * 2 - 1).to(device)  # noqa: E731
    angle, scale = u() * math.radians(10), 1 + 0.1 * u()
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).to(device)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * mirror, -sin, 0.15 * u()], 1),
                         torch.stack([sin * mirror, cos, 0.15 * u()], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, padding_mode='border', align_corners=False)
    x = x * (1 + 0.2 * u())[:, None, None, None] + 0.2 * u()[:, None, None, None]
    if erase > 0:
        size = x.shape[-1]
        draw = lambda low, high: (  # noqa: E731
            low + torch.rand(n, generator=generator) * (high - low)).to(device)
        h, w = draw(8, 20), draw(8, 20)
        top, left = draw(0, 1) * (size - h), draw(0, 1) * (size - w)
        on = (torch.rand(n, generator=generator) < erase).to(device)
        ys = torch.arange(size, device=device)[None, :, None]
        xs = torch.arange(size, device=device)[None, None, :]
        box = ((ys >= top[:, None, None]) & (ys < (top + h)[:, None, None]) &
               (xs >= left[:, None, None]) & (xs < (left + w)[:, None, None]) & on[:, None, None])
        x = x.masked_fill(box[:, None], 0.0)
    return x


def _nll(z, truth):
    """Mean negative log-likelihood of the labels ``truth`` under the logits ``z``."""
    z = z - z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(truth)), truth]))


def fit_temperature(logits, truth):
    """The temperature minimizing the negative log-likelihood of held-out labels."""
    from scipy.optimize import minimize_scalar

    def nll(log_t):
        return _nll(logits / math.exp(log_t), truth)
    return math.exp(minimize_scalar(nll, bounds=(-3, 3), method='bounded').x)


def fit_bias_temperature(logits, truth):
    """
    One logit offset per class (mean zero) and a temperature, minimizing the negative
    log-likelihood of held-out labels ("bias-corrected temperature scaling"): corrects the class
    prior as well as the scale.
    """
    from scipy.optimize import minimize

    def nll(p):
        return _nll((logits + p[1:]) / math.exp(p[0]), truth)
    p = minimize(nll, np.zeros(1 + logits.shape[1]), method='L-BFGS-B').x
    return math.exp(p[0]), p[1:] - p[1:].mean()


def bias_cross_validation(logits, truth, repeats=5, seed=0):
    """
    Accuracy without and with the fitted offsets, each half of the faces scored by a fit on the
    other half (``repeats`` random halvings): whether the offsets help faces they were not fitted
    on.
    """
    rng, scores = np.random.default_rng(seed), []
    for _ in range(repeats):
        halves = np.array_split(rng.permutation(len(truth)), 2)
        for fit_on, score_on in ((0, 1), (1, 0)):
            _, bias = fit_bias_temperature(logits[halves[fit_on]], truth[halves[fit_on]])
            z, t = logits[halves[score_on]], truth[halves[score_on]]
            scores.append(((z.argmax(1) == t).mean(), ((z + bias).argmax(1) == t).mean()))
    plain, with_bias = np.mean(scores, axis=0)
    return {'plain_accuracy': float(plain), 'bias_accuracy': float(with_bias),
            'halvings': 2 * repeats}


def recalibrate(model_dir, dataset, command='', log=print):
    """
    Fit temperature and per-class offsets of a trained CNN on PublicTest through OpenCV's DNN
    alone, and write them into its manifest (no PyTorch needed; the network file is unchanged).
    """
    from ..classifiers.base import write_manifest
    from ..classifiers.registry import load_classifier
    model = load_classifier(model_dir)
    if not isinstance(model, CnnClassifier):
        raise ValueError(f'{model_dir}: --recalibrate is for CNN models')
    public = [i for i, u in enumerate(dataset.usage or []) if u == 'PublicTest']
    if not public:
        raise ValueError('--recalibrate needs FER2013 PublicTest faces')
    truth = np.array([model.labels.index(dataset.labels[i]) for i in public])
    logits = model.logits(model.features(list(dataset.images[public])))
    temperature, bias = fit_bias_temperature(logits, truth)
    check = bias_cross_validation(logits, truth)
    info = {'command': command, 'temperature': temperature,
            'bias': dict(zip(model.labels, bias.tolist())),
            'PublicTest_accuracy_before': float((logits.argmax(1) == truth).mean()),
            'PublicTest_accuracy_after': float(((logits + bias).argmax(1) == truth).mean()),
            'PublicTest_2fold': check}
    log(f'temperature {temperature:.3f}, offsets {np.round(bias, 3).tolist()}; PublicTest '
        f'{info["PublicTest_accuracy_before"]:.4f} -> '
        f'{info["PublicTest_accuracy_after"]:.4f}; 2-fold on '
        f'PublicTest {check["plain_accuracy"]:.4f} -> {check["bias_accuracy"]:.4f}')
    manifest = dict(model.manifest, files=[entry['file'] for entry in model.manifest['files']])
    manifest['cnn'] = dict(manifest['cnn'], temperature=temperature, bias=[float(b) for b in bias])
    manifest['metrics'] = dict(manifest['metrics'], recalibration=info)
    write_manifest(model_dir, manifest)
    return info


def expected_calibration_error(probabilities, truth, bins=15):
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(correct[which == b].mean() - confidence[which == b].mean())
                     * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def _device(torch, name):
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda: PyTorch sees no CUDA GPU')
    return torch.device(name)


def train_cnn(dataset, preprocessing=Preprocessing(), config=CnnConfig(), log=print):
    """
    Return (classifier without its network, ONNX bytes, metrics); ``CnnClassifier.save`` writes
    them.
    """
    torch = _torch()
    if dataset.usage is None:
        raise ValueError('train-cnn trains on the FER2013 CSV '
                         '(Training, with PublicTest for model selection)')
    if preprocessing.features != 'pixels' or preprocessing.size != 48:
        raise ValueError('the CNN takes 48x48 pixels (preprocessing size 48, features pixels)')
    if config.epochs <= 0 and config.time_budget <= 0:
        raise ValueError('epochs 0 sizes the schedule by the time budget: '
                         'give a time budget in seconds')
    started_all = time.perf_counter()
    device = _device(torch, config.device)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed)
    vocabulary = model_labels(dataset.labels)
    index = {label: i for i, label in enumerate(vocabulary)}
    truth = np.array([index[label] for label in dataset.labels])
    targets = np.eye(len(vocabulary), dtype=np.float32)[truth]
    usage = np.array(dataset.usage)
    rows = np.flatnonzero(usage == 'Training')
    if config.ferplus:
        source_rows = [int(p.rsplit(':', 1)[1]) for p in dataset.paths]
        votes, usable = read_ferplus(config.ferplus, source_rows, vocabulary)
        targets[usable] = ((1 - config.ferplus_weight) * targets[usable]
                           + config.ferplus_weight * votes[usable])
        log(f'FER+ soft targets (weight {config.ferplus_weight}); '
            f'{int((~usable[rows]).sum())} Training faces '
            'FER+ marks unusable are left out')
        rows = rows[usable[rows]]
    rows = rows[dataset.images[rows].std(axis=(1, 2)) >= config.min_std]
    if config.limit:
        rows = rows[:config.limit]
    soft_info = None
    if config.soft_labels:
        soft, soft_info = read_soft_labels(config.soft_labels, dataset, rows, vocabulary)
        targets[rows] = ((1 - config.soft_weight) * targets[rows]
                         + np.float32(config.soft_weight) * soft)
        log(f'soft labels from {soft_info["teacher"]} (weight {config.soft_weight})')
    counts = np.bincount(truth[rows], minlength=len(vocabulary)).astype(np.float64)
    class_weight = (np.maximum(counts, 1) / counts.mean()) ** -config.balance
    # mean weight 1 over the Training faces
    class_weight /= (class_weight * counts).sum() / counts.sum()
    weights = torch.from_numpy(class_weight[truth].astype(np.float32)).to(device)
    targets = (np.float32(1 - config.label_smoothing) * targets
               + np.float32(config.label_smoothing / len(vocabulary)))
    faces = torch.from_numpy(standardize(dataset.images)).to(device)
    targets = torch.from_numpy(targets).to(device)
    public, private = (np.flatnonzero(usage == split) for split in ('PublicTest', 'PrivateTest'))
    where = (torch.cuda.get_device_name(device) if device.type == 'cuda'
             else f'{torch.get_num_threads()} threads')
    log(f'{len(rows)} Training faces on {device} ({where}); '
        f'labels {vocabulary}; class weights {np.round(class_weight, 2).tolist()}')

    def logits_of(net, idx, mirror=False):
        net.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(idx), 512):
                x = faces[torch.from_numpy(idx[i:i + 512]).to(device)]
                out.append(net(x.flip(3) if mirror else x).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(vocabulary)), np.float32)

    def fit(name, make_net, epochs, budget, seed, teachers=(), deadline=None):
        """Train ``make_net()`` (one-cycle SGD); keep the weights of its best PublicTest epoch."""
        torch.manual_seed(seed)
        net = make_net().to(device).to(memory_format=torch.channels_last)
        gen = torch.Generator().manual_seed(seed)
        rng = np.random.default_rng(seed)
        steps = math.ceil(len(rows) / config.batch_size)
        optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                                    weight_decay=config.weight_decay)
        # epochs 0: a first epoch at the schedule's starting rate (lr / 25) measures the speed,
        # then the one-cycle schedule runs over as many epochs as fit in the budget
        schedule = (torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr,
                                                        total_steps=epochs * steps)
                    if epochs else None)
        if schedule is None:
            for group in optimizer.param_groups:
                group['lr'] = config.lr / 25
        started, history, best, total = time.perf_counter(), [], (-1.0, None, 0), epochs or 2
        log(f'{name}: {sum(p.numel() for p in net.parameters()):,} parameters, '
            f'{f"{epochs} epochs" if epochs else f"{budget:.0f} s"}, {len(teachers)} teachers')
        # steps before it warm up (GPU autotuning)
        epoch, warm_step = 0, min(max(5, steps // 5), steps - 1)
        while epoch < total:
            if deadline is not None and epochs and epoch and time.perf_counter() > deadline:
                log(f'{name}: time budget spent after {epoch} of {total} epochs')
                total = epoch
                break
            epoch_start, net_loss = time.perf_counter(), 0.0
            net.train()
            order = torch.from_numpy(rows)[torch.randperm(len(rows), generator=gen)].to(device)
            for step in range(steps):
                if step == warm_step:
                    warm = time.perf_counter()
                # a last, smaller batch is a new shape: more GPU autotuning
                if step == steps - 1:
                    before_last = time.perf_counter()
                batch = order[step * config.batch_size:(step + 1) * config.batch_size]
                x = augment(torch, faces[batch], gen, config.erase)
                t, w = targets[batch], weights[batch]
                if config.mixup > 0:
                    lam = float(rng.beta(config.mixup, config.mixup))
                    perm = torch.randperm(len(batch), generator=gen).to(device)
                    x, t, w = (lam * v + (1 - lam) * v[perm] for v in (x, t, w))
                x = x.contiguous(memory_format=torch.channels_last)
                # bfloat16 on a GPU; on a CPU without bfloat16 units it is ~10x slower than float32
                with torch.autocast(device.type, dtype=torch.bfloat16,
                                    enabled=device.type == 'cuda'):
                    if teachers:
                        with torch.no_grad():
                            taught = torch.stack([torch.softmax(m(x).float(), 1)
                                                  for m in teachers]).mean(0)
                        t = (1 - config.distill_weight) * t + config.distill_weight * taught
                    out = net(x)
                loss = -(w * (t * torch.log_softmax(out.float(), 1)).sum(1)).sum() / w.sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                net_loss += loss.detach()
            train_end = time.perf_counter()
            accuracy = float((logits_of(net, public).argmax(1) == truth[public]).mean())
            seconds = time.perf_counter() - epoch_start
            history.append({'epoch': epoch + 1, 'loss': float(net_loss) / steps,
                            'public_accuracy': accuracy, 'seconds': seconds})
            # size the schedule from the steady speed of this first epoch
            if schedule is None:
                # a second PublicTest pass: the first one included warm-up
                evaluated = time.perf_counter()
                logits_of(net, public)
                timed_steps = steps - 1 - warm_step
                train_time = ((before_last - warm) * steps / timed_steps if timed_steps > 0
                              else (train_end - warm) * steps / max(steps - warm_step, 1))
                per_epoch = train_time + time.perf_counter() - evaluated
                total = max(2, 1 + int((budget - (time.perf_counter() - started)) / per_epoch))
                schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr,
                                                               total_steps=(total - 1) * steps)
                log(f'{name}: {per_epoch:.1f} s per epoch -> {total} epochs '
                    '(1 at lr/25, then one-cycle)')
            log(f'{name} epoch {epoch + 1}/{total}: loss {history[-1]["loss"]:.3f}, '
                f'PublicTest {accuracy:.3f}, '
                f'{seconds:.1f} s')
            if accuracy > best[0]:
                best = (accuracy, {k: v.detach().clone() for k, v in net.state_dict().items()},
                        epoch + 1)
                if config.checkpoints:
                    os.makedirs(config.checkpoints, exist_ok=True)
                    torch.save({k: v.cpu() for k, v in best[1].items()},
                               os.path.join(config.checkpoints, f'{name}.pt'))
            epoch += 1
        net.load_state_dict(best[1])
        return net.eval(), {'epochs': total, 'best_epoch': best[2], 'public_accuracy': best[0],
                            'seconds': time.perf_counter() - started, 'history': history}

    init_weights = None

    def new_student():
        net = build_network(config.widths, len(vocabulary), config.arch, config.depths)
        if init_weights is not None:
            net.load_state_dict(init_weights)
        return net

    if config.checkpoints:
        written = {os.path.realpath(os.path.join(config.checkpoints, f'{name}.pt')) for name in
                   ['student'] + [f'teacher{k + 1}' for k in range(config.teachers)]}
        read = [p for p in (config.init, *config.teacher_weights)
                if p and os.path.realpath(p) in written]
        if read:
            raise ValueError(f'--checkpoints {config.checkpoints} would overwrite {read[0]}, '
                             'which this run reads: give another folder')
    sample = faces[torch.from_numpy(rows[:1024]).to(device)].cpu()   # for ONNX weights
    if config.init:   # read once; a wrong file fails now, not after the teachers have trained
        init_weights = _load_weights(torch, new_student(), config.init, '--init',
                                     'the --arch, --widths and --depths', sample, log)
        log(f'student starts from {config.init}')
    teachers, teacher_metrics = [], []
    for path in config.teacher_weights:
        net = build_network(config.teacher_widths, len(vocabulary), config.teacher_arch,
                            config.teacher_depths)
        _load_weights(torch, net, path, '--teacher-weights',
                      'the --teacher-arch, --teacher-widths and --teacher-depths', sample, log)
        teachers.append(net.to(device).to(memory_format=torch.channels_last).eval())
        teacher_metrics.append({'weights': path, 'public_accuracy': float(
            (logits_of(teachers[-1], public).argmax(1) == truth[public]).mean())})
        log(f'teacher from {path}: PublicTest {teacher_metrics[-1]["public_accuracy"]:.3f}')
    for k in range(config.teachers):
        budget = config.time_budget * config.teacher_share / config.teachers
        net, info = fit(f'teacher{k + 1}',
                        lambda: build_network(config.teacher_widths, len(vocabulary),
                                              config.teacher_arch, config.teacher_depths),
                        config.teacher_epochs or config.epochs, budget, config.seed + 1 + k,
                        deadline=(started_all + budget * (k + 1) if config.time_budget > 0
                                  else None))
        teachers.append(net)
        teacher_metrics.append(dict(info, parameters=sum(p.numel() for p in net.parameters())))
    if teachers:
        ensemble = float((np.mean([softmax(logits_of(m, public)) for m in teachers],
                                  axis=0).argmax(1)
                          == truth[public]).mean())
        log(f'teacher ensemble: PublicTest {ensemble:.3f}')
    student_budget = config.time_budget - (time.perf_counter() - started_all)
    net, info = fit('student', new_student, config.epochs, student_budget, config.seed, teachers,
                    deadline=started_all + config.time_budget if config.time_budget > 0 else None)
    parameters = sum(p.numel() for p in net.parameters())
    metrics = {'config': dict(asdict(config), widths=list(config.widths),
                              depths=list(config.depths),
                              teacher_widths=list(config.teacher_widths),
                              teacher_depths=list(config.teacher_depths)),
               'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
               'gpu': device.type == 'cuda', 'parameters': parameters, 'n_train': len(rows),
               'epochs': info['epochs'], 'best_epoch': info['best_epoch'],
               'history': info['history'],
               'train_seconds': time.perf_counter() - started_all}
    if soft_info:
        metrics['soft_labels'] = soft_info
    if teachers:
        metrics['teachers'] = teacher_metrics
        metrics['teacher_ensemble_PublicTest_accuracy'] = ensemble
    calibration = {}
    for mirror in (False, True):
        def logits(idx):
            z = logits_of(net, idx)
            return (z + logits_of(net, idx, True)) / 2 if mirror else z
        name = 'flip' if mirror else 'plain'
        z_public, z_private = logits(public), logits(private)
        temperature = fit_temperature(z_public, truth[public])
        calibration[name] = {'temperature': temperature,
                             'PublicTest_accuracy': float((z_public.argmax(1)
                                                           == truth[public]).mean())}
        if len(private):
            calibration[name].update({
                'PrivateTest_accuracy': float((z_private.argmax(1) == truth[private]).mean()),
                'PrivateTest_ece_before': expected_calibration_error(softmax(z_private),
                                                                     truth[private]),
                'PrivateTest_ece_after': expected_calibration_error(
                    softmax(z_private / temperature), truth[private]),
            })
        log(f'{name}: ' + ', '.join(f'{k} {v:.3f}' for k, v in calibration[name].items()))
    bias = None
    if config.calibrate_bias:
        z_public = logits_of(net, public)
        temperature, bias = fit_bias_temperature(z_public, truth[public])
        calibration['bias'] = {'temperature': temperature, 'bias': bias.tolist(),
                               'PublicTest_accuracy': float(((z_public + bias).argmax(1)
                                                             == truth[public]).mean()),
                               'PublicTest_2fold': bias_cross_validation(z_public, truth[public])}
        log(f'bias: temperature {temperature:.3f}, offsets {np.round(bias, 3).tolist()}, '
            'PublicTest '
            f'{calibration["bias"]["PublicTest_accuracy"]:.3f}')
    metrics['calibration'] = calibration
    if len(private):
        metrics['PrivateTest'] = {'accuracy': calibration['plain']['PrivateTest_accuracy'],
                                  'n': len(private)}
    metrics['PublicTest'] = {'accuracy': calibration['plain']['PublicTest_accuracy'],
                             'n': len(public)}

    net = net.cpu().to(memory_format=torch.contiguous_format).float().eval()
    faces = faces.cpu()
    device = torch.device('cpu')
    buffer = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 1, 48, 48), buffer, dynamo=False, input_names=['face'],
                      output_names=['logits'], dynamic_axes={'face': {0: 'n'}, 'logits': {0: 'n'}})
    classifier = CnnClassifier(vocabulary, None, preprocessing,
                               calibration['bias' if bias is not None else 'plain']['temperature'],
                               bias=bias)
    metrics['onnx_check'] = _check_export(buffer.getvalue(), logits_of(net, public[:512]),
                                          faces[torch.from_numpy(public[:512])].numpy())
    log(f'ONNX in OpenCV DNN vs PyTorch on 512 PublicTest faces: {metrics["onnx_check"]}')
    return classifier, buffer.getvalue(), metrics


def _load_weights(torch, net, path, option, shape_options, faces, log):
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
    import onnx
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


def _check_export(onnx_bytes, expected, blob):
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
