"""
``expression-recognizer benchmark``: the original-faithful pipeline against the default one,
stage by stage, on the same frames, and how often their decisions agree; then per-frame time by
number of faces in view.

(a) original: all four cascades on the full frame (minSize 5x5) under the exactly-one rule, then
one ``cv2.face`` predict per ensemble member and a vote, as the 2016 code did. (b) default: the
run-time ``ExpressionPipeline`` with its defaults (YuNet, tracking, alignment, one batched
classification of all faces, per-face smoothing, the attended face), as the recognizer node
runs it.
"""

from dataclasses import dataclass, field
import time

import cv2
import numpy as np

from ..classifiers.base import Prediction
from ..classifiers.ensemble import FisherfaceEnsemble
from ..core.boxes import box_center
from ..core.haar_detection import HaarCascadeDetector, HaarConfig
from ..core.pipeline import ExpressionPipeline, PipelineConfig
from ..core.preprocessing import crop, to_gray
from ..tools.synthetic import bundled_photos, compose_stream, Person

STAGES = ('detection', 'classification', 'frame')
FACE_COUNTS = (0, 1, 2, 5)
ORIGINAL_DETECTION = HaarConfig(lazy_cascades=False, detect_max_width=0, min_size_ratio=0.0,
                                    track_face=False)


class OpenCvMembers:
    """
    The ensemble as the original ran it: one ``cv2.face.FisherFaceRecognizer.predict`` per
    member.
    """

    def __init__(self, ensemble, model_dir):
        self.ensemble = ensemble
        self.preprocessing, self.features = ensemble.preprocessing, ensemble.features
        self.recognizers = []
        for entry in ensemble.manifest['files']:
            recognizer = cv2.face.FisherFaceRecognizer_create()
            recognizer.read(f'{model_dir}/{entry["file"]}')
            self.recognizers.append(recognizer)

    def predict_vectors(self, X) -> list[Prediction]:
        results = [[r.predict(x.reshape(1, -1)) for r in self.recognizers] for x in X]
        votes = np.array([[label for label, _ in row] for row in results], dtype=np.int32)
        dists = np.array([[dist for _, dist in row] for row in results])
        return self.ensemble.decide(votes, dists)


@dataclass
class Run:
    """
    Per-frame results and stage times (seconds) of one configuration: ``boxes`` and ``labels``
    of the reported face (None when none).
    """

    boxes: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    times: dict = field(default_factory=lambda: {stage: [] for stage in STAGES})


def run_original(frames, detector, classifier) -> Run:
    """Time the original's stages on every frame: four cascades, crop, one predict per member."""
    run = Run()
    clock = time.perf_counter
    for frame in frames:
        t0 = clock()
        gray = to_gray(frame)
        detection = detector.detect(gray)
        t1 = clock()
        label = None
        if detection.found:
            x = classifier.features([crop(gray, detection.box, classifier.preprocessing.margin)])
            label = classifier.predict_vectors(x)[0].label
            run.times['classification'].append(clock() - t1)
        run.times['frame'].append(clock() - t0)
        run.times['detection'].append(t1 - t0)
        run.boxes.append(detection.box if detection.found else None)
        run.labels.append(label)
    return run


class _Timed:
    """
    A stand-in for the pipeline's detector or classifier that adds each ``method`` call's time
    to a list and otherwise behaves as the wrapped object.
    """

    def __init__(self, wrapped, method, times):
        self._wrapped, self._method, self._times = wrapped, method, times

    def __getattr__(self, name):
        value = getattr(self._wrapped, name)
        if name != self._method:
            return value

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._times.append(time.perf_counter() - t0)
        return timed


def run_default(frames, pipeline, fps=30.0) -> Run:
    """
    Time ``pipeline.process`` on every frame (frame times ``i / fps`` seconds), and within it
    the detector and the one batched classification.
    """
    run = Run()
    pipeline.detector = _Timed(pipeline.detector, 'detect_faces', run.times['detection'])
    pipeline.classifier = _Timed(pipeline.classifier, 'predict', run.times['classification'])
    try:
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            result = pipeline.process(frame, i / fps)
            run.times['frame'].append(time.perf_counter() - t0)
            face = result.attended
            run.boxes.append(None if face is None else face.box)
            run.labels.append(None if face is None else face.label)
    finally:
        pipeline.detector = pipeline.detector._wrapped
        pipeline.classifier = pipeline.classifier._wrapped
    return run


def stage_figures(times) -> dict[str, dict]:
    """Median, p90, p99 in milliseconds per stage (over the frames where the stage ran)."""
    return {stage: {'n': len(t), **({f'{name}_ms': float(np.percentile(t, q)) * 1e3
                                      for name, q in (('median', 50), ('p90', 90), ('p99', 99))}
                                     if t else {})}
            for stage, t in times.items()}


def _inside(point, box):
    return box[0] <= point[0] <= box[0] + box[2] and box[1] <= point[1] <= box[1] + box[3]


def compare(original, default) -> dict:
    """
    On frames where (a) found a face: does (b) report a face there (its centre inside (a)'s
    box), and with the same label? (b)'s boxes are YuNet's, framed differently from Haar's, and its
    labels come from aligned crops smoothed in time, so label agreement measures the change, not a
    fault.
    """
    disagreements, found, same_label, with_face = [], 0, 0, 0
    pairs = zip(original.boxes, default.boxes, original.labels, default.labels)
    for i, (ba, bb, la, lb) in enumerate(pairs):
        if ba is None:
            continue
        with_face += 1
        if bb is None or not _inside(box_center(bb), ba):
            disagreements.append({'frame': i, 'original': f'face {ba} {la}',
                                  'default': 'no face' if bb is None else f'face {bb} elsewhere'})
            continue
        found += 1
        same_label += la == lb
    return {'frames_with_face_original': with_face, 'found_by_default': found,
            'found_agreement': found / with_face if with_face else float('nan'),
            'label_agreement': same_label / found if found else float('nan'),
            'disagreements': disagreements}


def face_count_frames(count=30, size=(640, 480), seed=0) -> dict[int, list[np.ndarray]]:
    """
    ``count`` frames for each number of faces in FACE_COUNTS: the bundled photos as people of
    110-150 px side by side, drifting slowly (``synthetic.compose_stream``), on a textured
    backdrop.
    """
    photos = bundled_photos()
    out = {}
    for n in FACE_COUNTS:
        people = []
        width = 150 if n < 5 else 110
        for k in range(n):
            x = 20 + k * (size[0] - 40 - width) / max(1, n - 1) if n > 1 else (size[0] - width) / 2
            y = 60 + 120 * (k % 2) if n == 5 else 120
            people.append(Person(f'p{k}', (photos[k % len(photos)],), 0, count, (x, y),
                                 (x + 8, y + 6), width, width + 6))
        out[n] = compose_stream(people, count, size, seed)[0]
    return out


def benchmark(frames, classifier, model_dir, default_config=PipelineConfig(), threads=1, repeats=1,
              count_frames=30) -> dict:
    """
    Both configurations on the same frames, then on frames with 0, 1, 2, 5 faces; returns the
    figures ``format_benchmark`` prints.
    """
    cv2.setNumThreads(threads)
    frames = list(frames) * repeats
    if isinstance(classifier, FisherfaceEnsemble):
        original_classifier = OpenCvMembers(classifier, model_dir)
        original_how = 'one cv2.face predict per member'
    else:
        original_classifier, original_how = classifier, 'the same classifier (no original form)'
    original_detector = HaarCascadeDetector(ORIGINAL_DETECTION)
    run_default(frames[:2], ExpressionPipeline(classifier, default_config))  # warm-up
    original = run_original(frames, original_detector, original_classifier)
    default = run_default(frames, ExpressionPipeline(classifier, default_config))
    fps = {name: len(frames) / sum(run.times['frame'])
           for name, run in (('original', original), ('default', default))}
    by_faces = {}
    if count_frames:
        for n, batch in face_count_frames(count_frames).items():
            batch = batch * repeats
            runs = {'original': run_original(batch, original_detector, original_classifier),
                    'default': run_default(batch, ExpressionPipeline(classifier, default_config))}
            by_faces[str(n)] = {
                name: {'median_ms': float(np.median(run.times['frame'])) * 1e3,
                       'p90_ms': float(np.percentile(run.times['frame'], 90)) * 1e3,
                       'faces_reported': sum(b is not None for b in run.boxes),
                       'frames': len(batch)}
                for name, run in runs.items()}
    return {
        'frames': len(frames), 'threads': threads, 'model': classifier.id,
        'original_configuration': {'detection': vars(ORIGINAL_DETECTION),
                                   'classification': original_how},
        'default_configuration': {'detector': default_config.detector,
                                  'yunet': vars(default_config.yunet),
                                  'tracking': vars(default_config.tracking),
                                  'classification': 'batched'},
        'fps_original': fps['original'], 'fps_default': fps['default'],
        'speedup': fps['default'] / fps['original'],
        'stages_original': stage_figures(original.times),
        'stages_default': stage_figures(default.times),
        'by_faces': by_faces,
        **compare(original, default),
    }


def format_benchmark(result) -> str:
    """The figures as the command prints them."""
    lines = [f'{result["frames"]} frames, model {result["model"]}, '
             f'OpenCV threads {result["threads"]}',
             f'{"stage":<15}{"original (a) median / p90 / p99 ms":>38}'
             f'{"default (b) median / p90 / p99 ms":>38}']
    for stage in STAGES:
        cells = []
        for run in ('stages_original', 'stages_default'):
            s = result[run][stage]
            cells.append(f'{s["median_ms"]:8.2f} {s["p90_ms"]:8.2f} {s["p99_ms"]:8.2f}  '
                         f'(n={s["n"]})'
                         if s['n'] else 'not run')
        lines.append(f'{stage:<15}{cells[0]:>38}{cells[1]:>38}')
    lines.append(f'frames per second: original {result["fps_original"]:.1f}, '
                 f'default {result["fps_default"]:.1f}; '
                 f'speed-up {result["speedup"]:.1f}x')
    lines.append(f'agreement: (b) reported a face at {result["found_by_default"]}/'
                 f'{result["frames_with_face_original"]} frames where (a) found one '
                 f'({result["found_agreement"]:.1%}), with the same label on '
                 f'{result["label_agreement"]:.1%}')
    for d in result['disagreements']:
        lines.append(f'  frame {d["frame"]}: original {d["original"]}; default {d["default"]}')
    if result['by_faces']:
        lines.append('per frame by faces in view (640x480, median / p90 ms; faces reported: '
                     'frames with a face reported, of all):')
        for n, runs in result['by_faces'].items():
            cells = [f'{name} {r["median_ms"]:7.2f} / {r["p90_ms"]:7.2f} ms '
                     f'({r["faces_reported"]}/{r["frames"]})' for name, r in runs.items()]
            lines.append(f'  {n} face(s): ' + '; '.join(cells))
    return '\n'.join(lines)
