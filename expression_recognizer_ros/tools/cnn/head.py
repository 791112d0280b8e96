"""
``train-head``: refit the last (linear) layer of a shipped CNN with posed faces beside FER2013.

The network up to its global average pool is kept as it is; OpenCV's DNN computes each face's
features once (the preprocessing ``evaluate`` and the recognizer use), and a multinomial logistic
regression on them, with soft targets (FER+ votes), class weights and a weight for the posed faces,
replaces the final Gemm. Posed faces (CK+48; uncropped posed photos such as Yale's, seen as the
recognizer sees them) are scored by subject-independent k-fold: each fold's head is fitted on
FER2013 Training and the other folds' subjects. The new model is the base's ONNX
with only the Gemm's two initializers replaced, so it runs exactly as fast; PyTorch is not needed.
``--tune block`` fine-tunes the last residual block with the head instead, ``--tune stage`` the
convolution that opens the last stage too, ``--tune net`` every weight (``block.py``, PyTorch).
"""

import argparse
import dataclasses
from dataclasses import dataclass
import hashlib
import json
import os
import time

import cv2
import numpy as np

from .block import block_logits, fit_block, read_block
from .calibration import class_weights, fit_bias_temperature, fit_temperature
from .data import augment as random_augment
from .data import read_ferplus
from .network import check_export, import_training
from .. import datasets
from ..evaluation import report
from ..peer import mcnemar
from ...classifiers.base import library_versions
from ...classifiers.cnn import CnnClassifier, NETWORK
from ...classifiers.registry import load_classifier
from ...core.resources import file_sha256

VIEWS = ('given', 'aligned')   # a cropped posed face as given, and re-framed as at run time
TUNES = ('head', 'block', 'stage', 'net')   # what is refitted: the last linear layer; the last
                                            # block too; the conv that opens the last stage too;
                                            # every weight


@dataclass(frozen=True)
class HeadConfig:
    """How the new head is fitted (the ``train-head`` options)."""

    ferplus_weight: float = 0.5   # share of the FER+ votes in a FER2013 target (cnn2's recipe)
    keep_base: float = 0.0        # share of the base model's own answer in a FER2013 target
    posed_weight: float = 1.0     # loss weight of a posed face relative to a FER2013 face
    balance: float = 0.0          # class weight ~ (weighted class count) ** -balance
    l2: float = 1e-3              # pull of the weights towards the base head's
    views: tuple = VIEWS          # which framings of the posed faces to train on
    mirror: bool = True           # also train on the mirrored posed faces
    fer_mirror: bool = False      # also train on the mirrored FER2013 Training faces
    posed_augment: int = 0        # random copies of each posed face (train-cnn's augmentation)
    offsets: bool = True          # per-class offsets with the temperature (else temperature only)
    offset_balance: float = 0.0   # the offsets' fit weighs each class ~ count ** -offset_balance
    folds: int = 10
    seed: int = 0
    limit: int = 0                # smoke test: the first N faces per FER2013 split, ~N posed
    tune: str = 'head'            # 'block', 'stage', 'net': more of the network too (PyTorch)
    epochs: int = 4               # --tune block/stage/net: epochs, peak learning rate, batch
    lr: float = 3e-4
    optimizer: str = 'adamw'      # or 'sgd': Nesterov momentum 0.9, as train-cnn trains
    batch_size: int = 256


# train-head's options that set a HeadConfig field, by field name (the default is the field's)
CONFIG_OPTIONS = (
    ('ferplus_weight', dict(type=float, help='share of the FER+ votes in each FER2013 target')),
    ('keep_base', dict(type=float, help="share of the base model's own answer in each FER2013 "
                                        'Training target, so that what it knew of FER2013 is kept '
                                        '(learning without forgetting)')),
    ('posed_weight', dict(type=float,
                          help='loss weight of a posed face relative to a FER2013 face')),
    ('balance', dict(type=float, help='class weight ~ count ** -balance (0: none)')),
    ('l2', dict(type=float, help='pull of the new weights towards the base head')),
    ('views', dict(nargs='+', choices=VIEWS,
                   help='posed faces as given and/or re-framed by YuNet as at run time')),
    ('mirror', dict(action=argparse.BooleanOptionalAction,
                    help='also train on the mirrored posed faces')),
    ('fer_mirror', dict(action=argparse.BooleanOptionalAction,
                        help='also train on the mirrored FER2013 Training faces')),
    ('posed_augment', dict(type=int, metavar='N',
                           help='also train on N randomly augmented copies of each posed face '
                                'in each view (rotation, scale, shift, contrast, brightness, '
                                "mirror: train-cnn's augmentation, which the base saw; PyTorch)")),
    ('offsets', dict(action=argparse.BooleanOptionalAction,
                     help='per-class offsets with the temperature (fitted on PublicTest)')),
    ('offset_balance', dict(type=float, metavar='B',
                            help="the offsets' fit weighs each PublicTest class ~ count ** -B, so "
                                 "they aim at FER2013's class prior flattened by B (0: as it "
                                 "is; 1: every class alike: strangers' posed sets' mix)")),
    ('folds', dict(type=int,
                   help='subject-independent folds of the posed faces (0: no k-fold)')),
    ('seed', dict(type=int, help='seed of the folds and of the block fit')),
    ('limit', dict(type=int, help='smoke test: the first N faces per FER2013 split, whole '
                                  'subjects up to about N posed faces')),
    ('tune', dict(choices=TUNES, help='refit the last linear layer (numpy/scipy), the last '
                                      'residual block with it, also the conv that opens the '
                                      'last stage, or every weight on randomly augmented faces '
                                      '(PyTorch, CPU)')),
    ('epochs', dict(type=int, help='--tune block/stage/net: epochs of each fit')),
    ('lr', dict(type=float, help='--tune block/stage/net: peak learning rate (one cycle)')),
    ('optimizer', dict(choices=('adamw', 'sgd'),
                       help='--tune block/stage/net: AdamW, or SGD with Nesterov momentum 0.9 as '
                            'train-cnn trains (a step in proportion to the gradient)')),
    ('batch_size', dict(type=int, help='--tune block/stage/net: faces per step')),
)


def read_params(onnx_path, tune='head') -> tuple:
    """
    The base network's refitted part: (ONNX model, its ``Head``, the OpenCV layer whose output is
    that part's input, or None for the network's input). 'head': the final Gemm
    (x @ W.T + b) alone; 'block': the last residual block and the Gemm; 'stage': the conv before
    that block too; 'net': every weight (``read_block``).
    """
    onnx = import_training('onnx')
    from onnx import numpy_helper
    model = onnx.load(onnx_path)
    graph = model.graph
    gemm = graph.node[-1]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute}
    if (gemm.op_type != 'Gemm' or gemm.output[0] != graph.output[0].name
            or attributes.get('transB') != 1 or attributes.get('alpha', 1.0) != 1.0
            or attributes.get('beta', 1.0) != 1.0):
        raise ValueError(f'{onnx_path}: the network must end in one Gemm (x @ W.T + b)')
    if tune != 'head':
        params, start = read_block(model, tune)
        producer = [n for n in graph.node if start in n.output]
        return (model, Head(params, tune, (model, start)),
                'onnx_node!' + producer[0].name if producer else None)
    initializers = {t.name: t for t in graph.initializer}
    params = {name: numpy_helper.to_array(initializers[name]).astype(np.float64)
              for name in gemm.input[1:3]}
    producer = [n for n in graph.node if gemm.input[0] in n.output][0]
    return model, Head(params), 'onnx_node!' + producer.name


@dataclass
class Head:
    """
    The refitted part's weights (``read_params``'s names and order) and what they compute;
    ``part``: (ONNX model, the tensor the part starts from) for PyTorch, unless 'head'.
    """

    params: dict
    tune: str = 'head'
    part: tuple = ()

    def logits(self, x) -> np.ndarray:
        """Logits of the (n, ...) inputs of the refitted part."""
        if self.tune != 'head':
            return block_logits(self.part, self.params, x)
        weight, bias = self.params.values()
        return x @ weight.T + bias


def with_params(model, params) -> bytes:
    """The base ONNX with only the initializers named in ``params`` replaced, serialized."""
    from onnx import numpy_helper
    model = type(model).FromString(model.SerializeToString())   # a copy
    for tensor in model.graph.initializer:
        if tensor.name in params:
            tensor.CopyFrom(numpy_helper.from_array(params[tensor.name].astype(np.float32),
                                                    tensor.name))
    return model.SerializeToString()


class FeatureExtractor:
    """The inputs of the base network's refitted part for faces, through OpenCV's DNN."""

    def __init__(self, base, model_dir, tune='head'):
        self.base = base
        path = os.path.join(model_dir, NETWORK)
        self.model, self.head, self.layer = read_params(path, tune)
        self.net = cv2.dnn.readNetFromONNX(path)
        self.max_difference = 0.0

    def __call__(self, faces, mirror=False, batch=256, augment=None) -> np.ndarray:
        """
        The refitted part's inputs for grayscale face crops; each batch is checked to give the
        network's own logits through the base part (a wrong layer is an error, not a bad fit).
        ``augment``: a PyTorch generator; each face is then randomly augmented as train-cnn does.
        A base with ``flip`` averages the logits of a face and its mirror image: the head's
        features are averaged alike (the Gemm is linear); every other ``--tune`` refuses such a
        base.
        """
        if self.base.flip and self.head.tune != 'head':
            raise ValueError(f'--tune {self.head.tune}: the base averages mirrored logits '
                             '(cnn.flip)')
        blob = self.base.features(list(faces)) if len(faces) else np.zeros((0, 1, 48, 48),
                                                                          np.float32)
        if mirror:
            blob = blob[..., ::-1]
        if augment is not None:
            torch = import_training('torch')
            blob = random_augment(torch, torch.from_numpy(np.ascontiguousarray(blob)),
                                  augment).numpy()
        out = []
        for start in range(0, len(blob), batch):
            x = blob[start:start + batch]
            f = self._forward(x)
            if self.base.flip:
                f = (f + self._forward(x[..., ::-1])) / 2
            out.append(f)
        return np.concatenate(out) if out else np.zeros((0, 0))

    def _forward(self, x) -> np.ndarray:
        self.net.setInput(np.ascontiguousarray(x))
        output = self.net.getUnconnectedOutLayersNames()[0]
        if self.layer is None:   # --tune net: the part's input is the face itself
            features, logits = x, self.net.forward(output)
        else:
            features, logits = self.net.forward([self.layer, output])
        block = self.head.tune != 'head'
        features = features.reshape(len(x), *(features.shape[1:] if block else (-1,)))
        features = features.astype(np.float32 if block else np.float64)
        difference = float(np.abs(self.head.logits(features) - logits).max())
        self.max_difference = max(self.max_difference, difference)
        if difference > 1e-3:
            raise RuntimeError(f'the base part on {self.layer} differs from the network logits '
                               f'by {difference:.2g}')
        return features


@dataclass
class Faces:
    """Features of a set of faces with their targets and where they came from."""

    x: np.ndarray                 # (n, d) features
    target: np.ndarray            # (n, k) target distribution
    truth: np.ndarray             # (n,) label index (the original label)
    source: np.ndarray            # (n,) 'fer2013:Training', 'ckplus:given', 'ckplus:aligned:m'
    subject: np.ndarray           # (n,) subject id for posed faces, '' for FER2013

    def pick(self, mask) -> 'Faces':
        return Faces(*(getattr(self, f.name)[mask] for f in dataclasses.fields(self)))

    @staticmethod
    def join(parts) -> 'Faces':
        return Faces(*(np.concatenate([getattr(p, f.name) for p in parts])
                       for f in dataclasses.fields(Faces)))


def fer2013_faces(extract, dataset, ferplus, labels, config, log=print) -> dict:
    """
    Features of FER2013's three splits. Training targets mix the original label and the FER+
    votes (``ferplus_weight``); rows FER+ marks unusable are left out of Training, as for cnn2.
    With ``fer_mirror`` Training also holds each face mirrored (the flip the base was trained
    with, which cached inputs cannot otherwise get).
    """
    out = {}
    for split in datasets.FER2013_USAGES:
        rows = [i for i, u in enumerate(dataset.usage) if u == split]
        if config.limit:
            rows = rows[:config.limit]
        truth = np.array([labels.index(dataset.labels[i]) for i in rows])
        target = np.eye(len(labels))[truth]
        keep = np.ones(len(rows), bool)
        if split == 'Training' and ferplus:
            csv_rows = [int(dataset.paths[i].rsplit(':', 1)[1]) for i in rows]
            votes, keep = read_ferplus(ferplus, csv_rows, list(labels))
            target = (1 - config.ferplus_weight) * target + config.ferplus_weight * votes
        started = time.monotonic()
        x = extract(dataset.images[rows])
        log(f'FER2013 {split}: features of {len(rows)} faces in '
            f'{time.monotonic() - started:.0f} s' + (f', {int((~keep).sum())} unusable left out'
                                                     if not keep.all() else ''))
        faces = Faces(x, target, truth, np.full(len(rows), f'fer2013:{split}'),
                      np.full(len(rows), '')).pick(keep)
        if split == 'Training' and config.fer_mirror:
            mirrored = Faces(extract(dataset.images[rows], mirror=True), target, truth,
                             np.full(len(rows), f'fer2013:{split}:mirrored'),
                             np.full(len(rows), '')).pick(keep)
            faces = Faces.join([faces, mirrored])
        out[split] = faces
    return out


def posed_faces(extract, name, dataset, labels, config, log=print, photos=False) -> Faces:
    """
    Features of a folder of posed faces (labels the model lacks left out), in each view of
    ``config.views`` and, with ``mirror``, mirrored too; subjects from the file names.
    ``photos``: uncropped photos (Yale), seen only as the recognizer sees them (view 'photo':
    YuNet's largest face, aligned; a photo without a face is left out). ``posed_augment`` adds
    that many randomly augmented copies of each face in each view (source '...:augmented').
    """
    if dataset.subjects is None:
        raise ValueError(f'{name}: no subject ids in the file names; the k-fold needs them')
    keep = [i for i, label in enumerate(dataset.labels) if label in labels]
    left_out = sorted(set(dataset.labels) - set(labels))
    dataset = dataset.subset(keep)
    if config.limit:
        order = sorted(set(dataset.subjects))
        counts = np.cumsum([dataset.subjects.count(s) for s in order])
        chosen = set(order[:int(np.searchsorted(counts, config.limit)) + 1])
        dataset = dataset.subset([i for i, s in enumerate(dataset.subjects) if s in chosen])
    parts = []
    for view in ('photo',) if photos else config.views:
        faces = dataset
        if view == 'aligned':
            faces, missed = datasets.realign(dataset, log=None)
            log(f'{name}: YuNet re-framed {len(faces) - len(missed)} of {len(faces)} faces')
        elif view == 'photo':
            faces, missed = datasets.align_faces(dataset)
            log(f'{name}: YuNet found {len(faces)} of {len(dataset)} faces (the rest left out)')
        truth = np.array([labels.index(label) for label in faces.labels])
        subjects = np.array([f'{name}:{s}' for s in faces.subjects])
        for mirror in (False, True) if config.mirror else (False,):
            source = f'{name}:{view}' + (':mirrored' if mirror else '')
            parts.append(Faces(extract(faces.images, mirror), np.eye(len(labels))[truth], truth,
                               np.full(len(truth), source), subjects))
        if config.posed_augment:
            generator = import_training('torch').Generator().manual_seed(config.seed)
            parts += [Faces(extract(faces.images, augment=generator), np.eye(len(labels))[truth],
                            truth, np.full(len(truth), f'{name}:{view}:augmented'), subjects)
                      for _ in range(config.posed_augment)]
    log(f'{name}: {len(dataset)} faces of {len(set(dataset.subjects))} subjects'
        + (f' (left out, labels the model lacks: {left_out})' if left_out else '')
        + f', {len(parts)} copies each')
    return Faces.join(parts)


def sample_weights(faces, config) -> np.ndarray:
    """Posed faces weigh ``posed_weight``; each class ~ its weighted count ** -balance."""
    posed = ~np.char.startswith(faces.source.astype(str), 'fer2013')
    weight = np.where(posed, config.posed_weight, 1.0)
    if config.balance:
        counts = (faces.target * weight[:, None]).sum(axis=0)
        weight = weight * (faces.target @ class_weights(counts, config.balance))
    return weight


def head_loss(p, x, y, w, w0, l2) -> tuple[float, np.ndarray]:
    """
    The weighted soft-target cross-entropy (``w`` sums to 1) plus ``l2`` * |W - W0|^2 of the
    head ``p`` = (W.ravel(), b), and its gradient.
    """
    k, d = w0.shape
    weight, bias = p[:k * d].reshape(k, d), p[k * d:]
    z = x @ weight.T + bias
    z -= z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    residual = (np.exp(log_p) * y.sum(axis=1, keepdims=True) - y) * w[:, None]
    value = -(w * (y * log_p).sum(axis=1)).sum() + l2 * ((weight - w0) ** 2).sum()
    grad = np.concatenate([(residual.T @ x + 2 * l2 * (weight - w0)).ravel(),
                           residual.sum(axis=0)])
    return float(value), grad


def fit_head(faces, weight, w0, b0, l2) -> tuple[np.ndarray, np.ndarray]:
    """
    Multinomial logistic regression on soft targets (``head_loss``), starting from and pulled
    towards the base head (W0, b0).
    """
    from scipy.optimize import minimize
    k, d = w0.shape
    p = minimize(head_loss, np.concatenate([w0.ravel(), b0]), jac=True, method='L-BFGS-B',
                 args=(faces.x, faces.target, weight / weight.sum(), w0, l2),
                 options={'maxiter': 2000}).x
    return p[:k * d].reshape(k, d), p[k * d:]


def keeping_base(faces, base, share) -> Faces:
    """FER2013 faces' targets mixed with the base part's own probabilities (``share`` of each)."""
    z = base.logits(faces.x)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    fer = np.char.startswith(faces.source.astype(str), 'fer2013')[:, None]
    target = np.where(fer, (1 - share) * faces.target + share * p, faces.target)
    return dataclasses.replace(faces, target=target)


def fit(train, base, config, log=print, checkpoint='') -> Head:
    """The refitted part on ``train``, from the base's weights (``config.tune`` says which)."""
    weight = sample_weights(train, config)
    if config.keep_base:
        train = keeping_base(train, base, config.keep_base)
    if config.tune != 'head':
        return dataclasses.replace(base, params=fit_block(train, weight, base.part, base.params,
                                                          config, log, checkpoint))
    fitted = fit_head(train, weight, *base.params.values(), config.l2)
    return Head(dict(zip(base.params, fitted)))


def calibrate(head, public, config) -> tuple[float, np.ndarray]:
    """Temperature (and per-class offsets) fitted on FER2013 PublicTest, never trained on."""
    logits = head.logits(public.x)
    if config.offsets:
        return fit_bias_temperature(logits, public.truth, config.offset_balance)
    return fit_temperature(logits, public.truth), np.zeros(logits.shape[1])


def predict(head, offsets, faces) -> np.ndarray:
    """Label indices the model with this head and offsets answers."""
    return (head.logits(faces.x) + offsets).argmax(axis=1)


def scores(truth, predicted, labels) -> dict:
    """
    ``evaluation.report``'s accuracy, recall per class (of the classes present) and their
    mean (balanced accuracy: each class alike, as the targets per class read them).
    """
    result = report([labels[i] for i in truth], [labels[i] for i in predicted], labels)
    recall = {label: c['recall'] for label, c in result['per_class'].items() if c['support']}
    return {'accuracy': result['accuracy'], 'n': result['n'],
            'balanced_accuracy': float(np.mean(list(recall.values()))), 'recall': recall}


def subject_kfold(fer, posed, base_head, labels, config, log=print) -> dict:
    """
    Subject-independent k-fold on the posed faces: fold f's head is fitted on FER2013 Training
    and every other fold's subjects, calibrated on PublicTest, and scored on fold f's unmirrored
    faces in each view (the cropped sets together, each set of photos as '<name> end to end'),
    beside the base model on the same faces (paired McNemar). ``base_head``: (Head, offsets) of
    the base model.
    """
    subjects = list(posed.subject)
    unique = sorted(set(subjects))
    folds = datasets.subject_folds(unique, config.folds, config.seed)
    fold_of = {unique[i]: f for f, members in enumerate(folds) for i in members}
    fold = np.array([fold_of[s] for s in subjects])
    sources = posed.source.astype(str)
    unmirrored = ~np.char.endswith(sources, ':mirrored')
    photos = sorted({s.rsplit(':', 1)[0] for s in sources[np.char.endswith(sources, ':photo')]})
    shown = {view: unmirrored & np.char.endswith(sources, f':{view}') for view in config.views}
    shown.update({f'{name} end to end': sources == f'{name}:photo' for name in photos})
    shown = {group: mask for group, mask in shown.items() if mask.any()}
    predicted = {group: np.full(len(posed.truth), -1) for group in shown}
    for f in range(config.folds):
        train = Faces.join([fer['Training'], posed.pick(fold != f)])
        head = fit(train, base_head[0], config, log)
        _, offsets = calibrate(head, fer['PublicTest'], config)
        for view, mask in shown.items():
            here = mask & (fold == f)
            predicted[view][here] = predict(head, offsets, posed.pick(here))
        log(f'fold {f + 1}/{config.folds}: ' + ', '.join(
            f'{view} {(predicted[view][m] == posed.truth[m]).mean():.3f}'
            for view, m in ((v, mask & (fold == f)) for v, mask in shown.items()) if m.any()))
    result = {'folds': config.folds, 'subjects': len(unique), 'groups': list(shown),
              'fold_subjects': [sorted({subjects[i] for i in np.flatnonzero(fold == f)})
                                for f in range(config.folds)]}
    for view, mask in shown.items():
        result[view] = compare(predicted[view][mask], posed.pick(mask), base_head, labels)
    return result


def cache_key(base_dir, paths, config) -> str:
    """What the cached features depend on: the base network, the data, the views and limit."""
    parts = [file_sha256(os.path.join(base_dir, NETWORK)), *map(str, paths),
             repr((config.views, config.mirror, config.limit, config.ferplus_weight,
                   config.tune, config.fer_mirror))]
    if config.posed_augment:   # the key of caches written before the option stays valid
        parts.append(f'posed_augment {config.posed_augment} seed {config.seed}')
    return hashlib.sha256('\n'.join(parts).encode()).hexdigest()


def named_folders(specs, option) -> dict:
    """``NAME=FOLDER`` options as {name: folder}, or a clear error."""
    pairs = [spec.split('=', 1) for spec in specs]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise ValueError(f'{option} takes NAME=FOLDER (e.g. ckplus=../shared/datasets/ckplus)')
    return dict(pairs)


def load_features(args, config, extract, labels, log=print) -> tuple:
    """
    FER2013 splits and the posed faces as features, read from ``--cache`` when it holds the
    same base network, data and options, else computed (and written there); also checksums of
    the data and 64 PublicTest faces for the export check.
    """
    dataset = datasets.load(args.fer2013, 'fer2013')
    check_images = dataset.images[[i for i, u in enumerate(dataset.usage)
                                   if u == 'PublicTest'][:64]]
    photos = named_folders(args.posed_photos, '--posed-photos')
    posed_data = {name: datasets.load(folder, 'folder', args.subject_pattern)
                  for name, folder in {**named_folders(args.posed, '--posed'), **photos}.items()}
    checksums = {'fer2013': dataset.checksum, **{n: d.checksum for n, d in posed_data.items()}}
    if args.ferplus:
        checksums['ferplus'] = 'sha256:' + file_sha256(args.ferplus)
    key = cache_key(args.base, [*sorted(checksums.items()), ('photos', sorted(photos))], config)
    if args.cache and os.path.isfile(args.cache):
        with np.load(args.cache, allow_pickle=False) as f:
            if str(f['key']) == key:
                log(f'features from {args.cache}')
                parts = {name: Faces(*(f[f'{name}.{field.name}']
                                       for field in dataclasses.fields(Faces)))
                         for name in [str(n) for n in f['parts']]}
                posed = parts.pop('posed')
                return parts, posed, checksums, check_images
            log(f'{args.cache}: features of other data or options; computing them again')
    fer = fer2013_faces(extract, dataset, args.ferplus, labels, config, log)
    posed = Faces.join([posed_faces(extract, name, data, labels, config, log, name in photos)
                        for name, data in posed_data.items()])
    if args.cache:
        parts = dict(fer, posed=posed)
        np.savez(args.cache, key=np.array(key), parts=np.array(list(parts)),
                 **{f'{name}.{field.name}': getattr(faces, field.name)
                    for name, faces in parts.items() for field in dataclasses.fields(Faces)})
    return fer, posed, checksums, check_images


def end_to_end_faces(folder, labels, extract, subject_pattern) -> Faces:
    """
    Uncropped photos (Yale) as the recognizer sees them: YuNet's largest face, aligned; an image
    without a face is left out (and reported).
    """
    data = datasets.load(folder, 'folder', subject_pattern)
    data = data.subset([i for i, label in enumerate(data.labels) if label in labels])
    faces, missed = datasets.align_faces(data)
    if missed:
        print(f'{folder}: no face found in {len(missed)} images (left out)')
    truth = np.array([labels.index(label) for label in faces.labels])
    return Faces(extract(faces.images), np.eye(len(labels))[truth], truth,
                 np.full(len(truth), 'end-to-end'), np.array(faces.subjects or [''] * len(truth)))


def compare(ours, faces, base_head, labels) -> dict:
    """
    The new model's answers ``ours`` and the base's on the same faces: scores of each and the
    paired McNemar test.
    """
    theirs = predict(*base_head, faces)
    return dict(scores(faces.truth, ours, labels), base=scores(faces.truth, theirs, labels),
                mcnemar=mcnemar(ours == faces.truth, theirs == faces.truth))


def describe(name, result) -> str:
    """``compare``'s result in one log line."""
    test = result['mcnemar']
    return (f'{name}: {result["accuracy"]:.4f} of {result["n"]}, balanced '
            f'{result["balanced_accuracy"]:.4f} (base {result["base"]["accuracy"]:.4f}, '
            f'balanced {result["base"]["balanced_accuracy"]:.4f}; only new right '
            f'{test["only_first_right"]}, only base right {test["only_second_right"]}, exact '
            f'McNemar p = {test["p"]:.3g}); recall '
            + ', '.join(f'{k} {v:.3f}' for k, v in result['recall'].items()))


def train_head(args, log=print) -> dict:
    """Fit, measure and write the new model; returns the metrics written to its manifest."""
    config = HeadConfig(**{field: getattr(args, field) for field, _ in CONFIG_OPTIONS}
                        | {'views': tuple(args.views)})
    if not 0 <= config.offset_balance <= 1 or (config.offset_balance and not config.offsets):
        raise ValueError('--offset-balance takes a number in [0, 1], with the offsets '
                         '(not with --no-offsets)')
    trained = {os.path.realpath(f) for f in named_folders(args.posed_photos, '--posed-photos')
               .values()}
    if trained & {os.path.realpath(f) for f in named_folders(args.end_to_end, '--end-to-end')
                  .values()}:
        raise ValueError('a folder of --posed-photos is trained on: its end-to-end figure is the '
                         'k-fold one, not --end-to-end')
    base = load_classifier(args.base)
    if not isinstance(base, CnnClassifier):
        raise ValueError(f"{args.base}: train-head refits a CNN model's last layer")
    extract = FeatureExtractor(base, args.base, config.tune)
    labels = list(base.labels)
    base_head = (extract.head, np.zeros(len(labels)) if base.bias is None else base.bias)
    fer, posed, checksums, check_images = load_features(args, config, extract, labels, log)
    metrics = {'config': dataclasses.asdict(config)}
    if config.folds:
        started = time.monotonic()
        kfold = subject_kfold(fer, posed, base_head, labels, config, log)
        log(f'k-fold in {time.monotonic() - started:.0f} s')
        for group in kfold['groups']:
            log(describe(f'posed {group}, {config.folds}-fold by subject', kfold[group]))
        metrics['posed_kfold'] = kfold
    train = Faces.join([fer['Training'], posed])
    checkpoint = os.path.join(args.checkpoints, 'block.npz') if args.checkpoints else ''
    head = fit(train, extract.head, config, log, checkpoint)
    temperature, offsets = calibrate(head, fer['PublicTest'], config)
    scored = {split: fer[split] for split in ('PublicTest', 'PrivateTest')}
    scored.update({f'{name} end to end': end_to_end_faces(folder, labels, extract,
                                                         args.subject_pattern)
                   for name, folder in named_folders(args.end_to_end, '--end-to-end').items()})
    for name, faces in scored.items():
        metrics[name] = compare(predict(head, offsets, faces), faces, base_head, labels)
        log(describe(name, metrics[name]))
    sources, counts = np.unique(train.source, return_counts=True)
    metrics.update(calibration={'temperature': temperature, 'offsets': offsets.tolist(),
                                'fitted_on': 'FER2013 PublicTest'},
                   n_train=dict(zip(sources.tolist(), counts.tolist())),
                   feature_check_max_difference=extract.max_difference)
    if args.out:
        metrics['onnx_check'] = write_model(args, base, extract, head, temperature,
                                            offsets if config.offsets else None, metrics,
                                            checksums, check_images)
        log(f'wrote {args.out} (OpenCV runs the rebuilt network: {metrics["onnx_check"]})')
    return metrics


def export_check(onnx_bytes, extract, head, images) -> dict:
    """
    The rebuilt network's logits through OpenCV's DNN (``network.check_export``) against the
    fitted head applied to the base network's features of the same faces: every label the same,
    the logits within 1e-3.
    """
    check = check_export(onnx_bytes, head.logits(extract(images)),
                         extract.base.features(list(images)))
    if check['max_abs_logit_difference'] > 1e-3 or check['same_label'] < 1:
        raise RuntimeError('the rebuilt ONNX differs from the fitted head by '
                           f'{check["max_abs_logit_difference"]:.2g}')
    return dict(check, faces=len(images))


def write_model(args, base, extract, head, temperature, offsets, metrics, checksums,
                check_images) -> dict:
    """
    The new model directory: the base ONNX with the new Gemm (checked through OpenCV's DNN) and
    a manifest saying what it came from and how it was made. Returns the export check.
    """
    from ..cli import command_line  # cli imports this module
    onnx_bytes = with_params(extract.model, head.params)
    check = export_check(onnx_bytes, extract, head, check_images)
    posed = named_folders(args.posed, '--posed')
    photos = named_folders(args.posed_photos, '--posed-photos')
    manifest = {
        'id': args.id or os.path.basename(os.path.normpath(args.out)),
        'dataset': {
            'fer2013': {'path': args.fer2013, 'checksum': checksums['fer2013'],
                        'use': 'Training: fit; PublicTest: temperature and offsets; '
                               'PrivateTest: scored only'},
            'ferplus': {'path': args.ferplus, 'checksum': checksums.get('ferplus')},
            'posed': {name: {'path': folder, 'checksum': checksums[name]}
                      for name, folder in posed.items()},
            'posed_photos': {name: {'path': folder, 'checksum': checksums[name],
                                    'use': "YuNet's largest face aligned, as at run time"}
                             for name, folder in photos.items()}},
        'base_model': {'id': base.id, 'path': args.base,
                       'cnn.onnx_sha256': file_sha256(os.path.join(args.base, NETWORK))},
        'trained': {'head': "only the last linear layer (the Gemm), on the base network's "
                            'features',
                    'block': "the last residual block and the Gemm, on the block's inputs from "
                             'the base network',
                    'stage': "the last stage's opening conv, its residual block and the Gemm, on "
                             "the stage's inputs from the base network",
                    'net': "every weight, from the base model's (batch norms folded), on the "
                           'faces, each batch randomly augmented as train-cnn augments'}[head.tune]
                   + ("; every other weight is the base model's: " + ', '.join(head.params)
                      if head.tune != 'net' else ''),
        'training_command': command_line(),
        'versions': dict(library_versions(), onnx=import_training('onnx').__version__,
                         **({'torch': import_training('torch').__version__}
                            if head.tune != 'head' else {})),
        'gpu': False,
        'metrics': dict(metrics, onnx_check=check),
        'cnn': {k: v for k, v in base.manifest.get('cnn', {}).items() if k != 'bias'},
    }
    CnnClassifier(base.labels, None, base.preprocessing, temperature, base.flip,
                  bias=offsets).save(args.out, manifest, onnx_bytes)
    return check


def add_arguments(parser) -> None:
    """The options of ``train-head``."""
    defaults = HeadConfig()
    parser.add_argument('--base', required=True, help='CNN model directory whose head is refitted')
    parser.add_argument('--fer2013', required=True, help='FER2013 CSV (.csv or .csv.gz)')
    parser.add_argument('--ferplus', help='FER+ votes (fer2013new.csv) to soften the targets')
    for field, keywords in CONFIG_OPTIONS:
        default = getattr(defaults, field)
        parser.add_argument('--' + field.replace('_', '-'), **keywords,
                            default=list(default) if isinstance(default, tuple) else default)
    parser.add_argument('--posed', nargs='*', default=[], metavar='NAME=FOLDER',
                        help='posed faces, <root>/<label>/ folders with subject ids in the file '
                             'names (e.g. ckplus=../shared/datasets/ckplus)')
    parser.add_argument('--posed-photos', nargs='*', default=[], metavar='NAME=FOLDER',
                        help='uncropped posed photos in the same layout (e.g. '
                             'yale=../shared/datasets/yale), trained on as the recognizer sees '
                             'them and scored end to end by the same k-fold')
    parser.add_argument('--end-to-end', nargs='*', default=[], metavar='NAME=FOLDER',
                        help='uncropped photos (e.g. yale=../shared/datasets/yale) scored '
                             'through YuNet and alignment, never trained on')
    parser.add_argument('--checkpoints', metavar='DIR',
                        help="--tune block/stage/net: the final fit's weights after every epoch "
                             '(.npz)')
    parser.add_argument('--cache', metavar='NPZ', help='features computed once, reused after')
    parser.add_argument('--json', help='write the metrics as JSON here')
    parser.add_argument('--out', help='model directory to write (none: measure only)')
    parser.add_argument('--id', help='model id (default: the directory name)')
    parser.add_argument('--subject-pattern', default=datasets.DEFAULT_SUBJECT_PATTERN,
                        help='regex whose group 1 is the subject id in a file name')


def cmd_train_head(args) -> int:
    """Refit a CNN's last layer with posed faces; k-fold, PrivateTest, end to end; write it."""
    metrics = train_head(args)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(metrics, f, indent=2)
    return 0
