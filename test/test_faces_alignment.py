"""Face alignment from YuNet's landmarks (issue 12)."""

import os

from conftest import PHOTOS, REPO
import cv2
import numpy as np
import pytest

from expression_recognizer_ros.core.face_alignment import (
    align_face,
    alignment_matrix,
    AlignmentConfig,
    ARCFACE_TEMPLATE,
    fit_error,
    HAAR_BOX_TEMPLATE,
    similarity_transform,
)
from expression_recognizer_ros.core.haar_detection import resolve_cascade
from expression_recognizer_ros.core.yunet_detection import YuNetDetector

YUNET = os.path.join(REPO, 'models', 'yunet')


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], rot) and np.allclose(matrix[:, 2], shift)
    upright = similarity_transform(src, dst, rotate=False)
    assert upright[0, 1] == 0 and upright[1, 0] == 0 and upright[0, 0] == pytest.approx(scale)


def test_two_eyes_land_exactly_on_the_template():
    landmarks = np.array([[210, 180], [270, 200], [240, 230], [215, 260], [265, 270]], np.float32)
    config = AlignmentConfig(size=48, points='eyes', rotate=True)
    errors = fit_error(landmarks, alignment_matrix(landmarks, config), config)
    assert errors[:2].max() < 1e-6
    target = config.target_points()
    assert target[0] == pytest.approx((0.312 * 48, 0.405 * 48))


def test_the_default_is_the_upright_five_point_fit():
    """The default keeps the box-style framing (chosen on Yale, see face_alignment's docstring): no
    rotation, however tilted the landmarks."""
    landmarks = np.array([[210, 180], [270, 200], [240, 230], [215, 260], [265, 270]], np.float32)
    matrix = alignment_matrix(landmarks)
    assert matrix[0, 1] == 0 and matrix[1, 0] == 0
    assert AlignmentConfig().points == 'all' and AlignmentConfig().size == 48


def test_zoom_shows_more_around_the_face():
    t1, t2 = AlignmentConfig(zoom=1.0).target_points(), AlignmentConfig(zoom=1.5).target_points()
    assert np.linalg.norm(t2[1] - t2[0]) == pytest.approx(np.linalg.norm(t1[1] - t1[0]) / 1.5)


def test_a_tilted_face_comes_out_upright():
    """A face rotated by 20 degrees: after alignment its eyes and mouth corners are level and near
    the template, as for the upright photo; the box-style (rotate=False) crop keeps the tilt."""
    image = cv2.imread(os.path.join(PHOTOS, 'grace_hopper_512x512.jpg'))
    detector = YuNetDetector(YUNET)
    tilted = cv2.warpAffine(image, cv2.getRotationMatrix2D((256, 256), 20, 1.0), (512, 512),
                            borderMode=cv2.BORDER_REPLICATE)

    def warped_landmarks(frame, config):
        face = detector.detect(frame)[0]
        matrix = alignment_matrix(face.landmarks, config)
        assert align_face(frame, face.landmarks, config).shape == (48, 48)
        return (face.landmarks @ matrix[:, :2].T + matrix[:, 2],
                fit_error(face.landmarks, matrix, config))

    rotating = AlignmentConfig(points='eyes', rotate=True)
    straight, straight_error = warped_landmarks(image, rotating)
    aligned, aligned_error = warped_landmarks(tilted, rotating)
    boxed, boxed_error = warped_landmarks(tilted, AlignmentConfig(points='eyes', rotate=False))
    tilt = lambda p: np.degrees(np.arctan2(p[4, 1] - p[3, 1], p[4, 0] - p[3, 0]))  # noqa: E731 mouth line
    assert abs(tilt(aligned) - tilt(straight)) < 4
    assert abs(tilt(boxed) - tilt(straight)) > 10   # 14 degrees: the mouth line stays tilted
    assert aligned_error.max() < 4 and np.median(aligned_error) < 2.5   # pixels of the 48x48 crop
    assert boxed_error.max() > 2 * aligned_error.max()


def test_the_template_is_where_landmarks_sit_in_a_haar_box():
    """HAAR_BOX_TEMPLATE was measured on Yale; on the bundled photos YuNet's landmarks fall within
    a few percent of it inside the original's Haar box."""
    cascade = cv2.CascadeClassifier(resolve_cascade('haarcascade_frontalface_default.xml'))
    detector = YuNetDetector(YUNET)
    for name in ('astronaut.png', 'grace_hopper_512x512.jpg'):
        image = cv2.imread(os.path.join(PHOTOS, name))
        x, y, w, h = cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1.1, 10)[0]
        relative = (detector.detect(image)[0].landmarks - (x, y)) / w
        assert np.abs(relative - np.array(HAAR_BOX_TEMPLATE)).max() < 0.08, name


def test_small_and_large_crops_and_bad_input():
    gray = np.tile(np.arange(640, dtype=np.uint8)[None, :] // 3, (480, 1))
    landmarks = np.array([[100, 100], [400, 100], [250, 250], [130, 380], [370, 380]], np.float32)
    for config in (AlignmentConfig(),
                   AlignmentConfig(size=112, template=ARCFACE_TEMPLATE, points='all')):
        face = align_face(gray, landmarks, config)
        assert face.shape == (config.size, config.size) and face.dtype == np.uint8
    with pytest.raises(ValueError):
        AlignmentConfig(points='nose').validate()
    with pytest.raises(ValueError):
        align_face(gray.astype(np.float32), landmarks)
    with pytest.raises(ValueError):
        similarity_transform([[1, 1], [1, 1]], [[0, 0], [1, 1]])
