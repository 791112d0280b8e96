"""The benchmark's two pipelines: same decisions from OpenCV's per-member predict and our batched one,
and the command's figures (never timed assertions: a benchmark prints, a test checks what it prints)."""

import json

from test_cli import run

from expression_recognizer_ros.tools.benchmark import OpenCvMembers
from expression_recognizer_ros.classifiers.registry import default_model_dir, load_classifier


def test_opencv_member_predicts_vote_like_the_batched_ensemble(fer2013):
    model = load_classifier(default_model_dir())
    X = model.features(fer2013.split('PublicTest').images[:150])
    assert OpenCvMembers(model, default_model_dir()).predict_vectors(X) == model.predict_vectors(X)


def test_benchmark_command_prints_and_writes_every_figure(tmp_path):
    out = tmp_path / 'bench.json'
    result = run('benchmark', '--count', '24', '--repeats', '1', '--json', str(out))
    assert result.returncode == 0, result.stderr
    assert 'speed-up' in result.stdout and 'agreement' in result.stdout
    figures = json.loads(out.read_text())
    assert figures['frames'] == 24 and figures['frames_with_face_original'] == 24
    assert figures['fps_original'] > 0 and figures['speedup'] == figures['fps_default'] / figures['fps_original']
    for stage in ('grayscale', 'detection', 'crop_resize', 'classification', 'frame'):
        assert figures['stages_default'][stage]['p99_ms'] >= figures['stages_default'][stage]['median_ms'] > 0
    # A face drifting in one clip: tracking and the fast defaults must keep every decision of (a).
    assert figures['agreement'] == 1.0, figures['disagreements']
