"""Lint as ROS 2 packages do (ament_flake8, ament_pep257): their rules, with ruff (ruff.toml).

99-column lines, pycodestyle and pyflakes, google import order, single quotes, pep257 docstrings,
and a docstring on every public class and function. Run by hand: `python -m ruff check .`
"""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATHS = ('expression_recognizer_ros', 'test', 'launch', 'scripts', 'setup.py')


def ruff_check(*arguments, cwd=REPO):
    return subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache', *arguments],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_code_is_lint_clean():
    result = ruff_check(*PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lint_catches_a_long_line_and_a_missing_docstring(tmp_path):
    """The check can fail: the repository's rules on a file that breaks two of them."""
    bad = tmp_path / 'bad.py'
    bad.write_text('"""A module."""\n\n\ndef undocumented():\n'
                   f"    return '{'x' * 110}'\n")
    result = ruff_check('--config', os.path.join(REPO, 'ruff.toml'), str(bad), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'E501' in result.stdout and 'D103' in result.stdout, result.stdout
