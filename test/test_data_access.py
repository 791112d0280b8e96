"""A bare clone (no ../shared): a test that needs research data skips with one line saying what
and where to put it; under CI or REQUIRE_DATA=1 the run fails at its start instead. Checked by
running pytest on two tests of test_datasets.py with EXPRESSION_RECOGNIZER_SHARED at an empty
folder."""

import os
import subprocess
import sys

from conftest import REPO
import pytest

SELECTION = ['test/test_datasets.py::test_aliases',
             'test/test_datasets.py::test_unknown_labels_are_kept_and_refused_for_training']


def pytest_run(shared, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ('CI', 'REQUIRE_DATA')}
    return subprocess.run([sys.executable, '-P', '-m', 'pytest', '-q', '-rs', '-p',
                           'no:cacheprovider', *SELECTION], cwd=REPO, capture_output=True,
                          text=True, timeout=120,
                          env={**clean, 'EXPRESSION_RECOGNIZER_SHARED': str(shared), **env})


def test_without_data_a_test_that_needs_it_skips_and_says_where_to_put_it(tmp_path):
    result = pytest_run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    yale = os.path.join(tmp_path, 'datasets', 'yale')
    skipped = [line for line in result.stdout.splitlines() if line.startswith('SKIPPED')]
    assert len(skipped) == 1 and skipped[0].endswith(
        f': needs the Yale faces at {yale}: put ../shared/datasets/yale beside the repository '
        'or set EXPRESSION_RECOGNIZER_SHARED'), result.stdout
    assert '1 passed, 1 skipped' in result.stdout


@pytest.mark.parametrize('env', [{'CI': 'true'}, {'REQUIRE_DATA': '1'}])
def test_under_ci_or_when_asked_missing_data_fails_the_run_in_one_line(tmp_path, env):
    result = pytest_run(tmp_path, **env)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert result.stdout == ''
    line, = result.stderr.strip().splitlines()   # pytest ends it with an empty line
    assert line.startswith('ERROR: test data missing, and CI or REQUIRE_DATA asks for all of it: '
                           f'FER2013 at {tmp_path}/datasets/fer2013/fer2013.csv.gz, '), line
