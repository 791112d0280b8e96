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

from dataclasses import asdict, dataclass, replace
import io
import math
import os
import time

import numpy as np

from .calibration import (
    bias_cross_validation,
    class_weights,
    expected_calibration_error,
    fit_bias_temperature,
    fit_temperature,
)
from .data import augment, read_ferplus, read_soft_labels
from .network import build_network, check_export, import_training, load_weights
from ..training import model_labels
from ...classifiers.cnn import CnnClassifier, softmax, standardize
from ...core.preprocessing import Preprocessing


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
    limit: int = 0                # smoke tests: the first N faces of each FER2013 split
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
    # A shipped cnn.onnx works for init and teachers too (network._onnx_weights)
    teacher_weights: tuple = ()
    # an outside teacher's probabilities per FER2013 face (peer-faceapi --soft-labels, .npz):
    # label target = (1 - soft_weight) * label target + soft_weight * its probabilities
    soft_labels: str = ''
    soft_weight: float = 0.3


def _device(torch, name):
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda: PyTorch sees no CUDA GPU')
    return torch.device(name)


@dataclass
class _TrainingData:
    """What training and PublicTest scoring share: faces, targets, loss weights on ``device``."""

    faces: object           # standardized faces (a tensor), indexed by CSV row
    targets: object         # soft targets (a tensor), one row per face
    weights: object         # loss weight per face (a tensor)
    rows: np.ndarray        # the Training faces trained on
    public: np.ndarray      # PublicTest, for model selection
    truth: np.ndarray       # label index per face
    device: object
    n_labels: int


def _logits(torch, data, net, idx, mirror=False):
    """``net``'s logits for the faces ``idx`` (mirrored with ``mirror``), in batches of 512."""
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(idx), 512):
            x = data.faces[torch.from_numpy(idx[i:i + 512]).to(data.device)]
            out.append(net(x.flip(3) if mirror else x).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, data.n_labels), np.float32)


def _fit(torch, data, config, log, name, make_net, epochs, budget, seed, teachers=(),
         deadline=None):
    """Train ``make_net()`` (one-cycle SGD); keep the weights of its best PublicTest epoch."""
    torch.manual_seed(seed)
    net = make_net().to(data.device).to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    steps = math.ceil(len(data.rows) / config.batch_size)
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
        order = torch.from_numpy(data.rows)[torch.randperm(len(data.rows), generator=gen)]
        order = order.to(data.device)
        for step in range(steps):
            if step == warm_step:
                warm = time.perf_counter()
            # a last, smaller batch is a new shape: more GPU autotuning
            if step == steps - 1:
                before_last = time.perf_counter()
            batch = order[step * config.batch_size:(step + 1) * config.batch_size]
            x = augment(torch, data.faces[batch], gen, config.erase)
            t, w = data.targets[batch], data.weights[batch]
            if config.mixup > 0:
                lam = float(rng.beta(config.mixup, config.mixup))
                perm = torch.randperm(len(batch), generator=gen).to(data.device)
                x, t, w = (lam * v + (1 - lam) * v[perm] for v in (x, t, w))
            x = x.contiguous(memory_format=torch.channels_last)
            # bfloat16 on a GPU; on a CPU without bfloat16 units it is ~10x slower than float32
            with torch.autocast(data.device.type, dtype=torch.bfloat16,
                                enabled=data.device.type == 'cuda'):
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
        accuracy = float((_logits(torch, data, net, data.public).argmax(1)
                          == data.truth[data.public]).mean())
        seconds = time.perf_counter() - epoch_start
        history.append({'epoch': epoch + 1, 'loss': float(net_loss) / steps,
                        'public_accuracy': accuracy, 'seconds': seconds})
        # size the schedule from the steady speed of this first epoch
        if schedule is None:
            # a second PublicTest pass: the first one included warm-up
            evaluated = time.perf_counter()
            _logits(torch, data, net, data.public)
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


def train_cnn(dataset, preprocessing=Preprocessing(), config=CnnConfig(),
              log=print) -> tuple[CnnClassifier, bytes, dict]:
    """
    Return (classifier without its network, ONNX bytes, metrics); ``CnnClassifier.save`` writes
    them.
    """
    torch = import_training('torch')
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
    # in float32: numpy's std of uint8 goes through float64 (6.8 s against 0.13 s for Training)
    rows = rows[dataset.images[rows].reshape(len(rows), -1).astype(np.float32).std(axis=1)
                >= config.min_std]
    if config.limit:
        rows = rows[:config.limit]
    soft_info = None
    if config.soft_labels:
        soft, soft_info = read_soft_labels(config.soft_labels, dataset, rows, vocabulary)
        targets[rows] = ((1 - config.soft_weight) * targets[rows]
                         + np.float32(config.soft_weight) * soft)
        log(f'soft labels from {soft_info["teacher"]} (weight {config.soft_weight})')
    counts = np.bincount(truth[rows], minlength=len(vocabulary)).astype(np.float64)
    class_weight = class_weights(counts, config.balance)
    weights = torch.from_numpy(class_weight[truth].astype(np.float32)).to(device)
    targets = (np.float32(1 - config.label_smoothing) * targets
               + np.float32(config.label_smoothing / len(vocabulary)))
    targets = torch.from_numpy(targets).to(device)
    public, private = (np.flatnonzero(usage == split)[:config.limit or None]
                       for split in ('PublicTest', 'PrivateTest'))
    # indexed by CSV row; only the rows this run reads are standardized (a smoke test reads few)
    faces = np.zeros((len(dataset.images), 1, 48, 48), np.float32)
    used = np.concatenate([rows, public, private])
    faces[used] = standardize(dataset.images[used])
    faces = torch.from_numpy(faces).to(device)
    where = (torch.cuda.get_device_name(device) if device.type == 'cuda'
             else f'{torch.get_num_threads()} threads')
    log(f'{len(rows)} Training faces on {device} ({where}); '
        f'labels {vocabulary}; class weights {np.round(class_weight, 2).tolist()}')
    data = _TrainingData(faces, targets, weights, rows, public, truth, device, len(vocabulary))

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
        init_weights = load_weights(torch, new_student(), config.init, '--init',
                                    'the --arch, --widths and --depths', sample, log)
        log(f'student starts from {config.init}')
    teachers, teacher_metrics = [], []
    for path in config.teacher_weights:
        net = build_network(config.teacher_widths, len(vocabulary), config.teacher_arch,
                            config.teacher_depths)
        load_weights(torch, net, path, '--teacher-weights',
                     'the --teacher-arch, --teacher-widths and --teacher-depths', sample, log)
        teachers.append(net.to(device).to(memory_format=torch.channels_last).eval())
        teacher_metrics.append({'weights': path, 'public_accuracy': float(
            (_logits(torch, data, teachers[-1], public).argmax(1) == truth[public]).mean())})
        log(f'teacher from {path}: PublicTest {teacher_metrics[-1]["public_accuracy"]:.3f}')
    for k in range(config.teachers):
        budget = config.time_budget * config.teacher_share / config.teachers
        net, info = _fit(torch, data, config, log, f'teacher{k + 1}',
                         lambda: build_network(config.teacher_widths, len(vocabulary),
                                               config.teacher_arch, config.teacher_depths),
                         config.teacher_epochs or config.epochs, budget, config.seed + 1 + k,
                         deadline=(started_all + budget * (k + 1) if config.time_budget > 0
                                   else None))
        teachers.append(net)
        teacher_metrics.append(dict(info, parameters=sum(p.numel() for p in net.parameters())))
    if teachers:
        ensemble = float((np.mean([softmax(_logits(torch, data, m, public)) for m in teachers],
                                  axis=0).argmax(1)
                          == truth[public]).mean())
        log(f'teacher ensemble: PublicTest {ensemble:.3f}')
    student_budget = config.time_budget - (time.perf_counter() - started_all)
    net, info = _fit(torch, data, config, log, 'student', new_student, config.epochs,
                     student_budget, config.seed, teachers,
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
            z = _logits(torch, data, net, idx)
            return (z + _logits(torch, data, net, idx, True)) / 2 if mirror else z
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
        z_public = _logits(torch, data, net, public)
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
    data = replace(data, faces=faces, device=device)
    buffer = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 1, 48, 48), buffer, dynamo=False, input_names=['face'],
                      output_names=['logits'], dynamic_axes={'face': {0: 'n'}, 'logits': {0: 'n'}})
    classifier = CnnClassifier(vocabulary, None, preprocessing,
                               calibration['bias' if bias is not None else 'plain']['temperature'],
                               bias=bias)
    metrics['onnx_check'] = check_export(buffer.getvalue(),
                                         _logits(torch, data, net, public[:512]),
                                         faces[torch.from_numpy(public[:512])].numpy())
    log(f'ONNX in OpenCV DNN vs PyTorch on {len(public[:512])} PublicTest faces: '
        f'{metrics["onnx_check"]}')
    return classifier, buffer.getvalue(), metrics
