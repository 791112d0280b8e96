"""
YuNet behind its checked model file (issue 12): load checks, coordinates, inputs; run through
cv2.dnn with our own decoding, the same faces as cv2.FaceDetectorYN on every OpenCV (issue 19).
"""

import glob
import json
import os
import shutil

from conftest import PHOTOS, REPO
import cv2
import numpy as np
import pytest

from expression_recognizer_ros.core.resources import file_sha256
from expression_recognizer_ros.core.yunet_detection import (
    MODEL_SHA256,
    ModelFileError,
    padded_size,
    verified_model_path,
    YuNetConfig,
    YuNetDetector,
)

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


# FaceDetectorYN of OpenCV 4.14 on the public-domain photos at 512x512, threshold 0.8: box,
# landmarks (0.1 px) and score. Every OpenCV's dnn path must give them within a pixel.
FACE_DETECTOR_YN_414 = {
    'astronaut.png': (178.2, 62.9, 89.9, 113.3, 200.1, 101.8, 247.1, 102.6, 220.4, 124.5,
                      198.6, 142.8, 239.7, 143.6, 0.9323),
    'grace_hopper_512x512.jpg': (182.6, 104.0, 168.5, 215.0, 224.3, 174.2, 307.2, 174.2, 263.9,
                                 220.7, 227.7, 250.2, 305.9, 250.3, 0.9452),
}


@pytest.fixture(scope='module')
def real_photo_paths(real_photos):
    """The 4 group photos and the 35 portraits."""
    paths = sorted(glob.glob(os.path.join(real_photos, 'groups', '*.jpg'))
                   + glob.glob(os.path.join(real_photos, 'people', '*', '*.png')))
    assert len(paths) == 39, real_photos
    return paths


def rows(faces):
    """Faces as FaceDetectorYN's rows: box, landmarks, score."""
    return np.array([(*f.box, *f.landmarks.ravel(), f.score) for f in faces]).reshape(-1, 15)


@pytest.mark.parametrize('name', sorted(FACE_DETECTOR_YN_414))
def test_the_faces_are_those_of_face_detector_yn_on_opencv_4_14(name):
    """Runs on every OpenCV: the 2023mar model's faces do not depend on which one decodes it."""
    image = cv2.imread(os.path.join(PHOTOS, name))
    found = rows(YuNetDetector(YUNET, YuNetConfig(max_width=0)).detect(image))
    expected = np.array(FACE_DETECTOR_YN_414[name])
    assert found.shape == (1, 15)
    assert np.abs(found[0, :14] - expected[:14]).max() < 1
    assert abs(found[0, 14] - expected[14]) < 2e-3


@pytest.fixture(scope='module')
def face_detector_yn():
    """OpenCV's own decoder where it decodes this model (4.8 on)."""
    try:
        theirs = cv2.FaceDetectorYN.create(verified_model_path(YUNET), '', (64, 64), 0.5, 0.3, 50)
        theirs.detect(np.zeros((64, 64, 3), np.uint8))
    except cv2.error:   # 4.5 and 4.6 decode the 2022 model: 'Layer with requested id=-1'
        pytest.skip(f"OpenCV {cv2.__version__}'s FaceDetectorYN cannot run the 2023mar model")
    return theirs


@pytest.mark.parametrize('size', [None, (641, 479), (333, 250), (480, 360), (100, 75), (65, 49)])
@pytest.mark.parametrize('gray', [False, True])
def test_the_dnn_path_gives_face_detector_yns_faces_on_real_photos(face_detector_yn, size, gray,
                                                                   real_photo_paths):
    """
    The real group and portrait photos at their own size (all 39) and odd ones (11), in colour
    and gray, at thresholds 0.5 and 0.8: the same faces within a pixel and a thousandth of score.
    """
    theirs = face_detector_yn
    for threshold in (0.5, 0.8):
        ours = YuNetDetector(YUNET, YuNetConfig(score_threshold=threshold, max_width=0))
        theirs.setScoreThreshold(threshold)
        compared = 0
        # resized: the groups and one portrait of each person
        for path in ([p for p in real_photo_paths if 'groups' in p or p.endswith('1.png')]
                     if size else real_photo_paths):
            image = cv2.imread(path)
            if size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            if gray:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            found = rows(ours.detect(image))
            bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if gray else image
            theirs.setInputSize(bgr.shape[1::-1])
            expected = theirs.detect(bgr)[1]
            expected = np.zeros((0, 15)) if expected is None else expected
            assert len(found) == len(expected), (path, threshold)
            expected = expected[np.argsort(-expected[:, 14], kind='stable')]
            assert np.abs(found[:, :14] - expected[:, :14]).max(initial=0) < 1, path
            assert np.abs(found[:, 14] - expected[:, 14]).max(initial=0) < 1e-3, path
            compared += len(found)
        assert compared > 0


def test_the_input_is_padded_to_multiples_of_32_and_at_least_64():
    assert [padded_size(s) for s in (1, 32, 33, 64, 65, 250, 479, 480)] == \
        [64, 64, 64, 64, 96, 256, 480, 480]


def test_tiny_and_changing_sizes_give_the_same_faces_as_a_fresh_detector(astronaut):
    """
    One detector through sizes down to 8 px gives each size what a new detector gives it, and
    finds a face of 32 px (input padded to 64: at 32, OpenCV 4.14 finds none or changing ones).
    """
    face = astronaut[40:200, 150:300]
    sizes = [(40, 40), (20, 20), (32, 32), (30, 32), (64, 32), (31, 640), (8, 8), (333, 250),
             (32, 32)]
    images = [cv2.resize(astronaut, (640, 480))] + [
        cv2.resize(face, size, interpolation=cv2.INTER_AREA) for size in sizes]
    reused = YuNetDetector(YUNET, YuNetConfig(score_threshold=0.5, max_width=0))
    found = []
    for image in images:
        again = rows(reused.detect(image))
        fresh = rows(YuNetDetector(YUNET, reused.config).detect(image))
        np.testing.assert_allclose(again, fresh, atol=1e-3)
        found.append(len(again))
    assert found[:4] == [1, 1, 0, 1] and found[-1] == 1
