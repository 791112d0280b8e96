"""
A peer to compare the shipped models against: face-api's expression network (npm
``@vladmandic/face-api``, MIT, weights in the package), run by Node.js on the same faces.

``expression-recognizer peer-faceapi`` scores it as ``evaluate`` scores a model (the same JSON,
face-api's classes mapped onto ``core/labels.py``), scores the ``--reference`` models on the same
faces, and gives the exact McNemar test of each pair. Node.js runs
``scripts/faceapi_peer/faceapi_peer.js`` (tfjs on its WASM backend, all offline once installed by
``npm ci --prefix scripts/faceapi_peer``); the images travel through a pipe as raw RGB.

Which faces each network sees:
- cropped datasets (FER2013, CK+48): the crop as given, no detection; face-api resizes it to its
  112x112 RGB input itself (bilinear), the reference models read it as ``evaluate`` does.
- ``--detect-faces`` (uncropped photos): YuNet finds the largest face once; the references get the
  recognizer's aligned 48x48 crop, face-api the same framing at 112x112 (``--framing aligned``)
  or YuNet's box, which face-api pads to a square and resizes as it does its own detector's boxes
  (``box``); ``ssd``: face-api's own SSD-MobileNet v1 finds the largest face instead. An image
  without a face counts as wrong for that network.
"""

import json
import os
import shutil
import struct
import subprocess

import cv2
import numpy as np

from . import datasets
from .evaluation import format_report, report
from ..classifiers.registry import load_classifier
from ..core.face_alignment import align_face, AlignmentConfig
from ..core.labels import canonical
from ..core.preprocessing import crop
from ..core.resources import file_sha256, package_path
from ..core.yunet_detection import YuNetConfig, YuNetDetector

# relative to the repository root, like the datasets in ../shared
FACEAPI_DIR = os.path.join('scripts', 'faceapi_peer')
PACKAGE = '@vladmandic/face-api'
WEIGHTS = os.path.join('node_modules', '@vladmandic', 'face-api', 'model',
                       'face_expression_model.bin')
FRAMINGS = ('aligned', 'box', 'ssd')
# face-api's FACE_EXPRESSION_LABELS, in its output order; faceapi_peer.js sends them to check
CLASSES = ('neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised')
RECOGNIZER_FRAMING = AlignmentConfig()
FACEAPI_FRAMING = AlignmentConfig(size=112)   # the same template and zoom at face-api's input size


def add_arguments(parser) -> None:
    """The options of ``peer-faceapi`` after the dataset ones."""
    parser.add_argument('--split', help='FER2013 Usage to evaluate, e.g. PrivateTest')
    parser.add_argument('--detect-faces', action='store_true',
                        help='uncropped photos: find the largest face first (see --framing)')
    parser.add_argument('--framing', choices=FRAMINGS, default='aligned',
                        help="with --detect-faces: face-api gets YuNet's face aligned as the "
                             "recognizer frames it (at 112 px), YuNet's box, or the largest "
                             "face of its own SSD-MobileNet detector")
    parser.add_argument('--reference', nargs='+', default=['cnn2-fer2013'],
                        help='shipped models (or model directories) to pair with face-api')
    parser.add_argument('--faceapi-dir', default=FACEAPI_DIR,
                        help='folder of faceapi_peer.js and its node_modules')
    parser.add_argument('--batch', type=int, default=32, help='faces per face-api call')
    parser.add_argument('--json', help='write the figures as JSON here')
    parser.add_argument('--soft-labels', metavar='NPZ',
                        help="no comparison: write face-api's probabilities for each FER2013 "
                             'face (e.g. --split Training) here, for train-cnn --soft-labels; '
                             'a partial file from an interrupted run is resumed')


def check_install(faceapi_dir) -> None:
    """Node.js and the npm packages, or one line that says how to get them."""
    install = f'npm ci --prefix {faceapi_dir}'
    if shutil.which('node') is None:
        raise RuntimeError('Node.js (node) is not on PATH: install Node.js 18 or newer '
                           f'(Debian: apt-get install nodejs npm), then {install}')
    if not os.path.isfile(os.path.join(faceapi_dir, WEIGHTS)):
        raise RuntimeError(f'{PACKAGE} is not installed in {faceapi_dir}: run {install}')


def run_faceapi(images, mode, faceapi_dir=FACEAPI_DIR, batch=32) -> tuple[dict, list[dict]]:
    """
    face-api on RGB uint8 images (h, w, 3): ``mode`` 'faces' (each image is a face) or 'detect'
    (SSD-MobileNet's largest face in each). Returns (header, one dict per image).
    """
    check_install(faceapi_dir)
    payload = b''.join(struct.pack('<II', *image.shape[:2]) + np.ascontiguousarray(image).tobytes()
                       for image in images)
    done = subprocess.run(['node', os.path.join(faceapi_dir, 'faceapi_peer.js'), mode, str(batch)],
                          input=payload, capture_output=True, check=False)
    if done.returncode:
        lines = done.stderr.decode(errors='replace').strip().splitlines() or ['(no output)']
        raise RuntimeError(f'face-api failed (exit {done.returncode}): {lines[-1]}')
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if len(lines) != len(images) + 1:
        raise RuntimeError(f'face-api answered {len(lines) - 1} of {len(images)} images')
    return lines[0], lines[1:]


def mcnemar(first_right, second_right) -> dict:
    """
    Exact (binomial) McNemar test of two classifiers on the same items: the items only one of
    them gets right, and the two-sided p that each such item is a fair coin's toss.
    """
    from scipy.stats import binomtest
    first, second = np.asarray(first_right, bool), np.asarray(second_right, bool)
    b, c = int(np.sum(first & ~second)), int(np.sum(~first & second))
    p = binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    return {'only_first_right': b, 'only_second_right': c,
            'both_right': int(np.sum(first & second)), 'both_wrong': int(np.sum(~first & ~second)),
            'p': float(p)}


def _colour(dataset, i):
    """Image ``i`` as RGB: read again in colour from its file (the loader keeps gray)."""
    gray = dataset.images[i]
    if dataset.paths[i] and os.path.isfile(dataset.paths[i]):
        bgr = cv2.imdecode(np.fromfile(dataset.paths[i], dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is not None and bgr.shape[:2] == gray.shape[:2]:
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def _aligned_rgb(rgb, landmarks):
    return cv2.merge([align_face(channel, landmarks, FACEAPI_FRAMING)
                      for channel in cv2.split(rgb)])


def prepare_faces(dataset, detect_faces, framing) -> tuple[list, list, str]:
    """
    What each network sees: (references' gray faces or None per image, face-api's RGB input per
    image or None, face-api's mode).
    """
    if not detect_faces:
        return list(dataset.images), [_colour(dataset, i) for i in range(len(dataset))], 'faces'
    detector = YuNetDetector(package_path('models', 'yunet'), YuNetConfig())
    reference, peer = [], []
    for i, gray in enumerate(dataset.images):
        found = detector.detect(gray)
        face = max(found, key=lambda f: f.size) if found else None
        reference.append(None if face is None else align_face(gray, face.landmarks,
                                                              RECOGNIZER_FRAMING))
        if framing == 'ssd':
            peer.append(_colour(dataset, i))
        elif face is None:
            peer.append(None)
        elif framing == 'aligned':
            peer.append(_aligned_rgb(_colour(dataset, i), face.landmarks))
        else:
            peer.append(crop(_colour(dataset, i), face.int_box()))
    return reference, peer, 'detect' if framing == 'ssd' else 'faces'


def _scores(true, predicted, labels, detect_faces):
    """``report`` over the faces found, misses counted end to end, as ``evaluate`` writes it."""
    from .cli import _per_class_end_to_end  # cli imports this module
    found = [i for i, p in enumerate(predicted) if p is not None]
    result = report([true[i] for i in found], [predicted[i] for i in found], labels,
                    len(true) - len(found))
    if detect_faces:
        missing = {label: 0 for label in labels}
        for t, p in zip(true, predicted):
            missing[t] += p is None
        result['per_class_end_to_end'] = _per_class_end_to_end(result, missing)
    return result


def compare(dataset, references, detect_faces=False, framing='aligned', faceapi_dir=FACEAPI_DIR,
            batch=32, log=print) -> dict:
    """
    face-api and each reference classifier on the same faces of ``dataset`` (labels all known to
    every network): face-api's ``evaluate``-style result with a ``comparisons`` list.
    """
    reference_faces, peer_inputs, mode = prepare_faces(dataset, detect_faces, framing)
    sent = [i for i, image in enumerate(peer_inputs) if image is not None]
    header, answers = run_faceapi([peer_inputs[i] for i in sent], mode, faceapi_dir, batch)
    if tuple(header['classes']) != CLASSES:
        raise RuntimeError(f'face-api classes {header["classes"]}, expected {CLASSES}')
    classes = [canonical(name) for name in CLASSES]
    # the first reference's order (as evaluate writes it), then any other network's classes
    labels = list(dict.fromkeys([label for m in references for label in m.labels] + classes))
    peer = [None] * len(dataset)
    for i, answer in zip(sent, answers):
        if answer.get('p') is not None:
            peer[i] = classes[int(np.argmax(answer['p']))]
    log(f'face-api found and classified {sum(p is not None for p in peer)} of {len(dataset)}')
    result = _scores(dataset.labels, peer, labels, detect_faces)
    weights = os.path.join(faceapi_dir, WEIGHTS)
    result['model'] = f'face-api {header["faceapi"]} face_expression_model'
    result['peer'] = {
        'package': f'{PACKAGE}@{header["faceapi"]}', 'licence': 'MIT',
        'weights': os.path.basename(weights), 'weights_sha256': file_sha256(weights),
        'tfjs': header['tfjs'], 'backend': header['backend'],
        'input': ('face-api SSD-MobileNet v1, largest face' if mode == 'detect' else
                  f'YuNet largest face, {framing}' if detect_faces else 'the crop as given'),
    }
    peer_right = [p == t for p, t in zip(peer, dataset.labels)]
    found = [i for i, face in enumerate(reference_faces) if face is not None]
    result['comparisons'] = []
    for model in references:
        predicted = [None] * len(dataset)
        for i, p in zip(found, model.predict([reference_faces[i] for i in found])):
            predicted[i] = p.label
        scores = _scores(dataset.labels, predicted, labels, detect_faces)
        test = mcnemar(peer_right, [p == t for p, t in zip(predicted, dataset.labels)])
        result['comparisons'].append({
            'model': model.id, 'report': scores,
            'mcnemar': {'only_faceapi_right': test['only_first_right'],
                        'only_reference_right': test['only_second_right'],
                        'both_right': test['both_right'], 'both_wrong': test['both_wrong'],
                        'p': test['p'], 'n': len(dataset)}})
    return result


def save_soft_labels(path, p, rows, checksum, package, weights_sha256, classes=CLASSES) -> None:
    """
    The soft-labels file ``train-cnn --soft-labels`` reads: probabilities ``p`` (faces so far x
    classes, columns named by ``classes`` in ``core/labels.py`` names), each face's FER2013 CSV
    ``rows`` (all, also those not done yet), the CSV checksum and the teacher. Atomic: an
    interrupted write leaves the last complete file.
    """
    partial = path + '.tmp.npz'
    np.savez(partial, p=np.asarray(p, np.float32), done=np.array(len(p)),
             rows=np.asarray(rows, np.int64), checksum=np.array(checksum),
             classes=np.array([canonical(name) for name in classes]),
             package=np.array(package), weights_sha256=np.array(weights_sha256))
    os.replace(partial, path)


def write_soft_labels(dataset, path, faceapi_dir=FACEAPI_DIR, batch=32, chunk=2048,
                      log=print) -> str:
    """
    face-api's probabilities for every face of a FER2013 ``dataset`` (the crop as given, as
    ``compare`` sends it) in a ``save_soft_labels`` file, written after each ``chunk`` faces: a
    long run that stops resumes where it stopped.
    """
    check_install(faceapi_dir)
    rows = np.array([int(p.rsplit(':', 1)[1]) for p in dataset.paths], np.int64)
    weights = file_sha256(os.path.join(faceapi_dir, WEIGHTS))
    done = np.zeros((0, len(CLASSES)), np.float32)
    if os.path.isfile(path):   # resume a run of the same faces and teacher
        with np.load(path) as old:
            if (np.array_equal(old['rows'], rows) and str(old['checksum']) == dataset.checksum
                    and str(old['weights_sha256']) == weights):
                done = old['p'][:int(old['done'])]
    while len(done) < len(dataset):
        end = min(len(done) + chunk, len(dataset))
        header, answers = run_faceapi([_colour(dataset, i) for i in range(len(done), end)],
                                      'faces', faceapi_dir, batch)
        if tuple(header['classes']) != CLASSES:
            raise RuntimeError(f'face-api classes {header["classes"]}, expected {CLASSES}')
        done = np.concatenate([done, np.array([a['p'] for a in answers], np.float32)])
        save_soft_labels(path, done, rows, dataset.checksum, f'{PACKAGE}@{header["faceapi"]}',
                         weights)
        log(f'face-api soft labels: {len(done)} of {len(dataset)} faces')
    return path


def known_faces(dataset, labels) -> tuple[datasets.Dataset, list[str]]:
    """The faces whose label every network knows; prints what it leaves out, as evaluate does."""
    unknown = sorted(set(dataset.labels) - set(labels))
    if unknown:
        counts = {label: dataset.labels.count(label) for label in unknown}
        print(f'left out, labels a network lacks: {counts}')
        dataset = dataset.subset([i for i, label in enumerate(dataset.labels) if label in labels])
    return dataset, unknown


def cmd_peer_faceapi(args) -> int:
    """Face-api against the reference models on one dataset; prints both, writes the JSON."""
    check_install(args.faceapi_dir)
    dataset = datasets.load(args.dataset, args.format, args.subject_pattern)
    if args.split:
        dataset = dataset.split(args.split)
    if args.soft_labels:
        if dataset.usage is None:
            raise ValueError('--soft-labels is for the FER2013 CSV (train-cnn reads it by row)')
        write_soft_labels(dataset, args.soft_labels, args.faceapi_dir, args.batch)
        print(f'wrote {args.soft_labels}')
        return 0
    references = [load_classifier(model) for model in args.reference]
    known = [canonical(name) for name in CLASSES
             if all(canonical(name) in m.labels for m in references)]
    dataset, unknown = known_faces(dataset, known)
    result = compare(dataset, references, args.detect_faces, args.framing, args.faceapi_dir,
                     args.batch)
    result['labels_compared'] = known
    result['dataset'] = {'path': args.dataset, 'split': args.split, 'checksum': dataset.checksum,
                         'left_out_labels': unknown, 'detect_faces': args.detect_faces,
                         'aligned': False, 'framing': args.framing if args.detect_faces else None,
                         'detector': ('face-api ssd_mobilenetv1' if args.framing == 'ssd'
                                      else 'yunet') if args.detect_faces else None}
    print(f'{result["model"]} ({result["peer"]["input"]}):')
    print(format_report(result))
    for comparison in result['comparisons']:
        test = comparison['mcnemar']
        print(f'\n{comparison["model"]} on the same faces:')
        print(format_report(comparison['report']))
        print(f'only face-api right {test["only_faceapi_right"]}, only {comparison["model"]} '
              f'right {test["only_reference_right"]}: exact McNemar p = {test["p"]:.3g}')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
    return 0
