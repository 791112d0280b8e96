"""The CNN backend: our train-cnn command end to end (PyTorch -> ONNX -> OpenCV DNN), the shipped
model's accuracy through OpenCV alone, calibration maths, and clear errors on a broken network file."""

import json
import shutil

import numpy as np
import pytest
from test_cli import run

from conftest import FER2013, PHOTOS
from expression_recognizer_ros.classifiers.base import write_manifest
from expression_recognizer_ros.classifiers.registry import load_classifier
from expression_recognizer_ros.classifiers.cnn import CnnClassifier, softmax
from expression_recognizer_ros.tools.cnn_training import expected_calibration_error, fit_temperature
from expression_recognizer_ros.core.preprocessing import Preprocessing
from expression_recognizer_ros.core.resources import package_path


@pytest.fixture(scope='module')
def tiny_cnn(tmp_path_factory):
    out = tmp_path_factory.mktemp('models') / 'tiny-cnn'
    result = run('train-cnn', '--dataset', FER2013, '--out', str(out), '--epochs', '1', '--limit', '2000',
                 '--widths', '8', '16', '16', '32')
    assert result.returncode == 0, result.stderr
    return out


def test_train_cnn_writes_a_model_opencv_runs(tiny_cnn):
    manifest = json.loads((tiny_cnn / 'manifest.json').read_text())
    assert manifest['backend'] == CnnClassifier.BACKEND and manifest['versions']['torch']
    assert manifest['metrics']['onnx_check']['same_label'] >= 0.99
    model = load_classifier(str(tiny_cnn))
    result = run('classify', f'{PHOTOS}/astronaut.png', '--models', str(tiny_cnn))
    assert result.returncode == 0, result.stderr
    assert any(f'{label} (confidence' in result.stdout for label in model.labels)


def test_shipped_cnn_on_privatetest_through_opencv_alone(fer2013):
    model = load_classifier(package_path('models', 'cnn-fer2013'))
    test = fer2013.split('PrivateTest')
    predictions = model.predict(list(test.images))
    accuracy = np.mean([p.label == t for p, t in zip(predictions, test.labels)])
    assert accuracy == pytest.approx(model.manifest['metrics']['PrivateTest']['accuracy'], abs=0.002)
    assert all(abs(sum(p.scores) - 1) < 1e-4 for p in predictions[:50])


def test_broken_network_file_is_a_clear_error(tiny_cnn, tmp_path):
    broken = tmp_path / 'broken'
    shutil.copytree(tiny_cnn, broken)
    (broken / 'cnn.onnx').write_bytes(b'not a network')
    with pytest.raises(ValueError, match='checksum'):
        load_classifier(str(broken))
    manifest = json.loads((broken / 'manifest.json').read_text())   # a consistent manifest for the junk
    manifest.update(preprocessing=Preprocessing.from_dict(manifest['preprocessing']),
                    files=[entry['file'] for entry in manifest['files']])
    write_manifest(str(broken), manifest)
    with pytest.raises(ValueError, match='OpenCV cannot read'):
        load_classifier(str(broken))


def test_temperature_fit_recovers_the_true_temperature_and_lowers_ece():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 7))
    truth = np.array([rng.choice(7, p=p) for p in softmax(logits / 2.0)])  # labels drawn at temperature 2
    assert fit_temperature(logits, truth) == pytest.approx(2.0, rel=0.1)
    assert expected_calibration_error(softmax(logits / 2.0), truth) < 0.03 < expected_calibration_error(
        softmax(logits), truth)
