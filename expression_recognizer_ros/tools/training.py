"""
Training a model directory from a dataset, with an honest held-out figure.

FER2013: fit on Training, report on PublicTest and PrivateTest. Folder datasets: k-fold by subject
where file names carry subject ids (frames of one person never on both sides), then fit on all.
"""

from dataclasses import asdict, dataclass

import numpy as np

from .datasets import align_faces, crop_faces, Dataset, subject_folds
from ..classifiers.base import Classifier
from ..classifiers.ensemble import train_ensemble
from ..classifiers.svm import train_linear_svm
from ..core.haar_detection import HaarCascadeDetector, STILL_IMAGES
from ..core.labels import CANONICAL
from ..core.pipeline import HAAR_FALLBACK, YUNET
from ..core.preprocessing import prepare_batch, Preprocessing

CLASSIFIERS = ('fisherface', 'svm')


@dataclass
class TrainConfig:
    """What ``train`` trains and how it validates (recorded in its metrics)."""

    classifier: str = 'fisherface'
    models: int = 10
    fraction: float = 0.8
    seed: int = 0
    decision: str = 'centroid-prior'
    pca: int = 0
    folds: int = 5
    detect_faces: bool = False
    # with detect_faces: 'yunet' (aligned, as the recognizer frames faces) or 'haar_fallback'
    detector: str = YUNET
    min_std: float = 1.0   # training faces flatter than this (blank frames) are dropped


def model_labels(labels) -> list[str]:
    """The labels a model predicts, in canonical order; unknown names are refused, not guessed."""
    unknown = sorted(set(labels) - set(CANONICAL))
    if unknown:
        raise ValueError(f'unknown labels {unknown}; known: {list(CANONICAL)} (and their aliases)')
    return [label for label in CANONICAL if label in set(labels)]


def fit(faces, labels, vocabulary, preprocessing, config) -> Classifier:
    """Train the configured classifier on cropped faces with canonical labels."""
    X = prepare_batch(faces, preprocessing)
    index = {label: i for i, label in enumerate(vocabulary)}
    y = np.array([index[label] for label in labels], dtype=np.int32)
    if config.classifier == 'svm':
        return train_linear_svm(X, y, vocabulary, preprocessing, seed=config.seed)
    if config.classifier != 'fisherface':
        raise ValueError(f'classifier must be one of {CLASSIFIERS}, got {config.classifier!r}')
    return train_ensemble(X, y, vocabulary, preprocessing, config.models, config.fraction,
                          config.seed, config.decision, config.pca)


def held_out(model, faces, labels) -> dict:
    """Accuracy of the model and of each ensemble member on faces it did not train on."""
    X = model.features(faces)
    truth = np.array(labels)
    result = {'n': len(truth)}
    predictions, votes = model.predict_members(X)
    if votes is not None:
        names = np.array(model.labels)
        result['member_accuracy'] = [float((names[votes[:, j]] == truth).mean())
                                     for j in range(votes.shape[1])]
    predicted = np.array([p.label for p in predictions])
    result.update(accuracy=float((predicted == truth).mean()), predicted=predicted.tolist())
    return result


def drop_blank(dataset, min_std, log) -> Dataset:
    """Leave out blank frames: images whose pixel std is below ``min_std``."""
    keep = [i for i, image in enumerate(dataset.images) if float(np.std(image)) >= min_std]
    if len(keep) < len(dataset):
        log(f'dropped {len(dataset) - len(keep)} blank training images (pixel std < {min_std})')
    return dataset.subset(keep)


def train(dataset, preprocessing=Preprocessing(), config=TrainConfig(),
          log=print) -> tuple[Classifier, dict]:
    """Return (model, metrics); the model is fitted on all the training data."""
    metrics = {'config': asdict(config)}
    if dataset.skipped:
        log(f'skipped {len(dataset.skipped)} unreadable files, '
            f'e.g. {dataset.skipped[0][0]}: {dataset.skipped[0][1]}')
        metrics['skipped_files'] = len(dataset.skipped)
    if config.detect_faces:
        if config.detector == HAAR_FALLBACK:
            dataset, missing = crop_faces(dataset, HaarCascadeDetector(STILL_IMAGES),
                                          preprocessing.margin)
        else:
            dataset, missing = align_faces(dataset)
        rule = 'no single face' if config.detector == HAAR_FALLBACK else 'no face'
        log(f'detected faces ({config.detector}): {len(dataset)}; '
            f'{rule} found in {len(missing)} images (left out)')
        metrics['no_face'] = len(missing)
    vocabulary = model_labels(dataset.labels)
    if dataset.usage is not None:
        train_set = drop_blank(dataset.split('Training'), config.min_std, log)
        log(f'training on {len(train_set)} FER2013 Training faces, labels {vocabulary}')
        model = fit(train_set.images, train_set.labels, vocabulary, preprocessing, config)
        for split in ('PublicTest', 'PrivateTest'):
            test = dataset.split(split)
            result = held_out(model, test.images, test.labels)
            result.pop('predicted')
            metrics[split] = result
            log(_summary(split, result))
        metrics['n_train'] = len(train_set)
        return model, metrics
    dataset = drop_blank(dataset, config.min_std, log)
    if dataset.subjects is not None:
        folds = subject_folds(dataset.subjects, config.folds, config.seed)
        how = f'{config.folds}-fold by subject ({len(set(dataset.subjects))} subjects)'
    else:
        log('WARNING: no subject ids in the file names; an image-level split overstates '
            'accuracy when a person appears in both parts (use --subject-pattern)')
        order = np.random.default_rng(config.seed).permutation(len(dataset))
        folds = np.array_split(order, config.folds)
        how = f'{config.folds}-fold by image (subjects unknown)'
    predicted = np.empty(len(dataset), dtype=object)
    member_hits = []
    for k, test_idx in enumerate(folds):
        train_idx = np.setdiff1d(np.arange(len(dataset)), test_idx)
        part, test = dataset.subset(train_idx), dataset.subset(test_idx)
        model = fit(part.images, part.labels, vocabulary, preprocessing, config)
        result = held_out(model, test.images, test.labels)
        predicted[test_idx] = result['predicted']
        if 'member_accuracy' in result:
            member_hits.append(np.array(result['member_accuracy']) * len(test_idx))
        log(f'fold {k + 1}/{len(folds)}: {result["accuracy"]:.3f} on {len(test_idx)} faces')
    truth = np.array(dataset.labels)
    cv = {'method': how, 'n': len(dataset), 'accuracy': float((predicted == truth).mean())}
    if member_hits:
        cv['member_accuracy'] = (np.sum(member_hits, axis=0) / len(dataset)).tolist()
    metrics['cross_validation'] = cv
    log(_summary(how, cv))
    model = fit(dataset.images, dataset.labels, vocabulary, preprocessing, config)
    metrics['n_train'] = len(dataset)
    return model, metrics


def _summary(name, result):
    text = f'{name}: accuracy {result["accuracy"]:.3f} (n={result["n"]})'
    if 'member_accuracy' in result:
        member = result['member_accuracy']
        text += (f'; single models {min(member):.3f}..{max(member):.3f} '
                 f'(mean {np.mean(member):.3f})')
    return text
