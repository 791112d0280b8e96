import json
import os
import shutil

import numpy as np
import pytest

from expression_recognizer_ros.classifiers.ensemble import train_ensemble
from expression_recognizer_ros.classifiers.registry import load_classifier
from expression_recognizer_ros.core.preprocessing import prepare_batch, Preprocessing

SPEC = Preprocessing(size=32, equalize=True, features='hog')


@pytest.fixture(scope='module')
def trained(small_ckplus, tmp_path_factory):
    labels = sorted(set(small_ckplus.labels))
    y = np.array([labels.index(label) for label in small_ckplus.labels])
    X = prepare_batch(small_ckplus.images, SPEC)
    ensemble = train_ensemble(X, y, labels, SPEC, n_models=5, fraction=0.8, seed=3,
                              pca_components=60)
    model_dir = str(tmp_path_factory.mktemp('model'))
    ensemble.save(model_dir, {'id': 'test-model'})
    return ensemble, model_dir, small_ckplus


def test_round_trip_gives_identical_predictions(trained):
    ensemble, model_dir, data = trained
    loaded = load_classifier(model_dir)
    assert loaded.labels == ensemble.labels and loaded.id == 'test-model'
    assert loaded.predict(data.images[:60]) == ensemble.predict(data.images[:60])


def test_prediction_carries_votes_and_confidence(trained):
    ensemble, _, data = trained
    for p in ensemble.predict(data.images[:20]):
        assert sum(p.scores) == 5
        assert p.confidence == p.scores[ensemble.labels.index(p.label)] / 5
        assert max(p.scores) == p.scores[ensemble.labels.index(p.label)]


def test_the_classifier_contract_says_who_votes(trained):
    """The node and held_out read n_models, Prediction.votes and predict_members, never the
    backend type."""
    from expression_recognizer_ros.classifiers.base import Classifier
    from expression_recognizer_ros.classifiers.svm import train_linear_svm
    ensemble, _, data = trained
    X = ensemble.features(data.images[::10])
    predictions, members = ensemble.predict_members(X)
    assert isinstance(ensemble, Classifier) and ensemble.n_models == 5
    assert members.shape == (len(X), 5)
    assert predictions == ensemble.predict_vectors(X)
    assert all(p.votes == p.scores and sum(p.votes) == 5 for p in predictions)
    labels = sorted(set(data.labels))
    svm = train_linear_svm(X, [labels.index(label) for label in data.labels[::10]], labels, SPEC)
    svm_predictions, svm_members = svm.predict_members(X)
    assert isinstance(svm, Classifier) and svm.n_models == 1 and svm_members is None
    assert all(p.votes is None for p in svm_predictions)


def test_members_see_different_subsets_from_a_recorded_seed(trained, small_ckplus):
    ensemble, _, _ = trained
    means = [m.mean for m in ensemble.members]
    assert not np.allclose(means[0], means[1])
    labels = sorted(set(small_ckplus.labels))
    y = np.array([labels.index(label) for label in small_ckplus.labels])
    again = train_ensemble(prepare_batch(small_ckplus.images, SPEC), y, labels, SPEC, 5, 0.8, 3,
                           pca_components=60)
    # the same subsets, the same projection to float32 rounding (OpenCV 4.5's LDA: 7th digit)
    np.testing.assert_allclose(again.members[4].eigenvectors, ensemble.members[4].eigenvectors,
                               rtol=1e-4, atol=1e-6)


def test_vote_majority_and_tie_break(trained):
    ensemble, _, _ = trained
    n = len(ensemble.labels)
    assert ensemble._vote(np.array([1, 1, 2, 0, 1]), np.ones(5)).label == ensemble.labels[1]
    # 2 votes each for labels 0 and 2: the label whose voters were nearer on average wins...
    tie = ensemble._vote(np.array([0, 2, 0, 2, 1]), np.array([5.0, 1.0, 5.0, 1.0, 0.1]))
    assert tie.label == ensemble.labels[2] and tie.confidence == 0.4
    assert tie.scores == tuple(2 if i in (0, 2) else 1 if i == 1 else 0 for i in range(n))
    # ...and at equal distance, the first in label order.
    assert ensemble._vote(np.array([2, 0, 2, 0, 1]), np.ones(5)).label == ensemble.labels[0]


def _copy(model_dir, tmp_path):
    target = str(tmp_path / 'copy')
    shutil.copytree(model_dir, target)
    return target


def test_missing_manifest(trained, tmp_path):
    target = _copy(trained[1], tmp_path)
    os.remove(os.path.join(target, 'manifest.json'))
    with pytest.raises(ValueError, match='no manifest.json'):
        load_classifier(target)


def test_corrupt_model_file_fails_its_checksum(trained, tmp_path):
    target = _copy(trained[1], tmp_path)
    with open(os.path.join(target, 'fisherface_02.yml'), 'r+b') as f:
        f.seek(500)
        f.write(b'9999')
    with pytest.raises(ValueError, match='fisherface_02.yml does not match its checksum'):
        load_classifier(target)


def test_missing_model_file(trained, tmp_path):
    target = _copy(trained[1], tmp_path)
    os.remove(os.path.join(target, 'fisherface_01.yml'))
    with pytest.raises(ValueError, match='fisherface_01.yml is missing'):
        load_classifier(target)


@pytest.mark.parametrize('change, message', [
    (lambda m: m['preprocessing'].update(size=48), 'does not match the manifest preprocessing'),
    (lambda m: m.update(labels=m['labels'][:3]), 'outside the manifest labels'),
    (lambda m: m.update(ensemble={'n_models': 7}), 'says 7 models'),
    (lambda m: m.update(backend='magic'), 'unknown backend'),
    (lambda m: m.pop('labels'), 'missing fields'),
])
def test_manifest_inconsistent_with_models(trained, tmp_path, change, message):
    target = _copy(trained[1], tmp_path)
    path = os.path.join(target, 'manifest.json')
    with open(path) as f:
        manifest = json.load(f)
    change(manifest)
    with open(path, 'w') as f:
        json.dump(manifest, f)
    with pytest.raises(ValueError, match=message):
        load_classifier(target)


def test_unparseable_manifest(trained, tmp_path):
    target = _copy(trained[1], tmp_path)
    with open(os.path.join(target, 'manifest.json'), 'w') as f:
        f.write('{"labels": [')
    with pytest.raises(ValueError, match='unreadable manifest'):
        load_classifier(target)
