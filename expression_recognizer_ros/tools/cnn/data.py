"""
FER2013 for ``train-cnn``: the FER+ votes and an outside teacher's soft labels as targets, the
lossless pack of Training and PublicTest for a machine without the CSV, and augmentation.
"""

import csv
import hashlib
import lzma
import math
from typing import TYPE_CHECKING

import numpy as np

from ...core.labels import canonical

if TYPE_CHECKING:   # PyTorch is training-only; datasets is imported where used
    import torch

    from ..datasets import Dataset

FERPLUS_COLUMNS = ('neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear')


def read_ferplus(path, source_rows, vocabulary) -> tuple[np.ndarray, np.ndarray]:
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


def read_soft_labels(path, dataset, rows, vocabulary) -> tuple[np.ndarray, dict]:
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


def write_pack(dataset, path) -> str:
    """
    A compact, lossless copy of FER2013's Training and PublicTest rows (about 50 MB instead of the
    94 MB CSV.gz) for a training machine without ../shared: MED residuals compressed with xz,
    labels, splits, each row's index in the CSV, the CSV's checksum and whether the faces were
    realigned (``--align``). ``load_training_data`` reads it back.
    """
    usage = np.array(dataset.usage)
    rows = np.flatnonzero(np.isin(usage, PACK_SPLITS))
    images = np.ascontiguousarray(dataset.images[rows])
    from ...core.labels import FER2013_CLASSES
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


def pack_checksum(path) -> str:
    """The SHA-256 of a pack file, as ``sha256:<hex>``."""
    with open(path, 'rb') as f:
        return 'sha256:' + hashlib.sha256(f.read()).hexdigest()


def load_training_data(path) -> 'Dataset':
    """
    The FER2013 CSV (``datasets.load``) or a pack from ``write_pack``: a Dataset either way; a
    pack's checksum is the CSV's it came from, verified through the faces' own SHA-256.
    """
    from ..datasets import Dataset, load
    if not path.endswith('.npz'):
        return load(path, 'fer2013')
    from ...core.labels import FER2013_CLASSES
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


def augment(torch, x, generator, erase=0.0) -> 'torch.Tensor':
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
