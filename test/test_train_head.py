"""
``train-head`` on a small real subset: cnn2-fer2013's last layer refitted with CK+48's posed faces,
scored by subject-independent folds, written as a model OpenCV runs; and the fit's maths.
"""

import importlib.util
import json
import os

import cv2
import numpy as np
import pytest
from scipy.optimize import check_grad
from test_cli import run

from expression_recognizer_ros.classifiers.registry import load_classifier
from expression_recognizer_ros.core.resources import file_sha256, package_path
from expression_recognizer_ros.tools import datasets
from expression_recognizer_ros.tools.cnn.calibration import fit_bias_temperature
from expression_recognizer_ros.tools.cnn.head import (
    Faces,
    FeatureExtractor,
    fit_head,
    head_loss,
    keeping_base,
    read_params,
)

pytestmark = pytest.mark.skipif(importlib.util.find_spec('onnx') is None,
                                reason='onnx missing: pip install -r requirements-train.txt')
BASE = package_path('models', 'cnn2-fer2013')


@pytest.fixture(scope='module')
def head_model(tmp_path_factory, fer2013_csv, ckplus_dir, yale_dir):
    out = tmp_path_factory.mktemp('models') / 'posed-tiny'
    metrics = out.parent / 'metrics.json'
    result = run('train-head', '--base', BASE, '--fer2013', fer2013_csv,
                 '--posed', f'ckplus={ckplus_dir}', '--posed-photos', f'yale={yale_dir}',
                 '--limit', '200', '--folds', '3',
                 '--posed-weight', '3', '--balance', '0.5', '--offset-balance', '0.5',
                 '--out', str(out),
                 '--json', str(metrics))
    assert result.returncode == 0, result.stderr
    return out, json.loads(metrics.read_text()), result.stdout


def test_rebuilt_network_gives_the_heads_logits_through_opencv(head_model, fer2013):
    out, metrics, _ = head_model
    model = load_classifier(str(out))
    _, base_head, layer = read_params(os.path.join(BASE, 'cnn.onnx'))
    _, new_head, _ = read_params(str(out / 'cnn.onnx'))
    (w_base, _), (w_new, b_new) = base_head.params.values(), new_head.params.values()
    assert np.abs(w_new - w_base).max() > 1e-3      # the head did move
    faces = fer2013.split('PrivateTest').images[:100]
    blob = model.features(list(faces))
    base_net = cv2.dnn.readNetFromONNX(os.path.join(BASE, 'cnn.onnx'))
    base_net.setInput(blob)
    features = base_net.forward(layer).reshape(len(faces), -1).astype(np.float64)
    np.testing.assert_allclose(model.logits(blob), features @ w_new.T + b_new, atol=1e-4)
    assert metrics['onnx_check']['max_abs_logit_difference'] < 1e-4


def test_only_the_last_layer_changed(head_model):
    import onnx
    out, _, _ = head_model
    base, new = onnx.load(os.path.join(BASE, 'cnn.onnx')), onnx.load(str(out / 'cnn.onnx'))
    gemm = base.graph.node[-1]
    assert [n.SerializeToString() for n in base.graph.node] == \
        [n.SerializeToString() for n in new.graph.node]
    same = {t.name: t.SerializeToString() for t in base.graph.initializer}
    changed = [t.name for t in new.graph.initializer if same[t.name] != t.SerializeToString()]
    assert changed == list(gemm.input[1:3])


def test_manifest_records_base_data_and_no_gpu(head_model, ckplus_dir, yale_dir):
    out, _, _ = head_model
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['base_model']['cnn.onnx_sha256'] == file_sha256(os.path.join(BASE,
                                                                                 'cnn.onnx'))
    assert manifest['gpu'] is False and 'train-head' in manifest['training_command']
    assert manifest['dataset']['posed']['ckplus']['checksum'] == \
        datasets.load(ckplus_dir).checksum
    assert manifest['dataset']['posed_photos']['yale']['checksum'] == \
        datasets.load(yale_dir).checksum
    assert manifest['metrics']['config']['posed_weight'] == 3
    assert len(manifest['cnn']['bias']) == len(manifest['labels'])


def test_offsets_aim_at_the_flattened_class_prior(head_model, fer2013, fer2013_csv):
    """--offset-balance 0.5: the manifest's offsets are the PublicTest fit with classes weighed
    by count ** -0.5, not the plain fit."""
    out, _, _ = head_model
    model = load_classifier(str(out))
    public = fer2013.split('PublicTest').subset(range(200))   # what --limit 200 keeps
    logits = model.logits(model.features(list(public.images)))
    truth = np.array([model.labels.index(label) for label in public.labels])
    _, flattened = fit_bias_temperature(logits, truth, 0.5)
    _, plain = fit_bias_temperature(logits, truth)
    np.testing.assert_allclose(model.bias, flattened, atol=1e-3)
    assert np.abs(model.bias - plain).max() > 0.05
    refused = run('train-head', '--base', BASE, '--fer2013', fer2013_csv, '--offset-balance',
                  '0.5', '--no-offsets')
    assert refused.returncode != 0 and 'not with --no-offsets' in refused.stderr


def test_subject_folds_never_share_a_subject(head_model):
    _, metrics, stdout = head_model
    folds = [set(f) for f in metrics['posed_kfold']['fold_subjects']]
    assert len(folds) == 3 and all(folds)
    assert sum(map(len, folds)) == len(set.union(*folds)) == metrics['posed_kfold']['subjects']
    assert {s.split(':')[0] for s in set.union(*folds)} == {'ckplus', 'yale'}
    assert metrics['posed_kfold']['groups'] == ['given', 'aligned', 'yale end to end']
    for view in metrics['posed_kfold']['groups']:
        kfold = metrics['posed_kfold'][view]
        assert kfold['n'] == kfold['base']['n'] > 0
        test = kfold['mcnemar']
        assert test['only_first_right'] - test['only_second_right'] == round(
            (kfold['accuracy'] - kfold['base']['accuracy']) * kfold['n'])
    assert '3-fold by subject' in stdout
    # the photos are trained on as the recognizer sees them: aligned, and mirrored
    photos = {k: v for k, v in metrics['n_train'].items() if k.startswith('yale')}
    assert set(photos) == {'yale:photo', 'yale:photo:mirrored'}
    assert photos['yale:photo'] == metrics['posed_kfold']['yale end to end']['n']


def test_photos_trained_on_are_not_scored_as_unseen(tmp_path, fer2013_csv, yale_dir):
    result = run('train-head', '--base', BASE, '--fer2013', fer2013_csv, '--limit', '50',
                 '--posed-photos', f'yale={yale_dir}', '--end-to-end', f'yale={yale_dir}/')
    assert result.returncode != 0
    assert 'its end-to-end figure is the k-fold one' in result.stderr
    assert 'Traceback' not in result.stderr


def test_fit_head_gradient_and_pull_towards_the_base():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6))
    y = rng.dirichlet(np.ones(3), size=50)
    faces = Faces(x, y, y.argmax(1), np.full(50, 'fer2013:Training'), np.full(50, ''))
    w0, b0 = rng.normal(size=(3, 6)), rng.normal(size=3)
    weight = rng.uniform(0.5, 2, size=50)
    moved, _ = fit_head(faces, weight, w0, b0, l2=0.0)
    held, _ = fit_head(faces, weight, w0, b0, l2=1e3)
    assert np.abs(held - w0).max() < 1e-2 < np.abs(moved - w0).max()
    p0 = np.concatenate([w0.ravel(), b0]) + rng.normal(scale=0.1, size=21)
    args = (x, y, weight / weight.sum(), w0, 0.1)
    error = check_grad(lambda p: head_loss(p, *args)[0], lambda p: head_loss(p, *args)[1], p0)
    assert error < 1e-5


def test_keep_base_softens_only_fer2013_targets_towards_the_base():
    """--keep-base: a FER2013 target moves towards the base's answer; a posed face's stays."""
    _, head, _ = read_params(os.path.join(BASE, 'cnn.onnx'))
    x = np.random.default_rng(0).normal(size=(3, 192))
    sources = np.array(['fer2013:Training', 'fer2013:Training:mirrored', 'ckplus:given'])
    faces = Faces(x, np.eye(7)[[0, 1, 2]], np.array([0, 1, 2]), sources, np.array(['', '', 's']))
    kept = keeping_base(faces, head, 0.25).target
    z = head.logits(x)
    answer = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(kept[:2], 0.75 * faces.target[:2] + 0.25 * answer[:2])
    np.testing.assert_array_equal(kept[2], faces.target[2])
    np.testing.assert_allclose(kept.sum(axis=1), 1)


@pytest.mark.training
@pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                    reason='PyTorch missing: pip install -r requirements-train.txt')
@pytest.mark.parametrize('tune, tuned, optimizer', [('block', 6, 'adamw'), ('stage', 8, 'adamw'),
                                                    ('net', 24, 'sgd')])
def test_tuned_block_goes_back_into_the_same_network(tmp_path, fer2013_csv, ckplus_dir, tune,
                                                     tuned, optimizer):
    import onnx
    out = tmp_path / tune
    result = run('train-head', '--base', BASE, '--fer2013', fer2013_csv, '--tune', tune,
                 '--posed', f'ckplus={ckplus_dir}', '--views', 'given', '--limit', '120',
                 '--folds', '2', '--epochs', '1', '--lr', '1e-3', '--optimizer', optimizer,
                 '--fer-mirror', '--posed-augment', '2', '--out', str(out),
                 '--checkpoints', str(tmp_path / 'ck'))
    assert result.returncode == 0, result.stderr
    assert f'{tune} epoch 1/1' in result.stdout and (tmp_path / 'ck' / 'block.npz').is_file()
    manifest = json.loads((out / 'manifest.json').read_text())
    n_train = manifest['metrics']['n_train']
    assert n_train['fer2013:Training:mirrored'] == n_train['fer2013:Training'] > 0
    assert n_train['ckplus:given:augmented'] == 2 * n_train['ckplus:given'] > 0
    # augmented copies are trained on, never scored: the k-fold scores each face once
    assert manifest['metrics']['posed_kfold']['given']['n'] == n_train['ckplus:given']
    assert manifest['metrics']['onnx_check']['max_abs_logit_difference'] < 1e-3
    assert manifest['versions']['torch'] and manifest['gpu'] is False
    base, new = onnx.load(os.path.join(BASE, 'cnn.onnx')), onnx.load(str(out / 'cnn.onnx'))
    same = {t.name: t.SerializeToString() for t in base.graph.initializer}
    changed = {t.name for t in new.graph.initializer if same[t.name] != t.SerializeToString()}
    _, head, _ = read_params(os.path.join(BASE, 'cnn.onnx'), tune)
    assert changed == set(head.params) and len(changed) == tuned


@pytest.mark.parametrize('name', ['cnn3-posed', 'cnn4-posed', 'cnn5-posed'])
def test_shipped_posed_models_on_privatetest_and_their_base(fer2013, name):
    """The PrivateTest figure through OpenCV alone, and the base named is the one shipped."""
    model = load_classifier(package_path('models', name))
    test = fer2013.split('PrivateTest')
    accuracy = np.mean([p.label == t for p, t in zip(model.predict(list(test.images)),
                                                        test.labels)])
    assert accuracy == pytest.approx(model.manifest['metrics']['PrivateTest']['accuracy'],
                                     abs=0.002)
    assert model.manifest['base_model']['cnn.onnx_sha256'] == file_sha256(
        os.path.join(BASE, 'cnn.onnx'))
    assert model.manifest['gpu'] is False


@pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                    reason='PyTorch missing: pip install -r requirements-train.txt')
def test_augmented_copies_are_new_faces_and_repeatable(ckplus):
    """--posed-augment: each copy differs from the face and from the other copy; a seed repeats."""
    import torch
    extract = FeatureExtractor(load_classifier(BASE), BASE, 'block')
    faces = ckplus.images[:8]
    plain = extract(faces)
    first, second = (extract(faces, augment=torch.Generator().manual_seed(0)) for _ in range(2))
    generator = torch.Generator().manual_seed(0)
    copies = [extract(faces, augment=generator) for _ in range(2)]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, copies[0])
    for a, b in ((plain, copies[0]), (copies[0], copies[1])):
        assert (np.abs(a - b).reshape(len(faces), -1).max(axis=1) > 1e-2).all()
