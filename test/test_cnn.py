"""The CNN backend: our train-cnn command end to end (PyTorch -> ONNX -> OpenCV DNN), with the
options that trained cnn2-fer2013 (residual network, mixup, erasing, class weights, a teacher,
per-class offsets); the shipped models' accuracy through OpenCV alone; the compact data pack;
calibration maths; clear errors on a broken network file."""

import importlib.util
import json
import shutil

from conftest import PHOTOS
import numpy as np
import pytest
from test_cli import run

from expression_recognizer_ros.classifiers.base import write_manifest
from expression_recognizer_ros.classifiers.cnn import CnnClassifier, softmax
from expression_recognizer_ros.classifiers.registry import load_classifier
from expression_recognizer_ros.core.preprocessing import Preprocessing
from expression_recognizer_ros.core.resources import package_path
from expression_recognizer_ros.tools.cnn_training import (
    expected_calibration_error,
    fit_bias_temperature,
    fit_temperature,
    load_training_data,
    write_pack,
)

# train-cnn needs PyTorch (make test installs it); make test-humble runs without it
needs_torch = pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                                 reason='PyTorch missing: pip install -r requirements-train.txt')


@pytest.fixture(scope='module')
def tiny_cnn(tmp_path_factory, fer2013_csv):
    out = tmp_path_factory.mktemp('models') / 'tiny-cnn'
    result = run('train-cnn', '--dataset', fer2013_csv, '--out', str(out), '--epochs', '1',
                 '--limit', '2000', '--widths', '8', '16', '16', '32')
    assert result.returncode == 0, result.stderr
    return out


@needs_torch
def test_train_cnn_writes_a_model_opencv_runs(tiny_cnn):
    manifest = json.loads((tiny_cnn / 'manifest.json').read_text())
    assert manifest['backend'] == CnnClassifier.BACKEND and manifest['versions']['torch']
    assert manifest['metrics']['onnx_check']['same_label'] >= 0.99
    model = load_classifier(str(tiny_cnn))
    result = run('classify', f'{PHOTOS}/astronaut.png', '--models', str(tiny_cnn))
    assert result.returncode == 0, result.stderr
    assert any(f'{label} (confidence' in result.stdout for label in model.labels)


@pytest.fixture(scope='module')
def tiny_distilled_cnn(tmp_path_factory, fer2013_csv):
    """The options cnn2-fer2013 was trained with, tiny: one teacher, one epoch each, on the CPU."""
    out = tmp_path_factory.mktemp('models') / 'tiny-res'
    result = run('train-cnn', '--dataset', fer2013_csv, '--out', str(out), '--epochs', '1',
                 '--limit', '600',
                 '--arch', 'res', '--widths', '8', '8', '16', '16', '--depths', '0', '1', '0', '1',
                 '--teachers', '1', '--teacher-widths', '8', '8', '8', '8',
                 '--teacher-depths', '1', '0', '0', '0',
                 '--mixup', '0.2', '--erase', '0.25', '--balance', '0.25', '--batch-size', '128',
                 '--calibrate-bias', '--device', 'cpu', '--checkpoints', str(out.parent / 'ck'))
    assert result.returncode == 0, result.stderr
    return out


@needs_torch
def test_train_cnn_distilled_residual_network_runs_in_opencv(tiny_distilled_cnn):
    manifest = json.loads((tiny_distilled_cnn / 'manifest.json').read_text())
    metrics = manifest['metrics']
    assert (metrics['gpu'] is False and metrics['device'] == 'cpu'
            and len(metrics['teachers']) == 1)
    assert (metrics['onnx_check']['same_label'] >= 0.99
            and manifest['cnn']['architecture'].startswith('residual'))
    assert len(manifest['cnn']['bias']) == len(manifest['labels'])
    model = load_classifier(str(tiny_distilled_cnn))
    assert (model.bias is not None
            and model.predict([np.full((48, 48), 128, np.uint8)])[0].label in model.labels)


@needs_torch
def test_train_cnn_fine_tunes_and_distills_from_checkpoints(tiny_distilled_cnn, fer2013_csv,
                                                             tmp_path):
    student = tiny_distilled_cnn.parent / 'ck' / 'student.pt'
    same = ['--arch', 'res', '--widths', '8', '8', '16', '16', '--depths', '0', '1', '0', '1']
    common = ['train-cnn', '--dataset', fer2013_csv, '--epochs', '1', '--limit', '300',
              '--device', 'cpu', '--init', str(student)]
    # self-distillation: the same checkpoint is also the teacher
    result = run(*common, '--out', str(tmp_path / 'tuned'), *same, '--teacher-weights',
                 str(student), '--teacher-arch', 'res', '--teacher-widths', '8', '8', '16', '16',
                 '--teacher-depths', '0', '1', '0', '1')
    assert result.returncode == 0, result.stderr
    assert f'student starts from {student}' in result.stdout
    assert f'teacher from {student}: PublicTest' in result.stdout
    manifest = json.loads((tmp_path / 'tuned' / 'manifest.json').read_text())
    assert manifest['metrics']['teachers'][0]['weights'] == str(student)
    # a student checkpoint of another shape fails before any teacher trains
    wrong = run(*common, '--out', str(tmp_path / 'wrong'), '--widths', '8', '16', '16', '32',
                '--teachers', '1', '--teacher-widths', '8', '8', '8', '8',
                '--teacher-depths', '1', '0', '0', '0')
    assert wrong.returncode == 2 and 'is not a checkpoint of this network' in wrong.stderr
    assert 'teacher1' not in wrong.stdout and not (tmp_path / 'wrong').exists()
    text = tmp_path / 'not-weights.pt'
    text.write_text('not a checkpoint')
    broken = run(*common[:-1], str(text), '--out', str(tmp_path / 'broken'), *same)
    assert broken.returncode == 2 and 'is not a checkpoint of this network' in broken.stderr
    folder = student.parent
    overwrite = run(*common, '--out', str(tmp_path / 'over'), *same, '--checkpoints', str(folder))
    assert overwrite.returncode == 2 and 'would overwrite' in overwrite.stderr


@pytest.mark.parametrize('name, figure', [('cnn-fer2013', ('metrics', 'PrivateTest')),
                                          ('cnn2-fer2013', ('evaluation', 'PrivateTest'))])
def test_shipped_cnn_on_privatetest_through_opencv_alone(fer2013, name, figure):
    model = load_classifier(package_path('models', name))
    test = fer2013.split('PrivateTest')
    predictions = model.predict(list(test.images))
    accuracy = np.mean([p.label == t for p, t in zip(predictions, test.labels)])
    assert accuracy == pytest.approx(model.manifest[figure[0]][figure[1]]['accuracy'], abs=0.002)
    assert all(abs(sum(p.scores) - 1) < 1e-4 for p in predictions[:50])


def test_cnn2_manifest_says_how_it_was_made():
    """Loading checks the network's SHA-256; the manifest names the data, the command and the
    GPU."""
    model = load_classifier(package_path('models', 'cnn2-fer2013'))
    manifest = model.manifest
    assert manifest['dataset']['checksum'] == 'md5:f8428a1edbd21e88f42c73edd2a14f95'
    assert manifest['training_command'].startswith('expression-recognizer train-cnn ')
    assert manifest['metrics']['gpu'] is True and manifest['versions']['torch']
    assert manifest['metrics']['recalibration']['command'].startswith(
        'expression-recognizer train-cnn ')
    assert model.bias is not None and model.flip is False and not model.manifest['cnn'].get('flip')


def test_data_pack_is_lossless(fer2013, tmp_path):
    # PrivateTest stays out
    rows = list(range(0, 300)) + list(range(28709, 28809)) + list(range(32298, 32310))
    part = fer2013.subset(rows)
    write_pack(part, str(tmp_path / 'pack.npz'))
    back = load_training_data(str(tmp_path / 'pack.npz'))
    assert len(back) == 400 and back.checksum == fer2013.checksum
    assert np.array_equal(back.images, part.images[:400]) and back.labels == part.labels[:400]
    assert back.usage == part.usage[:400] and back.paths == part.paths[:400]
    assert not back.aligned
    # a pack of realigned faces says so, and --align refuses to align them twice
    from expression_recognizer_ros.tools.datasets import realign
    aligned, _ = realign(part.subset(range(40)), log=None)
    write_pack(aligned, str(tmp_path / 'aligned.npz'))
    assert load_training_data(str(tmp_path / 'aligned.npz')).aligned
    again = run('train-cnn', '--dataset', str(tmp_path / 'aligned.npz'), '--align', '--out',
                str(tmp_path / 'twice'))
    assert again.returncode == 2 and 'aligned already' in again.stderr


@needs_torch
def test_broken_network_file_is_a_clear_error(tiny_cnn, tmp_path):
    broken = tmp_path / 'broken'
    shutil.copytree(tiny_cnn, broken)
    (broken / 'cnn.onnx').write_bytes(b'not a network')
    with pytest.raises(ValueError, match='checksum'):
        load_classifier(str(broken))
    # a consistent manifest for the junk
    manifest = json.loads((broken / 'manifest.json').read_text())
    manifest.update(preprocessing=Preprocessing.from_dict(manifest['preprocessing']),
                    files=[entry['file'] for entry in manifest['files']])
    write_manifest(str(broken), manifest)
    with pytest.raises(ValueError, match='OpenCV cannot read'):
        load_classifier(str(broken))


def test_bias_fit_recovers_class_offsets():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (6000, 4))
    offsets = np.array([0.8, -0.4, 0.0, -0.4])
    truth = np.array([rng.choice(4, p=p) for p in softmax(logits + offsets)])
    temperature, bias = fit_bias_temperature(logits, truth)
    assert temperature == pytest.approx(1.0, rel=0.1) and np.allclose(bias, offsets, atol=0.15)


def test_temperature_fit_recovers_the_true_temperature_and_lowers_ece():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 7))
    # labels drawn at temperature 2
    truth = np.array([rng.choice(7, p=p) for p in softmax(logits / 2.0)])
    assert fit_temperature(logits, truth) == pytest.approx(2.0, rel=0.1)
    assert (expected_calibration_error(softmax(logits / 2.0), truth)
            < 0.03
            < expected_calibration_error(softmax(logits), truth))
