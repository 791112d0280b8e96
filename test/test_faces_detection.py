"""YuNet behind its checked model file (issue 12): load checks, coordinates, inputs."""

import json
import os
import shutil

from conftest import PHOTOS, REPO
import cv2
import numpy as np
import pytest

from expression_recognizer_ros.core.face_detection import (
    MODEL_SHA256,
    ModelFileError,
    verified_model_path,
    YuNetConfig,
    YuNetDetector,
)
from expression_recognizer_ros.core.resources import file_sha256

YUNET = os.path.join(REPO, 'models', 'yunet')


@pytest.fixture(scope='module')
def astronaut():
    return cv2.imread(os.path.join(PHOTOS, 'astronaut.png'))


def test_the_shipped_model_is_the_verified_file_with_its_licence():
    assert file_sha256(os.path.join(YUNET, 'face_detection_yunet_2023mar.onnx')) == MODEL_SHA256
    with open(os.path.join(YUNET, 'manifest.json'), encoding='utf-8') as f:
        manifest = json.load(f)
    assert manifest['files'][0]['sha256'] == MODEL_SHA256
    assert 'MIT' in manifest['licence']
    with open(os.path.join(YUNET, 'LICENSE'), encoding='utf-8') as f:
        assert 'Shiqi Yu' in f.read()


def copy_model(tmp_path):
    target = tmp_path / 'yunet'
    shutil.copytree(YUNET, target)
    return target


def test_a_changed_model_file_is_refused(tmp_path):
    target = copy_model(tmp_path)
    model = target / 'face_detection_yunet_2023mar.onnx'
    data = bytearray(model.read_bytes())
    data[1000] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match='does not match'):
        YuNetDetector(str(target))


def test_a_missing_model_file_or_manifest_is_refused(tmp_path):
    target = copy_model(tmp_path)
    (target / 'face_detection_yunet_2023mar.onnx').unlink()
    with pytest.raises(ModelFileError, match='missing'):
        YuNetDetector(str(target))
    with pytest.raises(ModelFileError, match='manifest'):
        YuNetDetector(str(tmp_path / 'nowhere'))


def test_a_manifest_naming_another_checksum_is_refused(tmp_path):
    target = copy_model(tmp_path)
    manifest = json.loads((target / 'manifest.json').read_text())
    manifest['files'][0]['sha256'] = '0' * 64
    (target / 'manifest.json').write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match='expects'):
        verified_model_path(str(target))


@pytest.mark.parametrize('bad', [dict(score_threshold=0), dict(nms_threshold=1.5), dict(top_k=0),
                                 dict(max_width=16), dict(min_size=-1)])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        YuNetConfig(**bad).validate()


@pytest.mark.parametrize('max_width', [0, 480, 320])
def test_boxes_and_landmarks_are_in_full_frame_pixels(astronaut, max_width):
    """A face pasted at a known place comes back there whatever the detection size."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    face = cv2.resize(astronaut, (240, 240), interpolation=cv2.INTER_AREA)
    frame[200:440, 360:600] = face
    alone = YuNetDetector(YUNET, YuNetConfig(max_width=0)).detect(face)
    faces = YuNetDetector(YUNET, YuNetConfig(max_width=max_width)).detect(frame)
    assert len(faces) == 1 and len(alone) == 1
    expected = np.array(alone[0].box) + (360, 200, 0, 0)
    assert np.abs(np.array(faces[0].box) - expected).max() < 8
    assert np.abs(faces[0].landmarks - (alone[0].landmarks + (360, 200))).max() < 6
    left_eye, right_eye = faces[0].landmarks[:2]
    assert left_eye[0] < right_eye[0]               # image-left eye first
    assert faces[0].landmarks[2][1] > left_eye[1]   # the nose below the eyes
    assert 0.8 <= faces[0].score <= 1.0


def test_grayscale_bgra_and_bgr_give_the_same_face(astronaut):
    detector = YuNetDetector(YUNET)
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    results = [detector.detect(image) for image in (cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), gray,
                                                    cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA))]
    assert all(len(r) == 1 for r in results)
    assert all(np.allclose(r[0].box, results[0][0].box) for r in results)


def test_frame_size_changes_are_followed(astronaut):
    detector = YuNetDetector(YUNET)
    for size in (512, 300, 800):
        faces = detector.detect(cv2.resize(astronaut, (size, size)))
        assert len(faces) == 1
        assert faces[0].box[0] + faces[0].box[2] <= size + 2


def test_bad_images_are_refused():
    detector = YuNetDetector(YUNET)
    for bad in (np.zeros((10, 10), np.float32), np.zeros((10, 10, 2), np.uint8),
                np.zeros(10, np.uint8)):
        with pytest.raises(ValueError):
            detector.detect(bad)
