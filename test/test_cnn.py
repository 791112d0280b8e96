"""The CNN backend: our train-cnn command end to end (PyTorch -> ONNX -> OpenCV DNN), with the
options that trained cnn2-fer2013 (residual network, mixup, erasing, class weights, a teacher,
per-class offsets); fine-tuning from a shipped cnn.onnx with an outside teacher's soft labels
(face-api's, from peer-faceapi --soft-labels); the shipped models' accuracy through OpenCV alone;
the compact data pack; calibration maths; clear errors on a broken network file."""

import dataclasses
import importlib.util
import json
import os
import re
import shutil

from conftest import PHOTOS, REPO
import numpy as np
import pytest
from test_cli import run

from expression_recognizer_ros.classifiers.base import write_manifest
from expression_recognizer_ros.classifiers.cnn import CnnClassifier, softmax
from expression_recognizer_ros.classifiers.registry import load_classifier
from expression_recognizer_ros.core.labels import canonical
from expression_recognizer_ros.core.preprocessing import Preprocessing
from expression_recognizer_ros.core.resources import package_path
from expression_recognizer_ros.tools import peer
from expression_recognizer_ros.tools.cnn.calibration import (
    expected_calibration_error,
    fit_bias_temperature,
    fit_temperature,
)
from expression_recognizer_ros.tools.cnn.data import (
    load_training_data,
    read_soft_labels,
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
                 '--limit', '300',
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


@pytest.mark.training
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


def _soft_labels(path, dataset, classes_of_face):
    """A soft-labels file (peer-faceapi's format, face-api's class order): one class per face."""
    training = dataset.split('Training')
    faceapi = [canonical(name) for name in peer.CLASSES]
    onehot = np.eye(len(faceapi))[[faceapi.index(c) for c in classes_of_face(training.labels)]]
    rows = [int(p.rsplit(':', 1)[1]) for p in training.paths]
    peer.save_soft_labels(str(path), onehot, rows, dataset.checksum, 'test', '')
    return str(path)


@pytest.mark.training
@needs_torch
def test_train_cnn_fine_tunes_a_shipped_onnx_with_soft_labels(tiny_distilled_cnn, fer2013,
                                                              fer2013_csv, tmp_path):
    """The rebuilt ONNX is the trained network (OpenCV's logits, its PublicTest figure); soft
    labels that are the labels leave training exactly as without them; other ones change it."""
    onnx_file = str(tiny_distilled_cnn / 'cnn.onnx')
    widths, depths = ['8', '8', '16', '16'], ['0', '1', '0', '1']
    common = ['train-cnn', '--dataset', fer2013_csv, '--epochs', '1', '--limit', '300',
              '--device', 'cpu', '--init', onnx_file, '--teacher-weights', onnx_file,
              '--arch', 'res', '--widths', *widths, '--depths', *depths,
              '--teacher-arch', 'res', '--teacher-widths', *widths, '--teacher-depths', *depths]
    truth = _soft_labels(tmp_path / 'truth.npz', fer2013, lambda labels: labels)
    shifted = _soft_labels(tmp_path / 'shifted.npz', fer2013, lambda labels: [
        'disgusted' if c != 'disgusted' else 'sad' for c in labels])
    runs = {}
    for name, extra in (('plain', []), ('truth', ['--soft-labels', truth]),
                        ('shifted', ['--soft-labels', shifted, '--soft-weight', '0.5'])):
        result = run(*common, '--out', str(tmp_path / name), *extra)
        assert result.returncode == 0, result.stderr
        runs[name] = (result.stdout,
                      json.loads((tmp_path / name / 'manifest.json').read_text())['metrics'])
    stdout, metrics = runs['plain']
    difference = re.search(r'cnn\.onnx: rebuilt for PyTorch; OpenCV DNN gives its logits within '
                           r'(\S+) on 300 Training faces', stdout)
    assert difference and float(difference.group(1)) <= 1e-4, stdout
    trained = json.loads((tiny_distilled_cnn / 'manifest.json').read_text())['metrics']
    assert metrics['teachers'][0]['public_accuracy'] == pytest.approx(
        trained['calibration']['plain']['PublicTest_accuracy'], abs=1.5 / 300)
    assert 'soft_labels' not in metrics
    loss = {name: m['history'][0]['loss'] for name, (_, m) in runs.items()}
    assert loss['truth'] == pytest.approx(loss['plain'], rel=1e-4)
    assert abs(loss['shifted'] - loss['plain']) > 1e-3   # the same draws: only the targets differ
    soft = runs['shifted'][1]['soft_labels']
    assert soft['teacher'] == 'test' and soft['path'] == shifted and soft['faces'] == 28709
    assert runs['shifted'][1]['config']['soft_weight'] == 0.5


def test_soft_labels_are_matched_by_csv_row_and_class_name(fer2013, tmp_path):
    vocabulary = ['neutral', 'angry', 'disgusted', 'scared', 'happy', 'sad', 'surprised']
    path = _soft_labels(tmp_path / 'truth.npz', fer2013, lambda labels: labels)
    rows = np.flatnonzero(np.array(fer2013.usage) == 'Training')[::97]
    soft, info = read_soft_labels(path, fer2013, rows, vocabulary)
    assert np.array_equal(soft.argmax(1), [vocabulary.index(fer2013.labels[i]) for i in rows])
    assert info['faces'] == 28709 and info['checksum'].startswith('sha256:')
    public = np.flatnonzero(np.array(fer2013.usage) == 'PublicTest')[:3]
    with pytest.raises(ValueError, match='no soft labels for 3 of the 3 Training faces'):
        read_soft_labels(path, fer2013, public, vocabulary)
    other = dataclasses.replace(fer2013.subset(range(10)), checksum='md5:0')
    with pytest.raises(ValueError, match='not of this dataset'):
        read_soft_labels(path, other, np.arange(10), vocabulary)
    with pytest.raises(ValueError, match='the model has'):
        read_soft_labels(path, fer2013, rows, vocabulary[:6])


FACEAPI_DIR = os.path.join(REPO, 'scripts', 'faceapi_peer')


def _faceapi_missing():
    try:
        peer.check_install(FACEAPI_DIR)
    except RuntimeError as exc:
        return str(exc)
    return None


@pytest.mark.skipif(_faceapi_missing() is not None,
                    reason=f'face-api peer not installed: {_faceapi_missing()}')
def test_faceapi_soft_labels_are_its_answers_and_resume(fer2013, tmp_path):
    faces = fer2013.split('Training').subset(range(40))
    path, said = str(tmp_path / 'faceapi.npz'), []
    peer.write_soft_labels(faces, path, FACEAPI_DIR, chunk=16, log=said.append)
    assert said[-1] == 'face-api soft labels: 40 of 40 faces' and len(said) == 3
    with np.load(path) as f:
        p, package = f['p'], str(f['package'])
    _, answers = peer.run_faceapi([peer._colour(faces, i) for i in range(40)], 'faces',
                                  FACEAPI_DIR)
    assert np.allclose(p, [a['p'] for a in answers], atol=1e-6)
    assert package.startswith(peer.PACKAGE + '@') and np.allclose(p.sum(1), 1, atol=1e-4)
    peer.write_soft_labels(faces, path, FACEAPI_DIR, log=said.append)   # done: nothing to run
    assert len(said) == 3


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
def test_pack_and_recalibrate_commands_and_their_old_spellings(fer2013, tiny_cnn, tmp_path):
    rows = list(range(0, 200)) + list(range(28709, 28909))
    write_pack(fer2013.subset(rows), str(tmp_path / 'pack.npz'))
    # `pack` reads a pack too; the deprecated train-cnn --write-pack writes the same faces
    new = run('pack', '--dataset', str(tmp_path / 'pack.npz'), '--out', str(tmp_path / 'a.npz'))
    old = run('train-cnn', '--dataset', str(tmp_path / 'pack.npz'), '--write-pack',
              str(tmp_path / 'b.npz'))
    assert new.returncode == 0 and old.returncode == 0, new.stderr + old.stderr
    assert 'deprecated' in old.stderr and 'deprecated' not in new.stderr
    a, b = (load_training_data(str(tmp_path / f'{n}.npz')) for n in 'ab')
    assert np.array_equal(a.images, b.images) and a.paths == b.paths == fer2013.subset(rows).paths
    cnn = tmp_path / 'cnn'
    shutil.copytree(tiny_cnn, cnn)
    result = run('recalibrate', '--dataset', str(tmp_path / 'pack.npz'), '--models', str(cnn))
    assert result.returncode == 0, result.stderr
    with open(cnn / 'manifest.json') as f:
        info = json.load(f)['metrics']['recalibration']
    assert info['command'].startswith('expression-recognizer recalibrate ')
    assert 0 <= info['PublicTest_accuracy_after'] <= 1 and len(info['bias']) == 7
    old = run('train-cnn', '--dataset', str(tmp_path / 'pack.npz'), '--recalibrate', str(cnn))
    assert old.returncode == 0 and 'deprecated' in old.stderr, old.stderr
    # errors are one line on stderr, exit status 2
    for args in (['recalibrate', '--dataset', str(tmp_path / 'pack.npz'), '--models',
                  'fisherface-ckplus'],
                 ['train-cnn', '--dataset', str(tmp_path / 'pack.npz')]):
        result = run(*args)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, args
        assert 'error: ' in result.stderr and ('--out is required' in result.stderr
                                               or 'for CNN models' in result.stderr)


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


@pytest.mark.parametrize('balance', [0.0, 0.5, 1.0])
def test_bias_fit_recovers_class_offsets(balance):
    """With classes weighed by count ** -b, the offsets lose b x the log of the class prior."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (6000, 4))
    offsets = np.array([0.8, -0.4, 0.0, -0.4])
    truth = np.array([rng.choice(4, p=p) for p in softmax(logits + offsets)])
    temperature, bias = fit_bias_temperature(logits, truth, balance)
    expected = offsets - balance * np.log(np.bincount(truth))
    assert temperature == pytest.approx(1.0, rel=0.1)
    np.testing.assert_allclose(bias, expected - expected.mean(), atol=0.15)


def test_temperature_fit_recovers_the_true_temperature_and_lowers_ece():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 7))
    # labels drawn at temperature 2
    truth = np.array([rng.choice(7, p=p) for p in softmax(logits / 2.0)])
    assert fit_temperature(logits, truth) == pytest.approx(2.0, rel=0.1)
    assert (expected_calibration_error(softmax(logits / 2.0), truth)
            < 0.03
            < expected_calibration_error(softmax(logits), truth))
