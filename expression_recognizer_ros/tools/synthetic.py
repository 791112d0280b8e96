"""
Synthetic test and benchmark frames: one bundled photo per frame (``compose_frames``), and
composed multi-person streams with known identities, to measure detection and tracking.

Face photos (one identity: a list of BGR images, e.g. one person's expressions) are pasted on a
640x480 textured background, each person on a path: appearing, moving, growing or shrinking,
crossing others (a later person is pasted in front) and leaving. Every frame comes with its ground
truth: per person in view the pasted rectangle and the fraction of it not covered by people in
front.

``match_faces`` assigns detections to ground truth; ``score_stream`` runs a detector and a tracker
over a stream and counts found faces, false faces, ID switches (CLEAR-MOT style: a person's matched
track ID differs from the one matched before) and attended-face changes that break the hysteresis
rule.
"""

from dataclasses import dataclass, field
import math

import cv2
import numpy as np

from ..core.boxes import box_center, iou
from ..core.images import read_image
from ..core.resources import package_path

PHOTOS = ('astronaut.png', 'grace_hopper_512x512.jpg')


@dataclass(frozen=True)
class Person:
    """
    One appearance of ``identity``: from ``start`` to ``end`` (frame indices, end excluded) moving
    linearly from ``p0`` to ``p1`` (top-left corner) while its width goes from ``w0`` to ``w1``
    pixels; ``images`` are shown in turn, ``change_every`` frames each (an expression change).
    """

    identity: str
    images: tuple
    start: int
    end: int
    p0: tuple
    p1: tuple
    w0: float
    w1: float
    change_every: int = 25
    # The face's box in fractions of the image (ground truth), or one per image.
    face: tuple = (0.0, 0.0, 1.0, 1.0)

    def state(self, i) -> tuple:
        t = (i - self.start) / max(1, self.end - 1 - self.start)
        x = self.p0[0] + t * (self.p1[0] - self.p0[0])
        y = self.p0[1] + t * (self.p1[1] - self.p0[1])
        w = self.w0 + t * (self.w1 - self.w0)
        k = ((i - self.start) // self.change_every) % len(self.images)
        face = self.face[k] if isinstance(self.face[0], (tuple, list)) else self.face
        return int(round(x)), int(round(y)), int(round(w)), self.images[k], face


@dataclass
class Truth:
    """
    Ground truth of one frame: identity -> (x, y, w, h) face box (``Person.face`` within the pasted
    image), identity -> fraction of that face box not covered by people in front, identity -> paste
    order (higher is in front).
    """

    boxes: dict = field(default_factory=dict)
    visible: dict = field(default_factory=dict)
    order: dict = field(default_factory=dict)


def background(size=(640, 480), seed=0) -> np.ndarray:
    """A blurred random BGR texture with a horizontal brightness ramp, to paste faces on."""
    rng = np.random.default_rng(seed)
    width, height = size
    texture = cv2.GaussianBlur(rng.integers(40, 220, (height, width, 3), dtype=np.uint8), (0, 0),
                               7)
    ramp = np.linspace(-30, 30, width, dtype=np.float32)[None, :, None]
    return np.clip(texture.astype(np.float32) + ramp, 0, 255).astype(np.uint8)


def compose_stream(people, count, size=(640, 480), seed=0,
                   backdrop=None) -> tuple[list[np.ndarray], list[Truth]]:
    """
    (frames, truths) for ``count`` frames; ``people`` a list of Person, pasted in list order (later
    in front). Rectangles are clipped to the frame.
    """
    width, height = size
    base = background(size, seed) if backdrop is None else backdrop
    frames, truths = [], []
    for i in range(count):
        frame = base.copy()
        truth = Truth()
        owner = np.full((height, width), -1, np.int16)
        areas = {}
        for k, person in enumerate(people):
            if not person.start <= i < person.end:
                continue
            x, y, w, image, (fx, fy, fw, fh) = person.state(i)
            h = int(round(w * image.shape[0] / image.shape[1]))
            x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            patch = cv2.resize(image, (w, h),
                               interpolation=(cv2.INTER_AREA if w < image.shape[1]
                                              else cv2.INTER_LINEAR))
            if patch.ndim == 2:
                patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
            frame[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]
            owner[y0:y1, x0:x1] = k
            face = (x + fx * w, y + fy * h, fw * w, fh * h)
            truth.boxes[person.identity] = face
            truth.order[person.identity] = k
            areas[person.identity] = (k, face)
        for identity, (k, (fx, fy, fw, fh)) in areas.items():
            x0, y0 = max(0, int(round(fx))), max(0, int(round(fy)))
            x1, y1 = min(width, int(round(fx + fw))), min(height, int(round(fy + fh)))
            inside = (owner[y0:y1, x0:x1] == k).sum() if x1 > x0 and y1 > y0 else 0
            truth.visible[identity] = float(inside) / max(1.0, fw * fh)
        frames.append(frame)
        truths.append(truth)
    return frames, truths


def match_faces(boxes, truth, min_iou=0.4) -> tuple[dict, list[int]]:
    """
    Greedy assignment of detected ``boxes`` to ground-truth face boxes, highest IoU first (at least
    ``min_iou``), as MOT evaluations do. Returns ({detection index: identity}, unmatched detection
    indices).
    """
    candidates = []
    for di, box in enumerate(boxes):
        for identity, face in truth.boxes.items():
            overlap = iou(box, face)
            if overlap >= min_iou:
                candidates.append((-overlap, di, identity))
    matched, used = {}, set()
    for _, di, identity in sorted(candidates):
        if di not in matched and identity not in used:
            matched[di] = identity
            used.add(identity)
    return matched, [di for di in range(len(boxes)) if di not in matched]


@dataclass
class StreamScore:
    """The counts ``score_stream`` gathers over one stream."""

    face_frames: int = 0          # ground-truth faces expected (visible fraction >= min_visible)
    found: int = 0                # of those, matched to a detection
    false_faces: int = 0          # detections matching nobody
    # A person's track ID changed although it was matched within max_missed frames.
    id_switches: int = 0
    # A new ID after the person went undetected (hidden, gone) for longer.
    re_entries: int = 0
    switches: list = field(default_factory=list)   # (frame, identity, old track ID, new track ID)
    tracked_face_frames: int = 0  # expected faces matched to a confirmed track
    attended_violations: list = field(default_factory=list)   # frames where the rule broke
    attended_changes: int = 0

    @property
    def detection_rate(self) -> float:
        return self.found / self.face_frames if self.face_frames else float('nan')


def score_stream(frames, truths, detector, tracker, selector=None, fps=15.0, min_visible=0.9,
                 margin=0.2) -> StreamScore:
    """Run ``detector.detect`` and ``tracker.update`` (and ``selector.select``) on every frame."""
    score = StreamScore()
    last_track_of, last_frame_of = {}, {}
    attended_prev, attended_identity_prev = None, None
    for i, (frame, truth) in enumerate(zip(frames, truths)):
        faces = detector.detect(frame)
        matched, unmatched = match_faces([f.box for f in faces], truth)
        expected = {ident for ident, v in truth.visible.items() if v >= min_visible}
        score.face_frames += len(expected)
        score.found += sum(1 for ident in matched.values() if ident in expected)
        score.false_faces += len(unmatched)
        tracks = tracker.update(faces, i / fps)
        visible_tracks = [t for t in tracks if t.visible]
        by_face = {id(t.face): t for t in visible_tracks}
        identity_of_track = {}
        for di, ident in matched.items():
            track = by_face.get(id(faces[di]))
            if track is None:
                continue
            identity_of_track[track.id] = ident
            if ident in expected:
                score.tracked_face_frames += 1
            previous = last_track_of.get(ident)
            if previous is not None and previous != track.id:
                if i - last_frame_of[ident] > tracker.config.max_missed + 1:
                    score.re_entries += 1
                else:
                    score.id_switches += 1
                    score.switches.append((i, ident, previous, track.id))
            last_track_of[ident], last_frame_of[ident] = track.id, i
        if selector is None:
            continue
        frame_size = (frame.shape[1], frame.shape[0])
        attended = selector.select(tracks, frame_size)
        attended_identity = identity_of_track.get(attended)
        if attended != attended_prev and attended_prev is not None:
            score.attended_changes += 1
            old = next((t for t in tracks if t.id == attended_prev), None)
            new = next((t for t in tracks if t.id == attended), None)
            if old is not None and not _justified(new, old, selector.mode, margin, frame_size):
                score.attended_violations.append(i)
        elif (attended_identity is not None and attended_identity_prev is not None
              and attended_identity != attended_identity_prev
              and attended_identity_prev in expected):
            # Same track ID, another person under it (an ID switch on the attended face).
            score.attended_violations.append(i)
        attended_prev = attended
        if attended_identity is not None:
            attended_identity_prev = attended_identity
    return score


def _justified(new, old, mode, margin, frame_size):
    """
    The attention rule, checked independently of the selector: a change away from a face still in
    view needs a face larger by more than ``margin`` (or nearer the centre by margin x
    half-diagonal).
    """
    if new is None:
        return False
    if mode == 'largest':
        return new.size > (1.0 + margin) * old.size
    cx, cy = frame_size[0] / 2.0, frame_size[1] / 2.0
    return (math.dist(box_center(new.box), (cx, cy)) + margin * 0.5 * math.hypot(*frame_size)
            < math.dist(box_center(old.box), (cx, cy)))


def bundled_photos() -> list[np.ndarray]:
    """The photos shipped in media/, loaded as BGR: the faces of the synthetic frames."""
    return [read_image(package_path('media', name)) for name in PHOTOS]


def compose_frames(count=24, size=(640, 480), seed=0, every_nth_empty=6, smallest=0.5,
                   clip=1) -> list[np.ndarray]:
    """
    Frames with one photo at varied scale and position on a textured background; every
    ``every_nth_empty``-th frame has no face. The photo's side is drawn from ``smallest`` times the
    frame height up to the height (the face is about a third of it). With ``clip`` > 1, frames come
    in clips of that length in which the photo drifts a few pixels per frame, as in a camera
    stream, and the empty frames are the last of each clip.
    Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    photos = bundled_photos()
    background = cv2.GaussianBlur(rng.integers(60, 200, (height, width, 3), dtype=np.uint8),
                                  (0, 0), 9)
    frames = []
    for i in range(count):
        frame = background.copy()
        if i % clip == 0:
            photo = photos[(i // clip) % len(photos)]
            start = int(rng.integers(round(smallest * height), height - 20))
            x0, y0 = rng.integers(0, width - start + 1), rng.integers(0, height - start + 1)
            vx, vy, vs = rng.uniform(-4, 4), rng.uniform(-3, 3), rng.uniform(-2, 2)
        if clip > 1:
            # the person left
            empty = every_nth_empty and i % clip >= clip - clip // every_nth_empty
        else:
            empty = every_nth_empty and i % every_nth_empty == every_nth_empty - 1
        if empty:
            frames.append(frame)
            continue
        j = i % clip
        side = int(np.clip(start + vs * j, 24, height))
        x = int(np.clip(x0 + vx * j, 0, width - side))
        y = int(np.clip(y0 + vy * j, 0, height - side))
        frame[y:y + side, x:x + side] = cv2.resize(photo, (side, side),
                                                   interpolation=cv2.INTER_AREA)
        frames.append(frame)
    return frames
