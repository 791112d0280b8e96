"""``expression-recognizer``: train, evaluate, classify and benchmark without ROS."""

import argparse
from collections import Counter
import dataclasses
import json
import os
import shlex
import sys

from . import datasets, peer
from .cnn import head
from .cnn.training import CnnConfig
from .evaluation import format_report, plot_report, report
from .training import CLASSIFIERS, train, TrainConfig
from ..classifiers.base import library_versions
from ..classifiers.fisherface import DECISIONS
from ..classifiers.registry import load_classifier, resolve_model_dir
from ..core.haar_detection import HaarCascadeDetector, HaarConfig, STILL_IMAGES
from ..core.images import ImageReadError, read_image
from ..core.pipeline import (
    DETECTORS,
    ExpressionPipeline,
    HAAR_FALLBACK,
    PipelineConfig,
    YUNET,
)
from ..core.preprocessing import crop, FEATURES, Preprocessing
from ..core.tracking import STILL_IMAGE_TRACKING

# the option defaults are the configurations' own
TRAIN, CNN, PREPROCESSING = TrainConfig(), CnnConfig(), Preprocessing()


def _add_dataset_args(parser):
    parser.add_argument('--dataset', required=True,
                        help='FER2013 CSV (.csv or .csv.gz) or <root>/<label>/ folder')
    parser.add_argument('--format', choices=('fer2013', 'folder'),
                        help='default: folder for a directory')
    parser.add_argument('--subject-pattern', default=datasets.DEFAULT_SUBJECT_PATTERN,
                        help='regex whose group 1 is the subject id in a file name '
                             '(default: CK+ and Yale)')


def _add_margin_arg(parser):
    parser.add_argument('--margin', type=float, default=PREPROCESSING.margin,
                        help='run-time crop margin around Haar boxes')


def _add_network_args(parser, prefix, what):
    """``--{prefix}arch``, ``-widths`` and ``-depths``: the shape of one kind of network."""
    option = '--' + prefix.replace('_', '-')
    parser.add_argument(option + 'arch', choices=('vgg', 'res'),
                        default=getattr(CNN, prefix + 'arch'),
                        help=f'{what}: vgg (cnn-fer2013) or residual stages')
    parser.add_argument(option + 'widths', type=int, nargs=4,
                        default=list(getattr(CNN, prefix + 'widths')),
                        help=f'{what}: channels of the 4 stages')
    parser.add_argument(option + 'depths', type=int, nargs=4,
                        default=list(getattr(CNN, prefix + 'depths')),
                        help=f'{what}: residual blocks per stage (res)')


def _add_align_arg(parser):
    """``--align``: for cropped faces, so never together with ``--detect-faces``."""
    parser.add_argument('--align', action='store_true',
                        help='re-frame each (already cropped) face as the recognizer frames a '
                             'detected one: YuNet landmarks + alignment (a face YuNet misses is '
                             'kept as given)')


def _add_framing_args(parser, detect_help):
    """``--detect-faces`` (uncropped images) or ``--align`` (cropped faces), and the detector."""
    framing = parser.add_mutually_exclusive_group()
    framing.add_argument('--detect-faces', action='store_true', help=detect_help)
    _add_align_arg(framing)
    parser.add_argument('--detector', choices=DETECTORS, default=YUNET,
                        help='with --detect-faces: yunet (largest face, aligned as the recognizer '
                             "does) or haar_fallback (the original's exactly-one-face Haar box)")


def _realigned(dataset):
    if dataset.aligned:
        raise ValueError('--align: these faces are aligned already (a pack written with --align)')
    dataset, missed = datasets.realign(dataset)
    print(f'aligned {len(dataset) - len(missed)} of {len(dataset)} faces by their landmarks; '
          f'YuNet missed {len(missed)} (kept as given)')
    return dataset


def command_line() -> str:
    """The command as typed, recorded in manifests so a model says how it was made."""
    return 'expression-recognizer ' + ' '.join(shlex.quote(a) for a in sys.argv[1:])


def cmd_train(args) -> int:
    """Train a Fisherface ensemble or the linear SVM and write its model directory."""
    preprocessing = Preprocessing(size=args.size, equalize=args.equalize, margin=args.margin,
                                  features=args.features, hog_cell=args.hog_cell)
    config = TrainConfig(classifier=args.classifier, models=args.n_models, fraction=args.fraction,
                         seed=args.seed, decision=args.decision, pca=args.pca, folds=args.folds,
                         detect_faces=args.detect_faces, detector=args.detector)
    dataset = datasets.load(args.dataset, args.format, args.subject_pattern)
    print(f'loaded {len(dataset)} images from {args.dataset} ({dataset.checksum})')
    if args.align:
        dataset = _realigned(dataset)
    model, metrics = train(dataset, preprocessing, config)
    manifest = {
        'id': args.id or os.path.basename(os.path.normpath(args.out)),
        'dataset': {'name': dataset.name, 'path': args.dataset, 'checksum': dataset.checksum,
                    'aligned': dataset.aligned},
        'training_command': command_line(),
        'versions': library_versions(),
        'metrics': metrics,
    }
    if args.classifier == 'fisherface':
        manifest['ensemble'] = {
            'n_models': args.n_models, 'fraction': args.fraction, 'seed': args.seed,
            'decision': args.decision, 'pca_components': args.pca,
            'subsets': 'member i: numpy.random.default_rng([seed, i])'
                       '.choice(n, round(fraction*n), replace=False)'}
    model.save(args.out, manifest)
    print(f'wrote {args.out}')
    return 0


def _cnn_dataset(args):
    """The FER2013 CSV or pack of ``--dataset``, realigned with ``--align``."""
    from .cnn.data import load_training_data
    dataset = load_training_data(args.dataset)
    print(f'loaded {len(dataset)} images from {args.dataset} ({dataset.checksum})')
    return _realigned(dataset) if args.align else dataset


def cmd_pack(args) -> int:
    """Write a compact lossless pack of FER2013's Training and PublicTest rows."""
    from .cnn.data import write_pack
    print(f'wrote {args.out} ({write_pack(_cnn_dataset(args), args.out)})')
    return 0


def cmd_recalibrate(args) -> int:
    """Fit a CNN's temperature and class offsets on PublicTest and write them into its manifest."""
    from .cnn.calibration import recalibrate
    recalibrate(args.models, _cnn_dataset(args), command_line())
    print(f'updated {args.models}/manifest.json')
    return 0


def cmd_train_cnn(args) -> int:
    """Train the CNN and write its model directory."""
    if args.write_pack:
        print('train-cnn --write-pack is deprecated: use expression-recognizer pack --out NPZ',
              file=sys.stderr)
        args.out = args.write_pack
        return cmd_pack(args)
    if args.recalibrate:
        print('train-cnn --recalibrate is deprecated: use expression-recognizer recalibrate '
              '--models MODEL_DIR', file=sys.stderr)
        args.models = resolve_model_dir(args.recalibrate)
        return cmd_recalibrate(args)
    if not args.out:
        raise ValueError('--out is required')
    from .cnn.data import pack_checksum
    from .cnn.network import describe_network
    from .cnn.training import train_cnn
    dataset = _cnn_dataset(args)
    config = CnnConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       widths=tuple(args.widths), ferplus=args.ferplus or '',
                       ferplus_weight=args.ferplus_weight, limit=args.limit, arch=args.arch,
                       depths=tuple(args.depths), device=args.device, time_budget=args.time_budget,
                       label_smoothing=args.label_smoothing, mixup=args.mixup,
                       erase=args.erase, balance=args.balance, teachers=args.teachers,
                       teacher_arch=args.teacher_arch, teacher_widths=tuple(args.teacher_widths),
                       teacher_depths=tuple(args.teacher_depths), teacher_share=args.teacher_share,
                       teacher_epochs=args.teacher_epochs, distill_weight=args.distill_weight,
                       weight_decay=args.weight_decay, checkpoints=args.checkpoints or '',
                       calibrate_bias=args.calibrate_bias, init=args.init or '',
                       teacher_weights=tuple(args.teacher_weights),
                       soft_labels=args.soft_labels or '', soft_weight=args.soft_weight)
    classifier, onnx_bytes, metrics = train_cnn(dataset, Preprocessing(margin=args.margin), config)
    import torch
    labels = 'FER+ votes mixed with the original labels' if args.ferplus else 'original'
    manifest = {
        'id': args.id or os.path.basename(os.path.normpath(args.out)),
        'dataset': {'name': dataset.name, 'path': args.dataset, 'checksum': dataset.checksum,
                    'labels': labels, 'aligned': dataset.aligned},
        'training_command': command_line(),
        'versions': dict(library_versions(), torch=torch.__version__),
        'metrics': metrics,
        'cnn': {'architecture': describe_network(args.arch, args.widths, args.depths),
                'input': '48x48 grayscale, standardized per face'},
    }
    if args.dataset.endswith('.npz'):
        manifest['dataset']['pack'] = {
            'checksum': pack_checksum(args.dataset), 'splits': 'Training, PublicTest',
            'note': 'expression-recognizer pack of the CSV whose checksum is above'}
    classifier.save(args.out, manifest, onnx_bytes)
    print(f'wrote {args.out}')
    return 0


def cmd_evaluate(args) -> int:
    """Score a model on a dataset (optionally end to end from uncropped photos)."""
    model = load_classifier(args.models)
    if args.margin is not None:
        model.preprocessing = dataclasses.replace(model.preprocessing, margin=args.margin)
    dataset = datasets.load(args.dataset, args.format, args.subject_pattern)
    if args.split:
        dataset = dataset.split(args.split)
    unknown = sorted(set(dataset.labels) - set(model.labels))
    if unknown:
        counts = {label: dataset.labels.count(label) for label in unknown}
        print(f'left out, labels the model lacks: {counts}')
        dataset = dataset.subset([i for i, label in enumerate(dataset.labels)
                                  if label in model.labels])
    if args.align:
        dataset = _realigned(dataset)
    missing = Counter()
    if args.detect_faces:
        full = dataset
        dataset, missing_idx = datasets.pipeline_faces(full, still_pipeline(model, args.detector))
        missing = Counter(full.labels[i] for i in missing_idx)
    predictions = model.predict(dataset.images)
    result = report(dataset.labels, [p.label for p in predictions], list(model.labels),
                    sum(missing.values()))
    result['model'] = model.id
    result['dataset'] = {'path': args.dataset, 'split': args.split, 'checksum': dataset.checksum,
                         'left_out_labels': unknown, 'detect_faces': args.detect_faces,
                         'aligned': dataset.aligned,
                         'detector': args.detector if args.detect_faces else None}
    if args.detect_faces:
        result['per_class_end_to_end'] = _per_class_end_to_end(result, missing)
    print(format_report(result))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
    if args.plot:
        title = f'{model.id} on {os.path.basename(args.dataset)} {args.split or ""}'
        plot_report(result, args.plot, title=title)
        print(f'wrote {args.plot}')
    return 0


def cmd_tune_margin(args) -> int:
    """
    Try Haar-box crop margins end to end on uncropped faces; write the best into the model's
    manifest. Only ``detector: haar_fallback`` crops by margin: YuNet faces are aligned.
    """
    model = load_classifier(args.models)
    dataset = datasets.load(args.dataset, 'folder', args.subject_pattern)
    dataset = dataset.subset([i for i, label in enumerate(dataset.labels)
                              if label in model.labels])
    detector = HaarCascadeDetector(STILL_IMAGES)
    # the margin does not change detection
    boxes = [detector.detect(image).box for image in dataset.images]
    found = [i for i, box in enumerate(boxes) if box is not None]
    results = {}
    for margin in args.margins:
        faces = [crop(dataset.images[i], boxes[i], margin) for i in found]
        model.preprocessing = dataclasses.replace(model.preprocessing, margin=margin)
        hits = sum(p.label == dataset.labels[i] for p, i in zip(model.predict(faces), found))
        results[margin] = hits / len(dataset)
        print(f'margin {margin:+.2f}: {results[margin]:.3f} end to end on {len(dataset)} faces '
              f'({len(found)} found)')
    best = max(results, key=lambda m: (results[m], -abs(m)))
    path = os.path.join(args.models, 'manifest.json')
    with open(path, encoding='utf-8') as f:
        manifest = json.load(f)
    manifest['preprocessing']['margin'] = best
    manifest['margin_tuning'] = {
        'command': command_line(),
        'dataset': {'path': args.dataset, 'checksum': dataset.checksum, 'n': len(dataset)},
        'accuracy_by_margin': {f'{m:g}': a for m, a in results.items()}, 'chosen': best}
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    print(f'chose margin {best:g}; wrote {path}')
    return 0


def _per_class_end_to_end(result, missing):
    """Accuracy per true class with images where no face was found counted as misses."""
    per = {}
    for i, label in enumerate(result['labels']):
        total = result['per_class'][label]['support'] + missing[label]
        if total:
            per[label] = {'accuracy': result['confusion'][i][i] / total, 'n': total}
    return per


def still_pipeline(classifier, detector=YUNET) -> ExpressionPipeline:
    """The run-time pipeline for unrelated still images: no tracking delay, no smoothing."""
    return ExpressionPipeline(classifier, PipelineConfig(detector=detector, haar=STILL_IMAGES,
                                                         tracking=STILL_IMAGE_TRACKING))


def cmd_classify(args) -> int:
    """Print the expression of every face in each image."""
    pipeline = still_pipeline(load_classifier(args.models), args.detector)
    labels = pipeline.classifier.labels
    status = 0
    for path in args.images:
        try:
            image = read_image(path)
        except ImageReadError as exc:
            print(f'{exc} (not a readable image)', file=sys.stderr)
            status = 1
            continue
        pipeline.reset()
        result = pipeline.process(image)
        if not result.faces:
            outcome = result.detection.outcome if result.detection is not None else 'no_face'
            print(f'{path}: {outcome.replace("_", " ")}')
            continue
        for face in result.faces:   # largest first
            p = face.prediction
            votes = ' '.join(f'{label}={score:g}' for label, score in zip(labels, p.scores))
            which = f' {len(result.faces)} faces, face {face.id}' if len(result.faces) > 1 else ''
            print(f'{path}:{which} {p.label} (confidence {p.confidence:.2f}; {votes}) '
                  f'face {face.box} by {result.detector}')
    return status


def cmd_benchmark(args) -> int:
    """Time the original-faithful pipeline against the default one on the same frames."""
    from .benchmark import benchmark, format_benchmark
    from ..tools.synthetic import compose_frames
    if args.frames:
        from ..core.frame_source import FrameSource
        source, frames = FrameSource(args.frames, loop=False), []
        while len(frames) < args.count and (frame := source.read()) is not None:
            frames.append(frame)
        source.release()
        how = f'{len(frames)} frames from {args.frames}'
    else:
        frames = compose_frames(args.count, seed=args.seed, smallest=0.3, clip=30)
        how = (f'{len(frames)} 640x480 frames composed from the bundled photos '
               f'(seed {args.seed}): 1-s clips of 30 in which a face of 48-160 px drifts, '
               'the last 5 of each without a face')
    overrides = {'lazy_cascades': args.lazy, 'min_size_ratio': args.min_size_ratio,
                 'track_face': args.track}
    if args.detector == HAAR_FALLBACK:
        overrides['detect_max_width'] = args.max_width
    haar = dataclasses.replace(HaarConfig(),
                               **{k: v for k, v in overrides.items() if v is not None})
    config = PipelineConfig(detector=args.detector, haar=haar)
    if args.max_width is not None and args.detector == YUNET:
        yunet = dataclasses.replace(config.yunet, max_width=args.max_width)
        config = dataclasses.replace(config, yunet=yunet)
    print(how)
    result = benchmark(frames, load_classifier(args.models), args.models, config, args.threads,
                       args.repeats, args.count_frames)
    result['input'] = how
    print(format_benchmark(result))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
    return 0


def cmd_bag(args) -> int:
    """Run a recorded bag's image topic through the recognizer: annotated bag, CSV, timeline."""
    from .bag import run
    from .bag_reading import BagError
    try:
        return run(args.input, args.output, args.topic, args.models, args.debug_image,
                   args.threads)
    except (BagError, OSError) as exc:
        print(f'expression-recognizer bag: error: {exc}', file=sys.stderr)
        return 1


class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default in its help, but for options without one."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per task."""
    parser = argparse.ArgumentParser(prog='expression-recognizer', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('train', help='train a model directory and report held-out accuracy')
    _add_dataset_args(p)
    p.add_argument('--out', required=True, help='model directory to write')
    p.add_argument('--id', help='model id (default: the directory name)')
    p.add_argument('--classifier', choices=CLASSIFIERS, default=TRAIN.classifier)
    p.add_argument('--n-models', type=int, default=TRAIN.models,
                   help='ensemble size (Fisherface models)')
    p.add_argument('--fraction', type=float, default=TRAIN.fraction,
                   help='share of the training set per model')
    p.add_argument('--seed', type=int, default=TRAIN.seed)
    p.add_argument('--decision', choices=DECISIONS, default=TRAIN.decision,
                   help='rule in the Fisherface subspace; neighbour is the original (1-NN)')
    p.add_argument('--pca', type=int, default=TRAIN.pca,
                   help='PCA components before LDA (0: n - classes, as OpenCV)')
    p.add_argument('--size', type=int, default=PREPROCESSING.size,
                   help='model input side in pixels')
    p.add_argument('--equalize', action='store_true', help='histogram-equalize each face')
    p.add_argument('--features', choices=FEATURES, default=PREPROCESSING.features)
    p.add_argument('--hog-cell', type=int, default=PREPROCESSING.hog_cell)
    _add_margin_arg(p)
    p.add_argument('--folds', type=int, default=TRAIN.folds,
                   help='cross-validation folds for folder datasets')
    _add_framing_args(p, 'detect and crop faces in uncropped images')
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('train-cnn',
                       help='train the CNN on FER2013 with PyTorch (CPU or GPU) and export ONNX')
    p.add_argument('--dataset', required=True,
                   help='FER2013 CSV (.csv or .csv.gz), or a pack (.npz, from pack)')
    p.add_argument('--out', help='model directory to write')
    p.add_argument('--id', help='model id (default: the directory name)')
    p.add_argument('--write-pack', metavar='NPZ', help='deprecated: use pack')
    p.add_argument('--ferplus', help='FER+ votes (fer2013new.csv) to soften the training labels')
    p.add_argument('--ferplus-weight', type=float, default=CNN.ferplus_weight,
                   help='share of the FER+ votes in each target')
    p.add_argument('--epochs', type=int, default=CNN.epochs,
                   help='0: as many as --time-budget allows')
    p.add_argument('--time-budget', type=float, default=CNN.time_budget,
                   help='seconds of training in all, with --epochs 0')
    p.add_argument('--batch-size', type=int, default=CNN.batch_size)
    p.add_argument('--lr', type=float, default=CNN.lr, help='peak learning rate (one-cycle SGD)')
    p.add_argument('--weight-decay', type=float, default=CNN.weight_decay)
    _add_network_args(p, '', "the model's network")
    p.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default=CNN.device,
                   help='auto: a GPU if PyTorch sees one')
    p.add_argument('--label-smoothing', type=float, default=CNN.label_smoothing)
    p.add_argument('--mixup', type=float, default=CNN.mixup,
                   help='Beta(a, a) mixup of faces and targets; 0 = off')
    p.add_argument('--erase', type=float, default=CNN.erase,
                   help='share of faces with a random rectangle blanked')
    p.add_argument('--balance', type=float, default=CNN.balance,
                   help='class loss weight ~ count ** -balance')
    p.add_argument('--teachers', type=int, default=CNN.teachers,
                   help='distil from this many teachers trained first')
    _add_network_args(p, 'teacher_', 'the teachers')
    p.add_argument('--teacher-share', type=float, default=CNN.teacher_share,
                   help='share of --time-budget for the teachers')
    p.add_argument('--teacher-epochs', type=int, default=CNN.teacher_epochs,
                   help='epochs per teacher (default: --epochs)')
    p.add_argument('--distill-weight', type=float, default=CNN.distill_weight,
                   help='share of the teachers in the targets')
    p.add_argument('--checkpoints', help='folder for the best weights of each network (.pt)')
    p.add_argument('--teacher-weights', metavar='PT', nargs='+', default=[],
                   help='trained teachers to distill from (.pt or cnn.onnx, shaped by '
                        "--teacher-arch, -widths, -depths), before any new --teachers; the "
                        "student's own checkpoint: self-distillation")
    p.add_argument('--init', metavar='PT',
                   help='start the student from these weights (a --checkpoints student.pt, or '
                        "a shipped model's cnn.onnx): fine-tuning")
    p.add_argument('--soft-labels', metavar='NPZ',
                   help="an outside teacher's probabilities per Training face "
                        '(peer-faceapi --soft-labels) mixed into the label targets')
    p.add_argument('--soft-weight', type=float, default=CNN.soft_weight,
                   help='share of --soft-labels in the label targets')
    p.add_argument('--calibrate-bias', action='store_true',
                   help='fit one logit offset per class with the temperature on PublicTest')
    p.add_argument('--recalibrate', metavar='MODEL_DIR', help='deprecated: use recalibrate')
    p.add_argument('--seed', type=int, default=CNN.seed)
    p.add_argument('--limit', type=int, default=CNN.limit,
                   help='smoke test: the first N faces of each FER2013 split')
    _add_margin_arg(p)
    _add_align_arg(p)
    p.set_defaults(func=cmd_train_cnn)

    # its defaults are not the shipped models' recipes (their manifests have those): in --help
    p = sub.add_parser('train-head', help='refit the end of a CNN (its last layer; with --tune, '
                       'PyTorch, more) on posed faces beside FER2013, CK+ by subject k-fold',
                       formatter_class=_DefaultsShown)
    head.add_arguments(p)
    p.set_defaults(func=head.cmd_train_head)

    p = sub.add_parser('pack', help='write a compact lossless pack of FER2013 Training and '
                       'PublicTest for a training machine without the CSV')
    p.add_argument('--dataset', required=True, help='FER2013 CSV (.csv or .csv.gz)')
    p.add_argument('--out', required=True, metavar='NPZ', help='pack to write')
    _add_align_arg(p)
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser('recalibrate', help="fit a CNN's temperature and per-class offsets on "
                       'PublicTest (OpenCV DNN, no PyTorch) and write them into its manifest')
    p.add_argument('--dataset', required=True,
                   help='FER2013 CSV (.csv or .csv.gz), or a pack (.npz, from pack)')
    p.add_argument('--models', required=True, metavar='MODEL_DIR', help='CNN model directory')
    _add_align_arg(p)
    p.set_defaults(func=cmd_recalibrate)

    p = sub.add_parser('evaluate', help='accuracy, per-class figures and confusion matrix')
    p.add_argument('--models', required=True, help='model directory')
    _add_dataset_args(p)
    p.add_argument('--split', help='FER2013 Usage to evaluate, e.g. PrivateTest')
    _add_framing_args(p, 'detect -> crop -> classify (end to end)')
    p.add_argument('--margin', type=float,
                   help="crop margin around Haar boxes instead of the model's (tuning)")
    p.add_argument('--json', help='write the figures as JSON here')
    p.add_argument('--plot', help='write a confusion heat map and per-class bars (PNG) here')
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser('peer-faceapi', help="face-api's expression network (Node.js) against "
                                            'shipped models on the same faces, with exact '
                                            'McNemar tests (tools/peer.py)')
    _add_dataset_args(p)
    peer.add_arguments(p)
    p.set_defaults(func=peer.cmd_peer_faceapi)

    p = sub.add_parser('tune-margin', help='choose the crop margin around Haar boxes (detector: '
                                           'haar_fallback; YuNet faces are aligned instead) end '
                                           'to end and write it to the manifest')
    p.add_argument('--models', required=True, help='model directory to tune')
    p.add_argument('--dataset', required=True, help='<root>/<label>/ folder of uncropped faces')
    p.add_argument('--subject-pattern', default=datasets.DEFAULT_SUBJECT_PATTERN,
                   help=argparse.SUPPRESS)
    p.add_argument('--margins', type=float, nargs='+',
                   default=[-0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2])
    p.set_defaults(func=cmd_tune_margin)

    p = sub.add_parser('classify', help='detect the faces in images and print their expressions')
    p.add_argument('images', nargs='+')
    p.add_argument('--detector', choices=DETECTORS, default=YUNET,
                   help='yunet (every face, aligned) or haar_fallback (the original: exactly '
                        'one face)')
    p.add_argument('--models', default=None, help='model directory (default: the shipped default)')
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser('benchmark', help='time the original-faithful and the default pipeline on '
                                         'the same frames')
    p.add_argument('--models', default=None, help='model directory (default: the shipped default)')
    p.add_argument('--frames',
                   help='video file or image folder (default: frames composed from the bundled '
                        'photos)')
    p.add_argument('--count', type=int, default=120, help='number of frames')
    p.add_argument('--seed', type=int, default=0, help='seed of the composed frames')
    p.add_argument('--repeats', type=int, default=3, help='passes over the frames')
    p.add_argument('--threads', type=int, default=1, help='OpenCV threads (1: one core)')
    p.add_argument('--detector', choices=DETECTORS, default=YUNET,
                   help='detector of the default pipeline (b)')
    p.add_argument('--count-frames', type=int, default=30,
                   help='frames per face count (0, 1, 2, 5 faces) for the per-face-count timing; '
                        '0 skips it')
    p.add_argument('--lazy', action=argparse.BooleanOptionalAction,
                   help='override the default lazy cascades')
    p.add_argument('--max-width', type=int,
                   help="override the chosen detector's default detection width (0: full frame)")
    p.add_argument('--min-size-ratio', type=float,
                   help='override the default minimum face size ratio')
    p.add_argument('--track', action=argparse.BooleanOptionalAction,
                   help='override the default face tracking')
    p.add_argument('--json', help='write the figures as JSON here')
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser('bag', help="a recorded ROS 2 bag's images through the recognizer: an "
                                   'MCAP bag of Emotion and FaceExpressions, a CSV per face and '
                                   'frame, a timeline plot')
    p.add_argument('input',
                   help='rosbag2 folder (metadata.yaml), .mcap or .db3 file, or ROS 1 .bag')
    p.add_argument('-o', '--output', required=True,
                   help='bag to write: a rosbag2 folder, or one file if it ends in .mcap; '
                        'OUTPUT.csv and OUTPUT.png (without .mcap) beside it')
    p.add_argument('--topic', default='',
                   help='sensor_msgs/Image or CompressedImage topic (default: the only one)')
    p.add_argument('--model', '--models', dest='models', default=None,
                   help='model directory or shipped model name (default: the shipped default)')
    p.add_argument('--debug-image', action='store_true',
                   help='also write the annotated frames on /emotion/debug_image')
    p.add_argument('--threads', type=int, default=None,
                   help='YuNet detection threads (default: the CPU count, at most 4)')
    p.set_defaults(func=cmd_bag)
    return parser


def main(argv=None) -> int:
    """Run one subcommand; a bad input is one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    if 'models' in args:
        args.models = resolve_model_dir(args.models)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f'expression-recognizer {args.command}: error: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
