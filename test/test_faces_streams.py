"""Issue 12 on composed multi-person streams: faces from Yale, CK+ and the real people photos (read
from ../shared, never committed) pasted on 640x480 backgrounds, moving, crossing, appearing and
leaving.

Asserted: >= 99% of the faces in view are found, <= 1 ID switch per 1,000 face-frames, the attended
face never changes while it stays in view unless another is larger by more than 20%; nobody and
noise give no faces."""

import glob
import os

from conftest import REPO
import cv2
import numpy as np
import pytest

from expression_recognizer_ros.core.tracking import AttendedSelector, FaceTracker
from expression_recognizer_ros.core.yunet_detection import YuNetConfig, YuNetDetector
from expression_recognizer_ros.tools.synthetic import (
    background,
    compose_stream,
    Person,
    score_stream,
)

YUNET = os.path.join(REPO, 'models', 'yunet')


def _gif(path):
    capture = cv2.VideoCapture(path)
    ok, image = capture.read()
    capture.release()
    assert ok, path
    return image


@pytest.fixture(scope='module')
def identities(yale_dir, ckplus_dir, real_photos):
    return load_identities(yale_dir, ckplus_dir, real_photos)


def load_identities(yale_dir, ckplus_dir, real_photos):
    """identity -> (face images, face boxes in fractions of each image): each image cropped to a
    square 1.5 times the face's YuNet box around its centre, or less where the photo ends (CK+
    crops are nearly all face).
    Yale: 15 subjects; CK+: the first 20 subjects; the seven real people."""
    sources = {}
    for path in sorted(glob.glob(os.path.join(yale_dir, '*', '*.gif'))):
        sources.setdefault('yale-' + os.path.basename(path).split('.')[0], []).append(_gif(path))
    ck = {}
    for path in sorted(glob.glob(os.path.join(ckplus_dir, '*', '*.png'))):
        ck.setdefault('ck-' + os.path.basename(path)[:4], []).append(cv2.imread(path))
    for subject in sorted(ck)[:20]:
        sources[subject] = ck[subject][::max(1, len(ck[subject]) // 6)]
    for folder in sorted(glob.glob(os.path.join(real_photos, 'people', '*'))):
        sources['real-' + os.path.basename(folder)] = [
            cv2.imread(p) for p in sorted(glob.glob(folder + '/*.png'))]
    finder = YuNetDetector(YUNET, YuNetConfig(max_width=0, score_threshold=0.5))
    people = {}
    for identity, images in sources.items():
        crops, boxes = [], []
        for image in images:
            scale = max(1, 200 // image.shape[1])
            faces = finder.detect(cv2.resize(image, None, fx=scale, fy=scale,
                                             interpolation=cv2.INTER_CUBIC))
            if len(faces) != 1:
                continue
            x, y, w, h = (v / scale for v in faces[0].box)
            cx, cy = x + w / 2, y + h / 2
            half = min(0.75 * max(w, h), cx, cy, image.shape[1] - cx, image.shape[0] - cy)
            left, top, side = int(round(cx - half)), int(round(cy - half)), int(round(2 * half))
            crops.append(image[top:top + side, left:left + side].copy())
            boxes.append(((x - left) / side, (y - top) / side, w / side, h / side))
        if crops:
            people[identity] = (tuple(crops), tuple(boxes))
    assert len(people) >= 40
    return people


@pytest.fixture(scope='module')
def detector():
    cv2.setNumThreads(1)
    return YuNetDetector(YUNET)


def patch_width(identities, identity, face_side):
    """Patch width giving a face of about ``face_side`` px."""
    return face_side / np.median([box[2] for box in identities[identity][1]])


def person(identities, identity, start, end, p0, p1, face0, face1):
    """A Person whose face goes from ``face0`` to ``face1`` px wide."""
    images, boxes = identities[identity]
    return Person(identity, images, start, end, p0, p1, patch_width(identities, identity, face0),
                  patch_width(identities, identity, face1), face=boxes)


def random_walkers(identities, seed, count=300, people=5, size=(640, 480)):
    """People appearing at random times, crossing the frame at random speeds and sizes (faces
    80-150 px), leaving again; later ones pass in front of earlier ones."""
    rng = np.random.default_rng(seed)
    names = sorted(identities)
    walkers = []
    for index in rng.choice(len(names), people, replace=False):
        name = names[index]
        start = int(rng.integers(0, count // 3))
        end = int(rng.integers(start + count // 3, count + 1))
        face0, face1 = rng.uniform(80, 150, 2)
        w0, w1 = patch_width(identities, name, face0), patch_width(identities, name, face1)
        p0 = (rng.uniform(0, size[0] - w0), rng.uniform(0, size[1] - w0))
        p1 = (rng.uniform(0, size[0] - w1), rng.uniform(0, size[1] - w1))
        walkers.append(person(identities, name, start, end, p0, p1, face0, face1))
    return walkers


def crossing(identities, count=120, same_height=False):
    """Two people walking towards each other and past each other; the second in front."""
    a, b = 'real-penny', 'yale-subject03'
    wa, wb = patch_width(identities, a, 110), patch_width(identities, b, 110)
    ya, yb = (150, 130) if same_height else (60, 220)
    return [person(identities, a, 0, count, (20, ya), (620 - wa, ya), 110, 110),
            person(identities, b, 0, count, (620 - wb, yb), (20, yb), 110, 110)]


def run(detector, frames, truths, mode='largest'):
    tracker = FaceTracker(seed=0)
    selector = AttendedSelector(mode)
    return score_stream(frames, truths, detector, tracker, selector)


def check(score, label, switches=True):
    print(f'{label}: {score.found}/{score.face_frames} faces found ({score.detection_rate:.2%}), '
          f'{score.false_faces} false, {score.id_switches} ID switches '
          f'({score.re_entries} re-entries), {score.attended_changes} attended changes, '
          f'violations at {score.attended_violations}')
    assert score.detection_rate >= 0.99, label
    assert score.false_faces == 0, label
    if switches:
        assert score.id_switches <= score.face_frames / 1000, label
    assert not score.attended_violations, label


WALKER_SEEDS = range(1, 7)


@pytest.fixture(scope='module')
def walker_scores(detector, identities):
    scores = {}
    for seed in WALKER_SEEDS:
        frames, truths = compose_stream(random_walkers(identities, seed), 300, seed=seed)
        scores[seed] = run(detector, frames, truths)
    return scores


@pytest.mark.parametrize('seed', WALKER_SEEDS)
def test_random_walkers_are_found_without_false_faces(walker_scores, seed):
    score = walker_scores[seed]
    check(score, f'walkers seed {seed}', switches=False)


def test_random_walkers_keep_their_ids(walker_scores):
    """<= 1 ID switch per 1,000 face-frames over all walker streams (over 2,000 face-frames)."""
    face_frames = sum(s.face_frames for s in walker_scores.values())
    switches = [sw for s in walker_scores.values() for sw in s.switches]
    print(f'walkers: {face_frames} face-frames, {len(switches)} ID switches {switches}, '
          f'{sum(s.re_entries for s in walker_scores.values())} re-entries after a long gap')
    assert face_frames >= 2000
    assert len(switches) <= face_frames / 1000


@pytest.mark.parametrize('seed', [1, 4])
def test_attended_nearest_the_centre_keeps_its_rule(detector, identities, seed):
    """``centre`` mode on walker streams: the attended face changes only when it left or another is
    nearer the centre by 20% of the half-diagonal."""
    frames, truths = compose_stream(random_walkers(identities, seed), 300, seed=seed)
    score = run(detector, frames, truths, mode='centre')
    print(f'centre mode seed {seed}: {score.attended_changes} attended changes')
    assert score.attended_changes >= 1 and not score.attended_violations


def test_small_faces_at_the_default_detection_width(detector, identities):
    """Six people with 56-80 px faces (people 2-3 m from a 640x480 camera) at detection width
    480."""
    total = found = switches = 0
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        people = [person(identities, p.identity, p.start, p.end, p.p0, p.p1,
                         *rng.uniform(56, 80, 2))
                  for p in random_walkers(identities, seed, count=240, people=6)]
        frames, truths = compose_stream(people, 240, seed=seed)
        score = run(detector, frames, truths)
        assert score.false_faces == 0 and not score.attended_violations
        total, found, switches = (total + score.face_frames, found + score.found,
                                  switches + score.id_switches)
    print(f'small faces: {found}/{total} found, {switches} ID switches')
    assert total >= 1000 and found >= 0.99 * total and switches <= total / 1000


@pytest.mark.parametrize('same_height', [False, True])
def test_two_people_crossing_keep_their_ids(detector, identities, same_height):
    frames, truths = compose_stream(crossing(identities, same_height=same_height), 120, seed=7)
    score = run(detector, frames, truths)
    check(score, f'crossing, same height {same_height}')


def test_a_group_of_five_standing_still(detector, identities):
    names = ['real-amy', 'yale-subject07', 'ck-S010', 'real-raj', 'yale-subject11']
    slots = [(10, 10), (220, 10), (440, 20), (60, 250), (330, 240)]
    people = []
    for (x, y), name in zip(slots, names):
        people.append(person(identities, name, 0, 150, (x, y), (x + 4, y + 3), 95, 97))
    frames, truths = compose_stream(people, 150, seed=11)
    score = run(detector, frames, truths)
    check(score, 'group of five')
    assert score.attended_changes == 0


def test_attended_face_holds_until_another_is_larger_by_20_percent(detector, identities):
    """A stays attended while B grows past it to 1.12x its size; C at 1.45x takes over."""
    a, b, c = 'real-sheldon', 'yale-subject05', 'real-howard'
    people = [person(identities, a, 0, 160, (20, 150), (40, 150), 100, 100),
              person(identities, b, 0, 100, (230, 100), (230, 100), 70, 112),
              person(identities, c, 100, 160, (460, 160), (460, 160), 145, 145)]
    frames, truths = compose_stream(people, 160, seed=5)
    tracker, selector = FaceTracker(seed=0), AttendedSelector('largest')
    attended = []
    for i, frame in enumerate(frames):
        tracks = tracker.update(detector.detect(frame), i / 15.0)
        chosen = selector.select(tracks, (640, 480))
        attended.append(next((t.box for t in tracks if t.id == chosen), None))
    def who(box):
        return None if box is None else 'a' if box[0] < 200 else 'b' if box[0] < 440 else 'c'
    names = [who(box) for box in attended]
    # B larger from frame ~65, at most 1.12x: no change.
    assert set(names[5:100]) == {'a'}
    # C is 1.45x A: it takes over within a few frames.
    assert set(names[110:]) == {'c'}


def test_frames_with_nobody_and_noise_frames_give_no_faces(detector):
    rng = np.random.default_rng(0)
    frames = [background(seed=s) for s in range(20)]
    frames += [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(20)]
    frames += [cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), s)
               for s in (1, 2, 3, 5)]
    frames += [np.full((480, 640, 3), v, np.uint8) for v in (0, 128, 255)]
    found = [len(detector.detect(frame)) for frame in frames]
    assert sum(found) == 0, found


def test_real_group_photos_all_faces(detector, real_photos):
    """The four real group photos hold 4, 3, 5 and 5 faces that a person sees (checked by eye:
    bbt2's background people have their backs turned); YuNet at the defaults finds exactly
    those."""
    expected = {'bbt1.jpg': 4, 'bbt2.jpg': 3, 'bbt3.jpg': 5, 'bbt5.jpg': 5}
    found = {name: len(detector.detect(cv2.imread(os.path.join(real_photos, 'groups', name))))
             for name in expected}
    assert found == expected
