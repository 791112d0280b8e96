"""
Calibration of a trained CNN's logits on held-out labels: temperature, per-class offsets, their
cross-validation, the expected calibration error, and ``recalibrate`` of a shipped model.
"""

import math

import numpy as np

from ...classifiers.cnn import CnnClassifier


def _nll(z, truth, weight=1.0):
    """Mean (weighted) negative log-likelihood of the labels ``truth`` under the logits ``z``."""
    z = z - z.max(axis=1, keepdims=True)
    return float(np.mean(weight * (np.log(np.exp(z).sum(axis=1))
                                   - z[np.arange(len(truth)), truth])))


def fit_temperature(logits, truth) -> float:
    """The temperature minimizing the negative log-likelihood of held-out labels."""
    from scipy.optimize import minimize_scalar

    def nll(log_t):
        return _nll(logits / math.exp(log_t), truth)
    return math.exp(minimize_scalar(nll, bounds=(-3, 3), method='bounded').x)


def class_weights(counts, balance) -> np.ndarray:
    """Each class's weight ~ its (maybe weighted) count ** -balance; faces' mean weight 1."""
    counts = np.asarray(counts)
    per_class = np.maximum(counts, 1e-9) ** -float(balance)
    per_class /= (counts * per_class).sum() / counts.sum()
    return per_class


def fit_bias_temperature(logits, truth, balance=0.0) -> tuple[float, np.ndarray]:
    """
    One logit offset per class (mean zero) and a temperature, minimizing the negative
    log-likelihood of held-out labels ("bias-corrected temperature scaling"): corrects the class
    prior as well as the scale. ``balance`` b weighs each face by its class's count ** -b, so the
    offsets aim at the held-out prior flattened by that power (0: the prior as it is; 1: every
    class alike), for faces whose classes are not FER2013's mix.
    """
    from scipy.optimize import minimize
    weight = class_weights(np.bincount(truth, minlength=logits.shape[1]), balance)[truth]

    def nll(p):
        return _nll((logits + p[1:]) / math.exp(p[0]), truth, weight)
    p = minimize(nll, np.zeros(1 + logits.shape[1]), method='L-BFGS-B').x
    return math.exp(p[0]), p[1:] - p[1:].mean()


def bias_cross_validation(logits, truth, repeats=5, seed=0) -> dict:
    """
    Accuracy without and with the fitted offsets, each half of the faces scored by a fit on the
    other half (``repeats`` random halvings): whether the offsets help faces they were not fitted
    on.
    """
    rng, scores = np.random.default_rng(seed), []
    for _ in range(repeats):
        halves = np.array_split(rng.permutation(len(truth)), 2)
        for fit_on, score_on in ((0, 1), (1, 0)):
            _, bias = fit_bias_temperature(logits[halves[fit_on]], truth[halves[fit_on]])
            z, t = logits[halves[score_on]], truth[halves[score_on]]
            scores.append(((z.argmax(1) == t).mean(), ((z + bias).argmax(1) == t).mean()))
    plain, with_bias = np.mean(scores, axis=0)
    return {'plain_accuracy': float(plain), 'bias_accuracy': float(with_bias),
            'halvings': 2 * repeats}


def recalibrate(model_dir, dataset, command='', log=print) -> dict:
    """
    Fit temperature and per-class offsets of a trained CNN on PublicTest through OpenCV's DNN
    alone, and write them into its manifest (no PyTorch needed; the network file is unchanged).
    """
    from ...classifiers.base import write_manifest
    from ...classifiers.registry import load_classifier
    model = load_classifier(model_dir)
    if not isinstance(model, CnnClassifier):
        raise ValueError(f'{model_dir}: --recalibrate is for CNN models')
    public = [i for i, u in enumerate(dataset.usage or []) if u == 'PublicTest']
    if not public:
        raise ValueError('--recalibrate needs FER2013 PublicTest faces')
    truth = np.array([model.labels.index(dataset.labels[i]) for i in public])
    logits = model.logits(model.features(list(dataset.images[public])))
    temperature, bias = fit_bias_temperature(logits, truth)
    check = bias_cross_validation(logits, truth)
    info = {'command': command, 'temperature': temperature,
            'bias': dict(zip(model.labels, bias.tolist())),
            'PublicTest_accuracy_before': float((logits.argmax(1) == truth).mean()),
            'PublicTest_accuracy_after': float(((logits + bias).argmax(1) == truth).mean()),
            'PublicTest_2fold': check}
    log(f'temperature {temperature:.3f}, offsets {np.round(bias, 3).tolist()}; PublicTest '
        f'{info["PublicTest_accuracy_before"]:.4f} -> '
        f'{info["PublicTest_accuracy_after"]:.4f}; 2-fold on '
        f'PublicTest {check["plain_accuracy"]:.4f} -> {check["bias_accuracy"]:.4f}')
    manifest = dict(model.manifest, files=[entry['file'] for entry in model.manifest['files']])
    manifest['cnn'] = dict(manifest['cnn'], temperature=temperature, bias=[float(b) for b in bias])
    manifest['metrics'] = dict(manifest['metrics'], recalibration=info)
    write_manifest(model_dir, manifest)
    return info


def expected_calibration_error(probabilities, truth, bins=15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(correct[which == b].mean() - confidence[which == b].mean())
                     * (which == b).mean()
                     for b in range(bins) if (which == b).any()))
