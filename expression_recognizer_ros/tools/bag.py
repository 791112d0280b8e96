"""
``expression-recognizer bag``: a recorded session through the recognizer's pipeline, offline.

Every frame of the bag's image topic goes through ``core.pipeline.ExpressionPipeline`` with the
node's defaults, timed by its recorded stamp, so tracks and smoothing behave as they did live and
the answer does not depend on this machine's speed. Three stages overlap: a reader thread decodes
frames and hands each to a pool of YuNet detectors (one per thread; detection is most of the work
and needs no history), this thread runs the rest of the pipeline in frame order (tracking,
alignment, classification, smoothing, the attended face), and a writer thread serializes and writes
the outputs (``bag_writing``).

Ctrl-C (or SIGTERM) stops after the current frame: the outputs are closed with what was processed.
A bag that cannot be read is one line and exit status 1; a frame that cannot be decoded is skipped
and counted.
"""

from concurrent.futures import ThreadPoolExecutor
import os
import queue
import signal
import statistics
import sys
import threading
import time

import cv2

from .bag_reading import BagError, BagFrames
from .bag_writing import AnnotatedBag, FaceTable, outputs, plot_timeline
from ..classifiers.registry import load_classifier
from ..core.faces import FrameFaces
from ..core.pipeline import ExpressionPipeline, PipelineConfig
from ..core.resources import package_path
from ..core.yunet_detection import YuNetDetector

INTERRUPTED = 130   # 128 + SIGINT, as a shell reports Ctrl-C
END = object()      # the last item on a queue


class Timeline:
    """What was seen when, per processed frame: its time and faces, for the plot and summary."""

    def __init__(self):
        self.times = []    # seconds from the first frame
        self.faces = []    # per frame: ((id, label, attended), ...)

    def add(self, seconds, result) -> None:
        attended = result.attended.id if result.attended is not None else None
        self.times.append(seconds)
        self.faces.append(tuple((f.id, f.label, f.id == attended) for f in result.faces))

    def spans(self) -> list[float]:
        """
        Seconds each frame stands for: until the next one, at most twice the median interval (a
        gap in the recording or skipped frames count as nobody seen); the last one the median.
        """
        gaps = [b - a for a, b in zip(self.times, self.times[1:])]
        typical = statistics.median(gaps) if gaps else 0.0
        return [min(gap, 2 * typical) for gap in gaps] + [typical] if self.times else []

    @property
    def duration(self) -> float:
        spans = self.spans()
        return self.times[-1] + spans[-1] if self.times else 0.0

    def runs(self) -> dict[str, list[tuple]]:
        """Per face ID, first seen first: (start, end, label, attended) spans, merged."""
        runs = {}
        for start, span, faces in zip(self.times, self.spans(), self.faces):
            for face_id, label, attended in faces:
                spans = runs.setdefault(face_id, [])
                if spans and spans[-1][1:] == (start, label, attended):
                    spans[-1][1] = start + span
                else:
                    spans.append([start, start + span, label, attended])
        return {face_id: [tuple(s) for s in spans] for face_id, spans in runs.items()}

    def totals(self) -> dict:
        """Per face ID: seconds seen, seconds attended and seconds per expression."""
        totals = {}
        for span, faces in zip(self.spans(), self.faces):
            for face_id, label, attended in faces:
                entry = totals.setdefault(face_id, {'seen': 0.0, 'attended': 0.0, 'labels': {}})
                entry['seen'] += span
                entry['attended'] += span if attended else 0.0
                entry['labels'][label] = entry['labels'].get(label, 0.0) + span
        return totals


class PrefetchedFaces:
    """
    Stands in for the pipeline's YuNet detector: ``detect_faces`` returns what a pool thread found
    in this frame (same detector class and settings, run ahead), so detection overlaps the rest.
    """

    name, per_frame = YuNetDetector.name, YuNetDetector.per_frame

    def __init__(self):
        self.found = FrameFaces([], YuNetDetector.name)

    def detect_faces(self, image) -> FrameFaces:
        return self.found


class Progress:
    """Frames done, rate and time left on stderr: tqdm when installed, else a throttled line."""

    def __init__(self, total):
        self.total, self.done = total, 0
        self.start = time.monotonic()
        self._shown = 0.0
        self._tty = sys.stderr.isatty()
        try:
            from tqdm import tqdm
            self._bar = tqdm(total=total, unit='frame', file=sys.stderr, smoothing=0.1)
        except ImportError:
            self._bar = None

    def update(self, frames=1) -> None:
        self.done += frames
        if self._bar is not None:
            self._bar.update(frames)
            return
        now = time.monotonic()
        if now - self._shown < (0.5 if self._tty else 10.0):
            return
        self._shown = now
        rate = self.done / max(now - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate else 0.0
        line = (f'{self.done}/{self.total} frames, {rate:.1f} frames/s, '
                f'{int(left) // 60}:{int(left) % 60:02d} left')
        print(f'\r{line}' if self._tty else line, end='' if self._tty else '\n', file=sys.stderr,
              flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._tty and self._shown:
            print(file=sys.stderr)


class StopSignals:
    """SIGINT and SIGTERM set ``stop`` instead of killing: the outputs get closed."""

    def __init__(self):
        self.stop = threading.Event()
        self.signal = None
        self._previous = {}

    def _handle(self, signum, frame):
        if not self.stop.is_set():
            self.signal = signum
            print(f'\n{signal.Signals(signum).name}: stopping after this frame, closing the '
                  'outputs', file=sys.stderr, flush=True)
        self.stop.set()

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _read(bag, pool, detect, frames, stop, errors):
    """Reader thread: decode in order, start each frame's detection, queue both."""
    try:
        for frame in bag:
            if stop.is_set():
                break
            future = pool.submit(detect, frame.image) if frame.image is not None else None
            while not stop.is_set():
                try:
                    frames.put((frame, future), timeout=0.1)
                    break
                except queue.Full:
                    pass
    except BagError as exc:
        errors.append(str(exc))
    except Exception as exc:  # the reader must always hand over END
        errors.append(f'reading {bag.path} failed: {exc!r}')
    finally:
        frames.put(END)


def _write(items, bag, table, n_models, errors):
    """Writer thread: messages and CSV rows of each processed frame, in order."""
    while (item := items.get()) is not END:
        if errors:
            continue   # drain: the main loop stops at its next frame
        frame, seconds, result, image = item
        try:
            bag.write(frame, result, n_models, image)
            table.write(frame, seconds, result)
        except Exception as exc:  # disk full, ...: stop, keep what is written
            errors.append(f'writing the outputs failed: {exc}')


class Session:
    """One run of the command: the bag in, the pipeline, the outputs, and what was seen."""

    def __init__(self, frames_in, pipeline, annotated, table, threads, debug_image):
        self.frames_in, self.pipeline = frames_in, pipeline
        self.annotated, self.table = annotated, table
        self.threads, self.debug_image = threads, debug_image
        self.timeline = Timeline()
        self.processed = self.unread = 0
        self.wall = 0.0     # seconds from the first frame read to the outputs written
        self.skipped, self.read_errors, self.write_errors = [], [], []

    def _detector(self):
        """A detect function for the pool: one YuNet per thread, the pipeline's settings."""
        config = self.pipeline.config
        model_dir = config.yunet_dir or package_path('models', 'yunet')
        local = threading.local()

        def detect(image):
            if not hasattr(local, 'detector'):
                local.detector = YuNetDetector(model_dir, config.yunet)
            return local.detector.detect_faces(image)
        return detect

    def run(self, stop) -> None:
        """Until the bag ends, an error, or ``stop``; the outputs stay open for the caller."""
        prefetched = self.pipeline.detector = PrefetchedFaces()
        frames = queue.Queue(maxsize=2 * self.threads + 2)
        items = queue.Queue(maxsize=16)
        progress = Progress(self.frames_in.count)
        writer = threading.Thread(target=_write, name='bag writer', daemon=True, args=(
            items, self.annotated, self.table, self.pipeline.classifier.n_models,
            self.write_errors))
        writer.start()
        start, received = None, 0
        began = time.monotonic()
        with ThreadPoolExecutor(self.threads) as pool:
            reader = threading.Thread(target=_read, name='bag reader', daemon=True, args=(
                self.frames_in, pool, self._detector(), frames, stop, self.read_errors))
            reader.start()
            try:
                while not stop.is_set() and not self.write_errors:
                    item = frames.get()
                    if item is END:
                        if not self.read_errors:   # the index promised more than was there
                            self.unread = max(0, self.frames_in.count - received)
                        break
                    frame, future = item
                    received += 1
                    progress.update()
                    if frame.image is None:
                        self.skipped.append(f'frame {frame.index}: {frame.error}')
                        continue
                    try:
                        prefetched.found = future.result()
                        result = self.pipeline.process(frame.image, frame.stamp * 1e-9)
                    except Exception as exc:  # one bad frame never ends the session
                        self.skipped.append(f'frame {frame.index}: {exc}')
                        continue
                    start = frame.stamp if start is None else start
                    seconds = (frame.stamp - start) * 1e-9
                    self.timeline.add(seconds, result)
                    items.put((frame, seconds, result, frame.image if self.debug_image else None))
                    self.processed += 1
            finally:
                stop.set()   # the reader ends at its next frame; drain until it has
                while reader.is_alive() or not frames.empty():
                    try:
                        frames.get(timeout=0.1)
                    except queue.Empty:
                        pass
                items.put(END)
                writer.join()
                progress.close()
                self.wall = time.monotonic() - began


def run(input_path, output, topic='', model='', debug_image=False, threads=None,
        out=sys.stdout) -> int:
    """The ``bag`` command; returns the exit status (0, 1 on an input or output error, 130)."""
    threads = threads or min(4, os.cpu_count() or 1)
    cv2.setNumThreads(1)   # parallel by frames instead, as the benchmark measures one core
    bag_path, csv_path, png_path = outputs(output)
    with StopSignals() as signals, BagFrames(input_path, topic) as frames_in:
        classifier = load_classifier(model)
        pipeline = ExpressionPipeline(classifier, PipelineConfig())
        with (AnnotatedBag(bag_path, classifier.labels, classifier.id, debug_image) as annotated,
              FaceTable(csv_path, classifier.labels) as table):
            print(f'{input_path}: {frames_in.count} frames on {frames_in.topic} '
                  f'({frames_in.msgtype.rsplit("/", 1)[-1]}, {frames_in.duration:.1f} s '
                  f'recorded); model {classifier.id}; {threads} detection threads', file=out,
                  flush=True)
            session = Session(frames_in, pipeline, annotated, table, threads, debug_image)
            session.run(signals.stop)
    interrupted = signals.signal is not None
    title = (f'{os.path.basename(os.path.normpath(input_path))} {frames_in.topic}, model '
             f'{classifier.id}' + (' (interrupted)' if interrupted else ''))
    drawn = plot_timeline(session.timeline, png_path, title)
    print(summary(session, png_path if drawn else None), file=out)
    errors = session.read_errors + session.write_errors
    if errors:
        print(f'expression-recognizer bag: error: {errors[0]}', file=sys.stderr)
        return 1
    if interrupted:
        print(f'interrupted: the outputs hold the first {session.processed} frames', file=out)
        return INTERRUPTED
    return 0


def summary(session, plot) -> str:
    """Frames, faces, IDs, time per expression per ID, frames without a face, speed, outputs."""
    timeline, processed, wall = session.timeline, session.processed, session.wall
    bag, table = session.annotated, session.table
    recorded = timeline.duration
    nobody = sum(1 for faces in timeline.faces if not faces)
    totals = timeline.totals()
    lines = [f'processed {processed} frames ({recorded:.1f} s recorded) in {wall:.1f} s: '
             f'{processed / max(wall, 1e-9):.1f} frames/s, '
             f'{recorded / max(wall, 1e-9):.1f}x real time',
             f'{table.rows} faces in {processed - nobody} frames, {len(totals)} face IDs; '
             f'{nobody} frames with no face'
             + (f' ({nobody / processed:.0%})' if processed else '')]
    if session.skipped:
        lines.append(f'skipped {len(session.skipped)} frames that could not be processed; '
                     f'first: {session.skipped[0]}')
    if session.unread:
        lines.append(f'{session.unread} of the {session.frames_in.count} messages the bag lists '
                     f'on {session.frames_in.topic} could not be read (damaged records)')
    for face_id, entry in totals.items():
        labels = sorted(entry['labels'].items(), key=lambda item: -item[1])
        lines.append(f'  {face_id}: seen {entry["seen"]:.1f} s, attended {entry["attended"]:.1f} '
                     's; ' + ', '.join(f'{label} {seconds:.1f} s' for label, seconds in labels))
    written = ', '.join(f'{count} on {topic}' for topic, count in bag.counts.items())
    lines.append(f'wrote {bag.output} ({written}), {table.path} ({table.rows} rows)'
                 + (f', {plot}' if plot else '; no timeline plot: matplotlib is not installed'))
    return '\n'.join(lines)
