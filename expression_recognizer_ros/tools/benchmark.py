"""``expression-recognizer benchmark``: the original-faithful pipeline against the default one, stage by
stage, on the same frames, and how often their decisions agree.

(a) original: all four cascades on the full frame (minSize 5x5), then one ``cv2.face`` predict per
ensemble member and a vote, as the 2016 code did. (b) default: the ``DetectorConfig`` defaults and the
classifier's batched NumPy (or OpenCV DNN) path.
"""

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..core.detection import DetectorConfig, FaceDetector
from ..classifiers.ensemble import FisherfaceEnsemble
from ..core.preprocessing import crop, to_gray

STAGES = ('grayscale', 'detection', 'crop_resize', 'classification', 'frame')
ORIGINAL_DETECTION = DetectorConfig(lazy_cascades=False, detect_max_width=0, min_size_ratio=0.0, track_face=False)


class OpenCvMembers:
    """The ensemble as the original ran it: one ``cv2.face.FisherFaceRecognizer.predict`` per member."""

    def __init__(self, ensemble, model_dir):
        self.ensemble = ensemble
        self.preprocessing, self.features = ensemble.preprocessing, ensemble.features
        self.recognizers = []
        for entry in ensemble.manifest['files']:
            recognizer = cv2.face.FisherFaceRecognizer_create()
            recognizer.read(f'{model_dir}/{entry["file"]}')
            self.recognizers.append(recognizer)

    def predict_vectors(self, X):
        results = [[r.predict(x.reshape(1, -1)) for r in self.recognizers] for x in X]
        votes = np.array([[label for label, _ in row] for row in results], dtype=np.int32)
        dists = np.array([[dist for _, dist in row] for row in results])
        return self.ensemble.decide(votes, dists)


@dataclass
class Run:
    """Per-frame results and stage times (seconds) of one configuration."""

    detections: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    times: dict = field(default_factory=lambda: {stage: [] for stage in STAGES})


def run_pipeline(frames, detector, classifier):
    """Time every stage of every frame."""
    run = Run()
    clock = time.perf_counter
    for frame in frames:
        t0 = clock()
        gray = to_gray(frame)
        t1 = clock()
        detection = detector.detect(gray)
        t2 = clock()
        label = None
        if detection.found:
            x = classifier.features([crop(gray, detection.box, classifier.preprocessing.margin)])
            t3 = clock()
            label = classifier.predict_vectors(x)[0].label
            t4 = clock()
            run.times['crop_resize'].append(t3 - t2)
            run.times['classification'].append(t4 - t3)
        run.times['frame'].append(clock() - t0)
        run.times['grayscale'].append(t1 - t0)
        run.times['detection'].append(t2 - t1)
        run.detections.append(detection)
        run.labels.append(label)
    return run


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / float(aw * ah + bw * bh - w * h)


def stage_figures(times):
    """Median, p90, p99 in milliseconds per stage (over the frames where the stage ran)."""
    return {stage: {'n': len(t), **({f'{name}_ms': float(np.percentile(t, q)) * 1e3
                                      for name, q in (('median', 50), ('p90', 90), ('p99', 99))} if t else {})}
            for stage, t in times.items()}


def compare(original, default):
    """Agreement on frames where (a) found a face: (b) found one with IoU >= 0.5 and the same label."""
    disagreements, agree, with_face = [], 0, 0
    for i, (da, db, la, lb) in enumerate(zip(original.detections, default.detections,
                                               original.labels, default.labels)):
        if not da.found:
            if db.found:
                disagreements.append({'frame': i, 'original': da.outcome, 'default': f'face {db.box} {lb}'})
            continue
        with_face += 1
        overlap = iou(da.box, db.box) if db.found else 0.0
        if overlap >= 0.5 and la == lb:
            agree += 1
            continue
        disagreements.append({'frame': i, 'original': f'face {da.box} {la} by {da.cascade}',
                              'default': f'face {db.box} {lb} by {db.cascade}, IoU {overlap:.2f}' if db.found
                              else db.outcome})
    return {'frames_with_face_original': with_face, 'agreeing': agree,
            'agreement': agree / with_face if with_face else float('nan'), 'disagreements': disagreements}


def benchmark(frames, classifier, model_dir, default_config=DetectorConfig(), threads=1, repeats=1):
    """Both configurations on the same frames; returns the figures ``format_benchmark`` prints."""
    cv2.setNumThreads(threads)
    frames = list(frames) * repeats
    if isinstance(classifier, FisherfaceEnsemble):
        original_classifier, original_how = OpenCvMembers(classifier, model_dir), 'one cv2.face predict per member'
    else:
        original_classifier, original_how = classifier, 'the same classifier (no original form)'
    original_detector = FaceDetector(ORIGINAL_DETECTION)
    default_detector = FaceDetector(default_config)
    run_pipeline(frames[:2], default_detector, classifier)  # warm-up
    original = run_pipeline(frames, original_detector, original_classifier)
    default = run_pipeline(frames, default_detector, classifier)
    fps = {name: len(frames) / sum(run.times['frame']) for name, run in (('original', original), ('default', default))}
    with_face = [i for i, d in enumerate(default.detections) if d.found]
    for name, run in (('original', original), ('default', default)):
        fps[f'{name}_with_face'] = len(with_face) / sum(run.times['frame'][i] for i in with_face)
    return {
        'frames': len(frames), 'frames_with_face_default': len(with_face),
        'threads': threads, 'model': classifier.id,
        'original_configuration': {'detection': vars(ORIGINAL_DETECTION), 'classification': original_how},
        'default_configuration': {'detection': vars(default_config), 'classification': 'batched'},
        'fps_original': fps['original'], 'fps_default': fps['default'],
        'fps_original_frames_with_face': fps['original_with_face'], 'fps_default_frames_with_face': fps['default_with_face'],
        'speedup': fps['default'] / fps['original'],
        'stages_original': stage_figures(original.times), 'stages_default': stage_figures(default.times),
        **compare(original, default),
    }


def format_benchmark(result):
    lines = [f'{result["frames"]} frames, model {result["model"]}, OpenCV threads {result["threads"]}',
             f'{"stage":<15}{"original (a) median / p90 / p99 ms":>38}{"default (b) median / p90 / p99 ms":>38}']
    for stage in STAGES:
        cells = []
        for run in ('stages_original', 'stages_default'):
            s = result[run][stage]
            cells.append(f'{s["median_ms"]:8.2f} {s["p90_ms"]:8.2f} {s["p99_ms"]:8.2f}  (n={s["n"]})'
                         if s['n'] else 'not run')
        lines.append(f'{stage:<15}{cells[0]:>38}{cells[1]:>38}')
    lines.append(f'frames per second: original {result["fps_original"]:.1f}, default {result["fps_default"]:.1f}; '
                 f'speed-up {result["speedup"]:.1f}x; on the frames with a face: original '
                 f'{result["fps_original_frames_with_face"]:.1f}, default {result["fps_default_frames_with_face"]:.1f}')
    lines.append(f'agreement: {result["agreeing"]}/{result["frames_with_face_original"]} frames where (a) found a '
                 f'face ({result["agreement"]:.1%}): (b) found it (IoU >= 0.5) with the same label')
    for d in result['disagreements']:
        lines.append(f'  frame {d["frame"]}: original {d["original"]}; default {d["default"]}')
    return '\n'.join(lines)
