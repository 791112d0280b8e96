"""The layers stay layers: core and classifiers import without ROS or PyTorch, and no module
climbs.

core/ may import numpy and cv2 only; classifiers/ may import core; neither imports ros/ or tools/
(nor the generated msg/, which only the ROS build provides). tools/ never imports ros/.
"""

import ast
import os
import subprocess
import sys

from conftest import REPO
import pytest

PACKAGE = 'expression_recognizer_ros'
SOURCE = os.path.join(REPO, PACKAGE)
FORBIDDEN = {
    'core': ('classifiers', 'ros', 'tools', 'msg'),
    'classifiers': ('ros', 'tools', 'msg'),
    'tools': ('ros', 'msg'),
}
BLOCKED = ('rclpy', 'torch', 'rcl_interfaces', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs',
           'launch', 'launch_ros')

# Runs in a fresh interpreter: any import of a BLOCKED top-level name raises ImportError, then
# every module of core and classifiers is imported by name.
IMPORT_ALL = f"""
import importlib, importlib.abc, os, pkgutil, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError(f'{{name}} is blocked in this test')
        return None

sys.meta_path.insert(0, Block())
for layer in ('core', 'classifiers'):
    package = importlib.import_module('{PACKAGE}.' + layer)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f'{PACKAGE}.{{layer}}.{{module.name}}')
        print(f'{{layer}}.{{module.name}}')
leaked = sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r})
assert not leaked, leaked
"""


def imported_modules(path, package):
    """Absolute names of everything a module imports, at top level or inside functions."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                module = '.'.join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.append(module)
            names += [f'{module}.{alias.name}' for alias in node.names]  # from .. import ros
    return names


def violations(path, layer):
    """The imports of a module in ``layer`` that reach a layer it may not import."""
    forbidden = tuple(f'{PACKAGE}.{name}' for name in FORBIDDEN[layer])
    return [name for name in imported_modules(path, f'{PACKAGE}.{layer}')
            if any(name == f or name.startswith(f + '.') for f in forbidden)]


def layer_files(layer):
    folder = os.path.join(SOURCE, layer)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith('.py'))


def test_core_and_classifiers_import_without_ros_or_torch(tmp_path):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
    # run from an empty folder: the package comes from PYTHONPATH, as with -P (Python 3.11+ only)
    result = subprocess.run([sys.executable, '-c', IMPORT_ALL], capture_output=True, cwd=tmp_path,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    for layer in ('core', 'classifiers'):
        expected = ({f'{layer}.{os.path.basename(p)[:-3]}' for p in layer_files(layer)}
                    - {f'{layer}.__init__'})
        assert expected <= imported, expected - imported


@pytest.mark.parametrize('layer', sorted(FORBIDDEN))
def test_no_module_imports_a_layer_above_its_own(layer):
    files = layer_files(layer)
    assert len(files) > 2
    found = {os.path.relpath(p, SOURCE): violations(p, layer) for p in files}
    assert not {k: v for k, v in found.items() if v}


@pytest.mark.parametrize('source', ['from ..ros.process import run_node',
                                    'from ..tools import media',
                                    'from .. import tools',
                                    'import expression_recognizer_ros.ros.demo',
                                    'def f():\n    from ..classifiers.base import Prediction'])
def test_the_check_sees_a_climbing_import(tmp_path, source):
    path = tmp_path / 'climber.py'
    path.write_text(source + '\n')
    assert violations(str(path), 'core')


def test_the_check_allows_a_lower_layer(tmp_path):
    path = tmp_path / 'fine.py'
    path.write_text('import numpy\nfrom .. import __version__\n'
                    'from ..core.preprocessing import prepare\nfrom .base import Prediction\n')
    assert violations(str(path), 'classifiers') == []
