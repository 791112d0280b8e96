"""The benchmark's two pipelines: same decisions from OpenCV's per-member predict and our batched
one, and the command's figures (never timed assertions: a benchmark prints, a test checks what it
prints)."""

import json

from test_cli import run

from expression_recognizer_ros.classifiers.registry import default_model_dir, load_classifier
from expression_recognizer_ros.tools.benchmark import OpenCvMembers


def test_opencv_member_predicts_vote_like_the_batched_ensemble(fer2013):
    model = load_classifier(default_model_dir())
    X = model.features(fer2013.split('PublicTest').images[:150])
    assert OpenCvMembers(model, default_model_dir()).predict_vectors(X) == model.predict_vectors(X)


def test_benchmark_command_prints_and_writes_every_figure(tmp_path):
    out = tmp_path / 'bench.json'
    result = run('benchmark', '--count', '24', '--repeats', '1', '--count-frames', '6',
                 '--json', str(out))
    assert result.returncode == 0, result.stderr
    assert 'speed-up' in result.stdout and 'agreement' in result.stdout
    assert '5 face(s): original' in result.stdout
    figures = json.loads(out.read_text())
    assert figures['frames'] == 24 and figures['frames_with_face_original'] == 24
    assert figures['fps_original'] > 0
    assert figures['speedup'] == figures['fps_default'] / figures['fps_original']
    for stage in ('detection', 'classification', 'frame'):
        stage_figures = figures['stages_default'][stage]
        assert stage_figures['p99_ms'] >= stage_figures['median_ms'] > 0
    # A face drifting in one clip: YuNet reports it from the third frame on (a track is confirmed
    # after three detections), always where the original's Haar box is.
    assert figures['found_by_default'] == 22, figures['disagreements']
    assert [d['frame'] for d in figures['disagreements']] == [0, 1]
    by_faces = figures['by_faces']
    assert sorted(by_faces) == ['0', '1', '2', '5']
    reported = {n: {name: run['faces_reported'] for name, run in runs.items()}
                for n, runs in by_faces.items()}
    assert reported['0'] == {'original': 0, 'default': 0}
    # the original's exactly-one rule never reports one of five; the default from frame 3 on
    assert reported['5'] == {'original': 0, 'default': 4}
