import cv2
import numpy as np
import pytest
import yaml

from expression_recognizer_ros.core.boxes import iou
from expression_recognizer_ros.core.haar_detection import (
    DEFAULT_CASCADES,
    FACE,
    HaarCascadeDetector,
    HaarConfig,
    NO_FACE,
    SEVERAL_FACES,
    STILL_IMAGES,
)
from expression_recognizer_ros.core.pipeline import PipelineConfig
from expression_recognizer_ros.core.resources import package_path
from expression_recognizer_ros.tools.synthetic import compose_frames


@pytest.fixture(scope='module')
def detector():
    return HaarCascadeDetector(STILL_IMAGES)


def test_defaults_are_the_originals():
    config = HaarConfig()
    assert config.cascades == DEFAULT_CASCADES
    assert (config.scale_factor, config.min_neighbors, config.min_size) == (1.1, 10, 5)


def test_shipped_yaml_states_the_code_defaults():
    """config/recognizer.yaml repeats the defaults for users to edit; it must not drift from the
    code."""
    pytest.importorskip('rclpy', reason='no ROS 2 here (make test-humble): the node declares them')
    from expression_recognizer_ros.ros.recognizer_node import (
        DETECTION_PARAMETERS,
        PIPELINE_PARAMETERS,
    )
    with open(package_path('config', 'recognizer.yaml'), encoding='utf-8') as f:
        params = yaml.safe_load(f)['recognizer']['ros__parameters']
    for name in DETECTION_PARAMETERS:
        default = getattr(HaarConfig(), name)
        expected = list(default) if isinstance(default, tuple) else default
        assert params['haar'][name] == expected, name
    for name, (section, field, _) in PIPELINE_PARAMETERS.items():
        config = PipelineConfig()
        default = getattr(config if section is None else getattr(config, section), field)
        value = params
        for part in name.split('.'):
            value = value[part]
        assert value == default, name


def gray_frames(**kwargs):
    return [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in compose_frames(**kwargs)]


def test_tracking_finds_the_faces_a_whole_frame_search_finds():
    tracker = HaarCascadeDetector(HaarConfig(track_face=True))
    full = HaarCascadeDetector(HaarConfig(track_face=False))
    tracked = 0
    for gray in gray_frames(count=40, clip=20, seed=3):
        a, b = full.detect(gray), tracker.detect(gray)
        assert a.outcome == b.outcome
        if a.found:
            assert iou(a.box, b.box) >= 0.5
        tracked += b.tracked
    # 34 face frames, of which the first of each clip and every 10th need a full search
    assert tracked >= 25


def test_a_second_face_stepping_in_is_seen_within_full_every_frames(photos):
    tracker = HaarCascadeDetector(HaarConfig(track_face=True, full_search_every=5))
    alone = cv2.cvtColor(np.hstack([photos['astronaut.png'], np.zeros((512, 512, 3), np.uint8)]),
                         cv2.COLOR_BGR2GRAY)
    pair = cv2.cvtColor(np.hstack([photos['astronaut.png'], photos['grace_hopper_512x512.jpg']]),
                        cv2.COLOR_BGR2GRAY)
    assert [tracker.detect(alone).tracked for _ in range(3)] == [False, True, True]
    outcomes = [tracker.detect(pair).outcome for _ in range(5)]
    assert outcomes[:2] == [FACE, FACE]     # still tracking the first face
    assert SEVERAL_FACES in outcomes        # the whole-frame search at the latest on the 5th frame


@pytest.mark.parametrize('name', ['astronaut.png', 'grace_hopper_512x512.jpg'])
def test_each_public_domain_photo_is_exactly_one_face(detector, photos, name):
    detection = detector.detect(cv2.cvtColor(photos[name], cv2.COLOR_BGR2GRAY))
    assert detection.outcome == FACE
    x, y, w, h = detection.box
    assert 60 < w < 400 and w == h
    assert detection.cascade in DEFAULT_CASCADES


def test_blank_frame_is_no_face(detector):
    assert detector.detect(np.full((480, 640), 128, np.uint8)).outcome == NO_FACE


def test_two_people_are_several_faces_not_one(detector, photos):
    pair = np.hstack([photos['astronaut.png'], photos['grace_hopper_512x512.jpg']])
    detection = detector.detect(cv2.cvtColor(pair, cv2.COLOR_BGR2GRAY))
    assert detection.outcome == SEVERAL_FACES
    assert detection.box is None


def test_lazy_and_eager_make_the_same_decisions(detector):
    eager = HaarCascadeDetector(HaarConfig(lazy_cascades=False, track_face=False))
    for frame in compose_frames(count=12):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        assert detector.detect(gray) == eager.detect(gray)


def test_a_cascade_seeing_several_does_not_decide_the_next_one_does(photos):
    """The eye cascade finds two eyes (several), so the chain falls through to the face cascade."""
    gray = cv2.cvtColor(photos['astronaut.png'], cv2.COLOR_BGR2GRAY)
    eyes_only = HaarCascadeDetector(HaarConfig(cascades=('haarcascade_eye.xml',),
                                               min_size_ratio=0.0))
    assert eyes_only.detect(gray).outcome == SEVERAL_FACES
    chain = HaarCascadeDetector(HaarConfig(cascades=('haarcascade_eye.xml', DEFAULT_CASCADES[0]),
                                           min_size_ratio=0.0))
    detection = chain.detect(gray)
    assert detection.outcome == FACE
    assert detection.cascade == DEFAULT_CASCADES[0]


def test_missing_cascade_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match='no_such_cascade.xml'):
        HaarCascadeDetector(HaarConfig(cascades=('no_such_cascade.xml',)))


def test_unreadable_cascade_is_a_clear_error(tmp_path):
    bad = tmp_path / 'broken.xml'
    bad.write_text('<opencv_storage><cascade>nonsense</cascade></opencv_storage>')
    with pytest.raises(ValueError, match='broken.xml'):
        HaarCascadeDetector(HaarConfig(cascades=(str(bad),)))


@pytest.mark.parametrize('field, value', [('scale_factor', 1.0), ('min_neighbors', -1),
                                          ('min_size', 0), ('max_size', 3),
                                          ('min_size_ratio', 1.5), ('cascades', ())])
def test_bad_parameters_are_refused_with_the_name(field, value):
    with pytest.raises(ValueError, match=field):
        HaarConfig(**{field: value}).validate()


def test_wrong_image_type_is_refused(detector):
    with pytest.raises(ValueError, match='grayscale'):
        detector.detect(np.zeros((10, 10, 3), np.uint8))


def test_downscaled_detection_reports_boxes_in_full_frame_pixels(detector, photos):
    gray = cv2.cvtColor(photos['astronaut.png'], cv2.COLOR_BGR2GRAY)
    full = detector.detect(gray).box
    small = HaarCascadeDetector(HaarConfig(detect_max_width=256)).detect(gray).box
    assert small is not None
    assert abs(small[0] - full[0]) < 20 and abs(small[2] - full[2]) < 30
