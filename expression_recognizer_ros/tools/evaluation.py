"""Accuracy, per-class precision/recall/F1 and the confusion matrix, as text, JSON and pictures."""

import numpy as np


def confusion_matrix(true, pred, labels) -> np.ndarray:
    """Rows: true label; columns: predicted label, in ``labels`` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(true, pred):
        matrix[index[t], index[p]] += 1
    return matrix


def report(true, pred, labels, no_face=0) -> dict:
    """
    Metrics over the faces that were classified; ``no_face`` misses count in the end-to-end
    figure.
    """
    matrix = confusion_matrix(true, pred, labels)
    n = int(matrix.sum())
    correct = int(np.trace(matrix))
    per_class = {}
    for i, label in enumerate(labels):
        tp, predicted, actual = matrix[i, i], matrix[:, i].sum(), matrix[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {'precision': float(precision), 'recall': float(recall),
                            'f1': float(f1), 'support': int(actual)}
    return {
        'accuracy': correct / n if n else 0.0,
        'accuracy_end_to_end': correct / (n + no_face) if n + no_face else 0.0,
        'n': n,
        'no_face': int(no_face),
        'labels': list(labels),
        'confusion': matrix.tolist(),
        'per_class': per_class,
    }


def format_report(result) -> str:
    """The ``report`` result as a printable table: accuracy, per-class figures, confusion."""
    labels = result['labels']
    width = max(9, max(len(label) for label in labels) + 1)
    lines = [f'accuracy {result["accuracy"]:.3f} on {result["n"]} faces']
    if result['no_face']:
        lines.append(f'end to end {result["accuracy_end_to_end"]:.3f} '
                     f'({result["no_face"]} images without exactly one face count as misses)')
    lines.append(f'{"":{width}}precision recall  f1     n')
    for label in labels:
        c = result['per_class'][label]
        lines.append(f'{label:{width}}{c["precision"]:9.3f} {c["recall"]:6.3f} '
                     f'{c["f1"]:6.3f} {c["support"]:5d}')
    lines.append('confusion (rows true, columns predicted):')
    lines.append(' ' * width + ''.join(f'{label[:6]:>7}' for label in labels))
    for label, row in zip(labels, result['confusion']):
        lines.append(f'{label:{width}}' + ''.join(f'{v:7d}' for v in row))
    return '\n'.join(lines)


def plot_report(result, path, title='') -> None:
    """Confusion heat map (row-normalised) beside per-class precision/recall bars, as one PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    labels = result['labels']
    matrix = np.array(result['confusion'], dtype=np.float64)
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    ax1.imshow(rates, cmap='Blues', vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax1.text(j, i, int(matrix[i, j]), ha='center', va='center',
                     color='white' if rates[i, j] > 0.5 else 'black', fontsize=8)
    ax1.set_xticks(range(len(labels)), labels, rotation=45, ha='right')
    ax1.set_yticks(range(len(labels)), labels)
    ax1.set_xlabel('predicted')
    ax1.set_ylabel('true')
    ax1.set_title(f'confusion (accuracy {result["accuracy"]:.3f}, n={result["n"]})')
    x = np.arange(len(labels))
    ax2.bar(x - 0.2, [result['per_class'][k]['precision'] for k in labels], 0.4, label='precision')
    ax2.bar(x + 0.2, [result['per_class'][k]['recall'] for k in labels], 0.4, label='recall')
    ax2.set_xticks(x, labels, rotation=45, ha='right')
    ax2.set_ylim(0, 1)
    ax2.legend()
    ax2.set_title('per class')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
