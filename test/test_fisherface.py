import cv2
import numpy as np
import pytest

from expression_recognizer_ros.classifiers.fisherface import FisherfaceModel, train_fisherface
from expression_recognizer_ros.core.preprocessing import prepare_batch, Preprocessing


@pytest.fixture(scope='module')
def data(small_ckplus):
    labels = sorted(set(small_ckplus.labels))
    y = np.array([labels.index(label) for label in small_ckplus.labels], dtype=np.int32)
    X = prepare_batch(small_ckplus.images, Preprocessing(size=32))
    return np.array(small_ckplus.images), X, y


@pytest.mark.parametrize('decision', ['neighbour', 'centroid', 'centroid-prior'])
def test_opencv_reads_our_file_and_predicts_like_numpy(tmp_path, data, decision):
    images, X, y = data
    train, test = np.arange(len(y)) % 4 != 0, np.arange(len(y)) % 4 == 0
    model = train_fisherface(X[train], y[train], decision=decision, pca_components=60)
    path = str(tmp_path / 'model.yml')
    model.write(path)
    recognizer = cv2.face.FisherFaceRecognizer_create()
    recognizer.read(path)
    ours, _ = model.predict(X[test])
    theirs = [recognizer.predict(cv2.resize(im, (32, 32), interpolation=cv2.INTER_AREA))[0]
              for im in images[test]]
    assert list(ours) == theirs
    assert (ours == y[test]).mean() > 0.5  # well above chance (1/7): the subspace is real


def test_neighbour_model_matches_opencvs_own_training(data):
    """On the same faces, our NumPy Fisherfaces and OpenCV's trainer give the same 1-NN answers."""
    images, X, y = data
    train, test = np.arange(len(y)) % 3 != 0, np.arange(len(y)) % 3 == 0
    small = [cv2.resize(im, (32, 32), interpolation=cv2.INTER_AREA) for im in images]
    reference = cv2.face.FisherFaceRecognizer_create()
    reference.train([small[i] for i in np.flatnonzero(train)], y[train])
    ours, _ = train_fisherface(X[train], y[train], decision='neighbour').predict(X[test])
    theirs = np.array([reference.predict(small[i])[0] for i in np.flatnonzero(test)])
    assert (ours == theirs).mean() >= 0.97


def test_prior_dimension_is_exactly_the_bayes_penalty(data):
    _, X, y = data
    plain = train_fisherface(X, y, decision='centroid')
    prior = train_fisherface(X, y, decision='centroid-prior')
    counts = np.bincount(y) / len(y)
    z = plain.project(X[:50])
    bayes = ((z[:, None, :] - plain.projections[None]) ** 2).sum(-1) - 2 * np.log(counts)[None, :]
    assert list(prior.predict(X[:50])[0]) == list(np.argmin(bayes, axis=1))


def test_round_trip_keeps_every_matrix(tmp_path, data):
    _, X, y = data
    model = train_fisherface(X, y)
    model.write(str(tmp_path / 'm.yml.gz'))
    again = FisherfaceModel.read(str(tmp_path / 'm.yml.gz'))
    np.testing.assert_allclose(again.eigenvectors, model.eigenvectors)
    np.testing.assert_array_equal(again.labels, model.labels)


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / 'bad.yml'
    path.write_text('%YAML:1.0\n---\nopencv_fisherfaces:\n   mean: [1, 2\n')
    with pytest.raises(ValueError, match='bad.yml'):
        FisherfaceModel.read(str(path))


def test_one_class_is_refused(data):
    _, X, _ = data
    with pytest.raises(ValueError, match='two classes'):
        train_fisherface(X[:10], np.zeros(10, np.int32))


@pytest.mark.parametrize('spec', [Preprocessing(size=48), Preprocessing(size=48, features='hog'),
                                  Preprocessing(size=36, features='hog', hog_cell=6)])
def test_declared_dimension_is_what_preprocessing_produces(spec):
    assert prepare_batch([np.zeros((20, 30), np.uint8)], spec).shape == (1, spec.dimension)
