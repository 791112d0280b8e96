#!/usr/bin/env python3
"""
Measurements behind the defaults of expression_recognizer_ros/core, each printing its figures.

  measure_faces.py accuracy   end-to-end Yale accuracy of the shipped models: Haar box vs
                              YuNet box (with margins) vs landmark alignment
  measure_faces.py ckplus     CK+48 crops as given vs through YuNet + alignment
  measure_faces.py jitter     Yale accuracy over a grid of 27 small crop changes (zoom 0.95-1.05,
                              +-1 px of 48 each way) around the Haar box and around the aligned
                              crop, and a paired exact test of the two unchanged crops
  measure_faces.py timing     ms per 640x480 frame (one OpenCV thread) at several detection
                              widths, on empty frames and frames with 1, 2, 5 faces; detect +
                              align + classify for one face

Run from the repository root with ../shared beside it. Timings depend on the machine's load:
compare within one run.
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
SHARED = os.environ.get('EXPRESSION_RECOGNIZER_SHARED',
                        os.path.join(os.path.dirname(REPO), 'shared'))
YUNET = os.path.join(REPO, 'models', 'yunet')

from expression_recognizer_ros.core.face_alignment import (  # noqa: E402
    align_face,
    AlignmentConfig,
    ARCFACE_TEMPLATE,
)
from expression_recognizer_ros.core.tracking import FaceTracker, TrackingConfig  # noqa: E402
from expression_recognizer_ros.core.yunet_detection import YuNetConfig, YuNetDetector  # noqa: E402


def square(box, side_from='h'):
    """A square box with the same centre, of side h or the geometric mean of w and h."""
    x, y, w, h = box
    side = h if side_from == 'h' else np.sqrt(w * h)
    cx, cy = x + w / 2, y + h / 2
    return (int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)),
            int(round(side)))


def haar_like_box(box):
    """
    The Haar box YuNet's box corresponds to, by the median relation on the Yale faces (YuNet's box
    is 0.79 of the Haar side wide, 1.04 high, 0.11 and 0.02 of the side right and below its
    corner).
    """
    x, y, w, h = box
    side = w / 0.793
    return (int(round(x - 0.108 * side)), int(round(y - 0.016 * side)), int(round(side)),
            int(round(side)))


def accuracy(args):
    """Yale accuracy of each model for each face crop variant (Haar, YuNet, aligned)."""
    from expression_recognizer_ros.classifiers.registry import load_classifier, resolve_model_dir
    from expression_recognizer_ros.core.haar_detection import HaarCascadeDetector, STILL_IMAGES
    from expression_recognizer_ros.core.preprocessing import crop
    from expression_recognizer_ros.tools.datasets import load_folder

    dataset = load_folder(os.path.join(SHARED, 'datasets', 'yale'))
    haar = HaarCascadeDetector(STILL_IMAGES)
    yunet = YuNetDetector(YUNET, YuNetConfig())
    variants = {'haar box, margin 0': lambda im, hb, f: crop(im, hb, 0.0) if hb else None}
    for m in (-0.1, 0.0, 0.1, 0.2):
        variants[f'yunet box, margin {m:+.1f}'] = (
            lambda m: lambda im, hb, f: crop(im, f.int_box(), m) if f else None)(m)
    for m in (0.0, 0.1):
        variants[f'yunet square box (side h), margin {m:+.1f}'] = (
            lambda m: lambda im, hb, f: crop(im, square(f.box), m) if f else None)(m)
    for m in (0.0,):
        variants[f'yunet box mapped to a Haar-like box, margin {m:+.1f}'] = (
            lambda m: lambda im, hb, f: crop(im, haar_like_box(f.box), m) if f else None)(m)
    aligned = {
        'aligned: haar template, eyes, rotate': AlignmentConfig(points='eyes', rotate=True),
        'aligned: haar template, eyes, upright': AlignmentConfig(points='eyes', rotate=False),
        'aligned: haar template, 5 points, rotate': AlignmentConfig(points='all', rotate=True),
        'aligned: haar template, 5 points, upright (DEFAULT)': AlignmentConfig(),
        'aligned: haar template, eyes, rotate, zoom 0.9':
            AlignmentConfig(points='eyes', rotate=True, zoom=0.9),
        'aligned: haar template, eyes, rotate, zoom 1.1':
            AlignmentConfig(points='eyes', rotate=True, zoom=1.1),
        'aligned: 5 points, upright, zoom 0.95': AlignmentConfig(zoom=0.95),
        'aligned: 5 points, upright, zoom 1.05': AlignmentConfig(zoom=1.05),
        'aligned: 5 points, upright, zoom 1.1': AlignmentConfig(zoom=1.1),
        'aligned: arcface template, 5 points, rotate': AlignmentConfig(template=ARCFACE_TEMPLATE,
                                                                       points='all',
                                                                       rotate=True),
    }
    for name, cfg in aligned.items():
        variants[name] = (
            lambda cfg: lambda im, hb, f: align_face(im, f.landmarks, cfg) if f else None)(cfg)
    detections = []
    for im in dataset.images:
        faces = yunet.detect(im)
        detections.append((haar.detect(im).box, faces[0] if faces else None))
    boxes = [h for h, _ in detections]
    for model_name in args.models:   # how much the figure moves when the Haar box moves by 2 px
        model = load_classifier(resolve_model_dir(model_name))
        keep = [i for i, label in enumerate(dataset.labels) if label in model.labels]
        shifted = []
        for dx in (-2, 0, 2):
            for dy in (-2, 0, 2):
                faces = [crop(dataset.images[i],
                              (boxes[i][0] + dx, boxes[i][1] + dy) + tuple(boxes[i][2:]))
                         for i in keep]
                shifted.append(np.mean([p.label == dataset.labels[i]
                                        for p, i in zip(model.predict(faces), keep)]))
        print(f'{model_name}: Haar box shifted by up to 2 px: '
              f'{min(shifted):.1%} .. {max(shifted):.1%} '
              f'(median {np.median(shifted):.1%})')
    print(f'Yale: {len(dataset)} images; YuNet found {sum(f is not None for _, f in detections)}, '
          f'Haar {sum(h is not None for h, _ in detections)}')
    rows = []
    for model_name in args.models:
        model = load_classifier(resolve_model_dir(model_name))
        keep = [i for i, label in enumerate(dataset.labels) if label in model.labels]
        for name, make in variants.items():
            faces = [(i, make(dataset.images[i], *detections[i])) for i in keep]
            found = [(i, face) for i, face in faces if face is not None]
            predictions = model.predict([face for _, face in found])
            hits = sum(p.label == dataset.labels[i] for p, (i, _) in zip(predictions, found))
            rows.append((model_name, name, hits, len(keep), len(found)))
            print(f'{model_name:20s} {name:50s} {hits / len(keep):6.1%} '
                  f'({hits}/{len(keep)}, {len(found)} found)')
    return rows


def jitter(args):
    """
    How much a model's Yale figure owes to the exact crop: the same 27 small changes applied to
    the Haar box (the original) and to the landmark-aligned crop (the default), and the exact
    McNemar test on the faces where the two unchanged crops disagree.
    """
    import itertools
    from math import comb

    from expression_recognizer_ros.classifiers.registry import load_classifier, resolve_model_dir
    from expression_recognizer_ros.core.face_alignment import HAAR_BOX_TEMPLATE
    from expression_recognizer_ros.core.haar_detection import HaarCascadeDetector, STILL_IMAGES
    from expression_recognizer_ros.core.preprocessing import crop
    from expression_recognizer_ros.tools.datasets import load_folder

    dataset = load_folder(os.path.join(SHARED, 'datasets', 'yale'))
    haar, yunet = HaarCascadeDetector(STILL_IMAGES), YuNetDetector(YUNET, YuNetConfig())
    boxes = [haar.detect(im).box for im in dataset.images]
    faces = [yunet.detect(im) for im in dataset.images]
    if not all(boxes) or not all(faces):
        raise SystemExit('jitter compares crops of the same faces: a detector missed a Yale face')
    landmarks = [max(f, key=lambda f: f.size).landmarks for f in faces]
    grid = list(itertools.product((0.95, 1.0, 1.05), (-1, 0, 1), (-1, 0, 1)))

    def haar_crop(image, box, zoom, dy, dx):
        x, y, w, h = box
        side, step = w * zoom, w * zoom / 48
        return crop(image, (int(round(x + w / 2 - side / 2 - dx * step)),
                            int(round(y + h / 2 - side / 2 - dy * step)),
                            int(round(side)), int(round(side))))

    def aligned_crop(image, points, zoom, dy, dx):
        template = tuple((x + dx / 48, y + dy / 48) for x, y in HAAR_BOX_TEMPLATE)
        return align_face(image, points, AlignmentConfig(zoom=zoom, template=template))

    for model_name in args.models:
        model = load_classifier(resolve_model_dir(model_name))
        keep = [i for i, label in enumerate(dataset.labels) if label in model.labels]
        truth = [dataset.labels[i] for i in keep]
        right = {}
        for name, make, geometry in (('haar box', haar_crop, boxes),
                                     ('aligned', aligned_crop, landmarks)):
            scores = []
            for cell in grid:
                predictions = model.predict([make(dataset.images[i], geometry[i], *cell)
                                             for i in keep])
                hits = [p.label == t for p, t in zip(predictions, truth)]
                scores.append(np.mean(hits))
                if cell == (1.0, 0, 0):
                    right[name] = np.array(hits)
            print(f'{model_name:20s} {name:9s} unchanged {scores[grid.index((1.0, 0, 0))]:.1%}, '
                  f'27 crops: mean {np.mean(scores):.1%}, {min(scores):.1%} .. {max(scores):.1%}')
        only_haar = int((right['haar box'] & ~right['aligned']).sum())
        only_aligned = int((right['aligned'] & ~right['haar box']).sum())
        n, k = only_haar + only_aligned, min(only_haar, only_aligned)
        p = min(1.0, 2 * sum(comb(n, j) for j in range(k + 1)) / 2 ** n) if n else 1.0
        print(f'{model_name:20s} right only with the Haar box {only_haar}, only aligned '
              f'{only_aligned} of {len(keep)}: exact McNemar p = {p:.2f}')


def ckplus(args):
    """
    CK+48 faces (already cropped 48x48, as the models saw them in training or evaluation)
    directly, and through YuNet + alignment (``datasets.realign``, as ``evaluate --align``). A face
    YuNet misses counts as wrong.
    """
    from expression_recognizer_ros.classifiers.registry import load_classifier, resolve_model_dir
    from expression_recognizer_ros.tools.datasets import load_folder, realign
    dataset = load_folder(os.path.join(SHARED, 'datasets', 'ckplus'))
    aligned, missed = realign(dataset)
    missed = set(missed)
    print(f'CK+48: {len(dataset)} faces, YuNet missed {len(missed)}')
    for model_name in args.models:
        model = load_classifier(resolve_model_dir(model_name))
        keep = [i for i, label in enumerate(dataset.labels) if label in model.labels]
        direct = model.predict([dataset.images[i] for i in keep])
        hits = sum(p.label == dataset.labels[i] for p, i in zip(direct, keep))
        found = [i for i in keep if i not in missed]
        via = model.predict([aligned.images[i] for i in found])
        hits_aligned = sum(p.label == dataset.labels[i] for p, i in zip(via, found))
        print(f'{model_name:20s} on {len(keep)} faces of its classes: '
              f'crops as given {hits / len(keep):.1%}; '
              f'YuNet + alignment {hits_aligned / len(keep):.1%} ({len(found)} found)')


def composed_frame(rng, faces, count, side):
    """A blurred-noise 640x480 frame with ``count`` faces of this side pasted in a grid."""
    frame = cv2.GaussianBlur(rng.integers(60, 200, (480, 640, 3), dtype=np.uint8), (0, 0), 9)
    slots = [(20 + (i % 3) * 210, 20 + (i // 3) * 240) for i in range(count)]
    for (x, y), face in zip(slots, faces):
        frame[y:y + side, x:x + side] = cv2.resize(face, (side, side),
                                                   interpolation=cv2.INTER_AREA)
    return frame


def timing(args):
    """YuNet detection time per frame at each width, and the whole per-face chain at one."""
    from expression_recognizer_ros.classifiers.registry import load_classifier, resolve_model_dir
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    people = sorted(os.listdir(os.path.join(SHARED, 'photos', 'real', 'people')))
    photos = [cv2.imread(os.path.join(SHARED, 'photos', 'real', 'people', p, f'{p}1.png'))
              for p in people]
    frames = {n: [composed_frame(rng, [photos[(k + j) % len(photos)] for j in range(n)], n,
                                 args.side)
                  for k in range(8)] for n in (0, 1, 2, 5)}
    models = [load_classifier(resolve_model_dir(m)) for m in args.models]
    for width in args.widths:
        detector = YuNetDetector(YUNET, YuNetConfig(max_width=width))
        for frame in frames[1][:2]:
            detector.detect(frame)
        cells = []
        for n, batch in frames.items():
            times, found = [], 0
            for _ in range(args.repeats):
                for frame in batch:
                    t0 = time.perf_counter()
                    faces = detector.detect(frame)
                    times.append(time.perf_counter() - t0)
                    found += len(faces)
            cells.append(f'{n} faces {np.median(times) * 1e3:6.2f} ms '
                         f'(found {found}/{n * len(batch) * args.repeats})')
        print(f'width {width or 640:4d}: ' + '; '.join(cells), flush=True)
        if width == args.classify_width:
            for model in models:
                for n in (1, 2, 5):
                    times, tracker = [], FaceTracker(TrackingConfig(confirm_after=1))
                    for r in range(args.repeats):
                        for k, frame in enumerate(frames[n]):
                            t0 = time.perf_counter()
                            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
                            faces = detector.detect(frame)
                            tracks = tracker.update(faces, (r * len(frames[n]) + k) / 15.0)
                            crops = [align_face(gray, t.face.landmarks) for t in tracks]
                            if crops:
                                for track, p in zip(tracks, model.predict(crops)):
                                    track.smooth(p.scores, track.last_seen)
                            times.append(time.perf_counter() - t0)
                    print(f'  {n} face(s), detect + track + align + classify + smooth '
                          f'({model.id}): '
                          f'{np.median(times) * 1e3:.2f} ms median', flush=True)


def main():
    """Parse the command line and run the chosen measurement."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    a = sub.add_parser('accuracy')
    a.add_argument('--models', nargs='+', default=['fisherface-fer2013', 'cnn-fer2013'])
    c = sub.add_parser('ckplus')
    c.add_argument('--models', nargs='+',
                   default=['fisherface-fer2013', 'cnn-fer2013', 'fisherface-ckplus'])
    j = sub.add_parser('jitter')
    j.add_argument('--models', nargs='+',
                   default=['fisherface-fer2013', 'cnn-fer2013', 'cnn2-fer2013'])
    t = sub.add_parser('timing')
    t.add_argument('--widths', type=int, nargs='+', default=[0, 480, 320, 256])
    t.add_argument('--side', type=int, default=150, help='face photo side in the 640x480 frame')
    t.add_argument('--repeats', type=int, default=3)
    t.add_argument('--classify-width', type=int, default=480)
    t.add_argument('--models', nargs='+', default=['fisherface-fer2013', 'cnn-fer2013'])
    args = parser.parse_args()
    {'accuracy': accuracy, 'ckplus': ckplus, 'jitter': jitter,
     'timing': timing}[args.command](args)


if __name__ == '__main__':
    main()
