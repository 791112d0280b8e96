"""peer-faceapi: face-api's expression network (Node.js) against a shipped model on the same faces.

The end-to-end tests need Node.js and `npm ci --prefix scripts/faceapi_peer`; without them they
skip with one line. The error paths and the McNemar test run everywhere.
"""

import gzip
import json
import os
import shutil
import subprocess
import sys

from conftest import REPO
import pytest

from expression_recognizer_ros.tools import cli
from expression_recognizer_ros.tools.peer import check_install, mcnemar

FACEAPI_DIR = os.path.join(REPO, 'scripts', 'faceapi_peer')


def faceapi_missing():
    try:
        check_install(FACEAPI_DIR)
    except RuntimeError as exc:
        return str(exc)
    return None


needs_faceapi = pytest.mark.skipif(faceapi_missing() is not None,
                                   reason=f'face-api peer not installed: {faceapi_missing()}')


def labelled_folder(root, files):
    """``<root>/<label>/<name>`` links to real files (nothing is copied)."""
    for label, path in files:
        os.makedirs(root / label, exist_ok=True)
        os.symlink(path, root / label / os.path.basename(path))
    return str(root)


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert status == 0, out + err
    return out


def peer_and_evaluate(capsys, tmp_path, dataset, *options, framing=()):
    """The peer's JSON and ``evaluate --json`` of cnn2-fer2013 on the same dataset."""
    run(capsys, 'peer-faceapi', '--dataset', dataset, '--faceapi-dir', FACEAPI_DIR,
        '--json', str(tmp_path / 'peer.json'), *options, *framing)
    run(capsys, 'evaluate', '--models', 'cnn2-fer2013', '--dataset', dataset, '--json',
        str(tmp_path / 'evaluate.json'), *options)
    with open(tmp_path / 'peer.json', encoding='utf-8') as f:
        peer = json.load(f)
    with open(tmp_path / 'evaluate.json', encoding='utf-8') as f:
        evaluate = json.load(f)
    return peer, evaluate


def check_consistent(peer, evaluate):
    """Same JSON as evaluate; the reference scored as evaluate scores it; McNemar adds up."""
    assert set(evaluate) <= set(peer), set(evaluate) - set(peer)
    assert set(evaluate['dataset']) <= set(peer['dataset'])
    [comparison] = peer['comparisons']
    reference = comparison['report']
    for key in ('accuracy', 'accuracy_end_to_end', 'n', 'no_face', 'confusion', 'labels'):
        assert reference[key] == evaluate[key], key
    assert peer['labels'] == evaluate['labels']
    test = comparison['mcnemar']
    total = peer['n'] + peer['no_face']
    cells = ('only_faceapi_right', 'only_reference_right', 'both_right', 'both_wrong')
    assert test['n'] == total == sum(test[k] for k in cells)
    correct = round(peer['accuracy_end_to_end'] * total)
    assert test['only_faceapi_right'] + test['both_right'] == correct
    assert (test['only_reference_right'] + test['both_right']
            == round(reference['accuracy_end_to_end'] * total))
    assert peer['peer']['licence'] == 'MIT' and len(peer['peer']['weights_sha256']) == 64


@needs_faceapi
@pytest.mark.parametrize('framing', ['aligned', 'ssd'])
def test_real_photos_end_to_end(capsys, tmp_path, real_photos, framing):
    """The four real expression photos: face-api reads every one right, whichever face finder."""
    root = labelled_folder(tmp_path / 'faces', [
        (name, os.path.join(real_photos, 'expressions', f'{name}.jpg'))
        for name in ('disgusted', 'fearful', 'happy', 'neutral')])
    peer, evaluate = peer_and_evaluate(capsys, tmp_path, root, '--detect-faces',
                                       framing=('--framing', framing))
    check_consistent(peer, evaluate)
    assert peer['n'] == 4 and peer['no_face'] == 0
    assert peer['accuracy'] == 1.0, peer['confusion']
    assert peer['dataset']['detector'] == ('yunet' if framing == 'aligned'
                                           else 'face-api ssd_mobilenetv1')
    assert set(peer['per_class_end_to_end']) == {'disgusted', 'scared', 'happy', 'neutral'}


@needs_faceapi
def test_cropped_ckplus_faces(capsys, tmp_path, ckplus_dir):
    """CK+48 crops fed as given; contempt, a class face-api lacks, is left out."""
    files = []
    for folder in sorted(f for f in os.listdir(ckplus_dir)
                         if os.path.isdir(os.path.join(ckplus_dir, f))):
        names = sorted(os.listdir(os.path.join(ckplus_dir, folder)))
        files += [(folder, os.path.join(ckplus_dir, folder, n))
                  for n in names[::len(names) // 3][:3]]
    root = labelled_folder(tmp_path / 'ckplus', files)
    peer, evaluate = peer_and_evaluate(capsys, tmp_path, root)
    check_consistent(peer, evaluate)
    assert peer['dataset']['left_out_labels'] == ['contempt']
    assert peer['n'] == 18 and peer['peer']['input'] == 'the crop as given'
    assert peer['accuracy'] >= 0.6, peer['confusion']   # 88.6% on all 927 faces


@needs_faceapi
def test_fer2013_split(capsys, tmp_path, fer2013_csv):
    """A small FER2013 CSV: only its PrivateTest rows are scored, against their labels."""
    with gzip.open(fer2013_csv, 'rt') as f:
        header = next(f)
        rows = [next(f) for _ in range(20)]   # Training
        for line in f:
            rows += [line] if line.rstrip().endswith('PrivateTest') else []
            if len(rows) == 100:
                break
    csv = tmp_path / 'fer2013.csv'
    csv.write_text(header + ''.join(rows))
    private = sum(row.rstrip().endswith('PrivateTest') for row in rows)
    peer, evaluate = peer_and_evaluate(capsys, tmp_path, str(csv), '--split', 'PrivateTest')
    check_consistent(peer, evaluate)
    assert peer['n'] == private == 80
    assert peer['accuracy'] >= 0.4, peer['confusion']   # 58.9% on all 3,589


@needs_faceapi
def test_node_refuses_a_truncated_record():
    """A record shorter than its header says is an error, not a guess."""
    done = subprocess.run(['node', os.path.join(FACEAPI_DIR, 'faceapi_peer.js'), 'faces'],
                          input=b'\x30\x00\x00\x00\x30\x00\x00\x00' + b'\x80' * 100,
                          capture_output=True, timeout=60)
    assert done.returncode == 1
    assert b'bad record at byte 0: 48x48' in done.stderr, done.stderr


def test_missing_install_is_one_line(capsys, tmp_path):
    status = cli.main(['peer-faceapi', '--dataset', str(tmp_path), '--faceapi-dir', str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1
    assert f'npm ci --prefix {tmp_path}' in err, err


def test_missing_node_is_one_line(tmp_path):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    if shutil.which('node', path=env['PATH']):
        pytest.skip('node sits beside python here')
    done = subprocess.run([sys.executable, '-P', '-m', 'expression_recognizer_ros', 'peer-faceapi',
                           '--dataset', str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.count('\n') == 1 and 'Node.js (node) is not on PATH' in done.stderr


def test_exact_mcnemar():
    # 5 faces right only with the first, 2 only with the second: 2 * P(X <= 2 | 7, 0.5) = 58/128
    first = [1] * 5 + [0] * 2 + [1] * 3 + [0] * 4
    second = [0] * 5 + [1] * 2 + [1] * 3 + [0] * 4
    test = mcnemar(first, second)
    assert (test['only_first_right'], test['only_second_right']) == (5, 2)
    assert (test['both_right'], test['both_wrong']) == (3, 4)
    assert test['p'] == pytest.approx(58 / 128)
    assert mcnemar(second, first)['p'] == pytest.approx(58 / 128)
    assert mcnemar([1, 0], [1, 0])['p'] == 1.0
    # 10 to 0: 2 / 2 ** 10
    assert mcnemar([1] * 10, [0] * 10)['p'] == pytest.approx(2 / 1024)
