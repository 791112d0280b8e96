"""The multi-face pipeline on composed streams with known people (real YuNet, real classifiers)."""

import os

import numpy as np
import pytest

from expression_recognizer_ros.classifiers.registry import default_model_dir, load_classifier
from expression_recognizer_ros.core.haar_detection import HaarCascadeDetector, STILL_IMAGES
from expression_recognizer_ros.core.images import read_image
from expression_recognizer_ros.core.pipeline import (
    ExpressionPipeline,
    HAAR_FALLBACK,
    PipelineConfig,
)
from expression_recognizer_ros.core.preprocessing import to_gray
from expression_recognizer_ros.core.tracking import STILL_IMAGE_TRACKING, TrackingConfig
from expression_recognizer_ros.tools.synthetic import compose_stream, Person


@pytest.fixture(scope='module')
def classifier():
    """The shipped default model."""
    return load_classifier(default_model_dir())


@pytest.fixture(scope='module')
def two_people(photos):
    """Grace Hopper large on the left, the astronaut smaller on the right, 20 frames."""
    people = [Person('grace', (photos['grace_hopper_512x512.jpg'],), 0, 20, (40, 100), (60, 110),
                     200, 210),
              Person('astro', (photos['astronaut.png'],), 0, 20, (420, 150), (400, 150), 140, 140)]
    return compose_stream(people, 20)


def person_at(face, truth):
    """The person whose pasted photo holds the face's centre (their photos do not overlap)."""
    cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
    inside = [who for who, (x, y, w, h) in truth.boxes.items()
              if x <= cx <= x + w and y <= cy <= y + h]
    assert len(inside) == 1, (face.box, truth.boxes)
    return inside[0]


def test_every_face_gets_a_stable_id_and_the_largest_is_attended(classifier, two_people):
    """Two people: both reported with their own IDs from the third frame, the larger attended."""
    frames, truths = two_people
    pipeline = ExpressionPipeline(classifier)
    ids, attended = set(), set()
    for i, (frame, truth) in enumerate(zip(frames, truths)):
        result = pipeline.process(frame, i / 15.0)
        if i < 2:   # confirm_after=3: nobody is reported before the third frame
            assert result.num_faces == 0 and result.attended is None
            continue
        assert result.num_faces == 2 and result.detector == 'yunet'
        who = [person_at(face, truth) for face in result.faces]   # each face inside its photo
        assert sorted(who) == ['astro', 'grace']
        ids.update(f.id for f in result.faces)
        attended.add(result.attended.id)
        grace = result.faces[who.index('grace')]
        assert result.attended is grace and result.faces[0] is grace    # largest first
        for face in result.faces:
            assert face.label in classifier.labels and face.crop.shape == (48, 48)
            assert abs(sum(face.scores) - 1) < 1e-6 and face.confidence == max(face.scores)
    assert len(ids) == 2 and len(attended) == 1


def yale(yale_dir, name):
    """A Yale face as BGR (one subject's photos share their framing)."""
    folder = name.split('.')[1].replace('surprised', 'surprise')
    return read_image(os.path.join(yale_dir, folder, name + '.gif'))   # OpenCV < 4.11: by Pillow


def test_scores_are_smoothed_in_seconds_per_face(classifier, yale_dir):
    """One Yale subject whose expression flips between happy and surprised every other frame."""
    faces = tuple(yale(yale_dir, f'subject01.{e}') for e in ('happy', 'surprised'))
    flipping = Person('flip', faces, 0, 12, (200, 100), (200, 100), 260, 260, change_every=2)
    frames, _ = compose_stream([flipping], 12)
    fast = ExpressionPipeline(classifier,
                              PipelineConfig(tracking=TrackingConfig(time_constant=0.0)))
    slow = ExpressionPipeline(classifier,
                              PipelineConfig(tracking=TrackingConfig(time_constant=5.0)))
    change = {'raw': 0.0, 'smooth': 0.0}
    previous = {}
    for i, frame in enumerate(frames):
        a, b = fast.process(frame, i / 15.0), slow.process(frame, i / 15.0)
        for name, result in (('raw', a), ('smooth', b)):
            if result.attended is None:
                continue
            scores = np.array(result.attended.scores)
            if name in previous:
                change[name] += float(np.abs(scores - previous[name]).sum())
            previous[name] = scores
        if a.attended is not None and a.attended.prediction is not None:   # no smoothing
            assert a.attended.label == a.attended.prediction.label
    assert change['raw'] > 0 and change['smooth'] < 0.5 * change['raw']


def test_haar_fallback_keeps_the_exactly_one_rule(classifier, two_people, photos):
    """detector haar_fallback answers exactly as the original's HaarCascadeDetector and crop."""
    config = PipelineConfig(detector=HAAR_FALLBACK, haar=STILL_IMAGES,
                            tracking=STILL_IMAGE_TRACKING)
    pipeline = ExpressionPipeline(classifier, config)
    frames, _ = two_people
    detector = HaarCascadeDetector(STILL_IMAGES)
    for frame in frames[:3]:    # two people: at most the one face the original's rule gives
        result, detection = pipeline.process(frame), detector.detect(to_gray(frame))
        assert result.num_faces == int(detection.found) <= 1 and result.detection == detection
    for photo in photos.values():
        result = pipeline.process(photo)
        detection = detector.detect(to_gray(photo))
        assert result.num_faces == 1 and result.attended.box == detection.box
        assert result.detector == detection.cascade
        # no confirmation delay and no smoothing: the classifier's own answer for the Haar crop
        assert result.attended.label == result.attended.prediction.label


def test_nobody_in_view_is_no_face_not_an_error(classifier):
    """Empty frames: no face, no attended face, no exception."""
    pipeline = ExpressionPipeline(classifier)
    for i in range(5):
        result = pipeline.process(np.full((480, 640, 3), 127, np.uint8), i / 15.0)
        assert result.num_faces == 0 and result.attended is None and result.detector == 'yunet'


def test_debug_view_draws_every_face_and_highlights_the_attended_one(classifier, two_people):
    """The debug image tells the attended face from the others."""
    from expression_recognizer_ros.core.debug_view import AMBER, annotate, GREEN
    frames, _ = two_people
    pipeline = ExpressionPipeline(classifier)
    for i, frame in enumerate(frames[:4]):
        result = pipeline.process(frame, i / 15.0)
    assert result.num_faces == 2
    out = annotate(frames[3], result, classifier.labels)
    for face in result.faces:
        x, y, w, h = face.box
        edge = out[y + h // 2, x - 1:x + 2].reshape(-1, 3)    # the box's left side, 3 px wide
        colour = GREEN if face is result.attended else AMBER
        assert any((pixel == colour).all() for pixel in edge), (face.id, edge)
    assert not (out == frames[3]).all()
