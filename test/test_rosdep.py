"""`rosdep install` resolves every key of package.xml on Humble, Jazzy and Kilted, for Ubuntu and
Debian: checked against ros/rosdistro's files as rosdep reads them (../shared/rosdistro).

A key resolves when the distribution releases a ROS package of that name, or when rosdep's
base.yaml or python.yaml names something to install for the platform. Conditional dependencies are
evaluated with that distribution's ROS_DISTRO, as rosdep does.
"""

import functools
import os

from catkin_pkg.package import parse_package
from conftest import REPO
import pytest
import yaml

# (Ubuntu, Debian) codenames per distribution, as REP 2000 lists them
PLATFORMS = {'humble': ('jammy', 'bullseye'), 'jazzy': ('noble', 'bookworm'),
             'kilted': ('noble', 'bookworm')}
INSTALLERS = {'apt', 'pip', 'source', 'packages'}
LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)   # the files are large
# catkin_pkg's condition parser uses pyparsing names that newer pyparsing deprecates
pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')


@pytest.fixture(scope='module')
def rules(rosdistro_dir):
    """rosdep's system and Python keys."""
    rules = {}
    for name in ('base.yaml', 'python.yaml'):
        with open(os.path.join(rosdistro_dir, 'rosdep', name), encoding='utf-8') as f:
            rules.update(yaml.load(f, LOADER))
    return rules


@functools.lru_cache
def released_packages(rosdistro_dir, distro):
    """Names of the ROS packages released into ``distro``."""
    with open(os.path.join(rosdistro_dir, distro, 'distribution.yaml'), encoding='utf-8') as f:
        repositories = yaml.load(f, LOADER)['repositories']
    names = set()
    for repo_name, repo in repositories.items():
        release = repo.get('release') or {}
        if release.get('version'):
            names.update(release.get('packages', [repo_name]))
    return names


def resolves(rule, os_name, codename):
    """Whether a rosdep rule installs something (or deliberately nothing) on this platform."""
    value = (rule or {}).get(os_name)
    if isinstance(value, dict) and not INSTALLERS & value.keys():
        value = value.get(codename, value.get('*'))   # per release, '*' for the others
    return value is not None


def dependency_keys(distro):
    """Every rosdep key package.xml names for ``distro`` (conditions evaluated)."""
    package = parse_package(os.path.join(REPO, 'package.xml'))
    package.evaluate_conditions({'ROS_DISTRO': distro, 'ROS_VERSION': '2',
                                 'ROS_PYTHON_VERSION': '3'})
    groups = (package.buildtool_depends, package.build_depends, package.build_export_depends,
              package.exec_depends, package.test_depends, package.doc_depends)
    return sorted({d.name for group in groups for d in group if d.evaluated_condition})


@pytest.mark.parametrize('distro', sorted(PLATFORMS))
def test_every_key_resolves(distro, rules, rosdistro_dir):
    released = released_packages(rosdistro_dir, distro)
    unresolved = [f'{key} ({os_name} {codename})'
                  for key in dependency_keys(distro) if key not in released
                  for os_name, codename in zip(('ubuntu', 'debian'), PLATFORMS[distro])
                  if not resolves(rules.get(key), os_name, codename)]
    assert not unresolved, f'rosdep cannot resolve on {distro}: {unresolved}'


def test_the_check_catches_an_unreleased_package(rules, rosdistro_dir):
    """hri_msgs is not released for Kilted: an unconditional dependency on it would fail there."""
    assert 'hri_msgs' in released_packages(rosdistro_dir, 'jazzy')
    assert 'hri_msgs' not in released_packages(rosdistro_dir, 'kilted')
    assert not resolves(rules.get('hri_msgs'), 'ubuntu', 'noble')


def test_hri_msgs_is_installed_where_it_is_released(rosdistro_dir):
    """The ROS4HRI bridge's messages come with rosdep on the distributions that release them."""
    for distro in PLATFORMS:
        assert (('hri_msgs' in dependency_keys(distro))
                == ('hri_msgs' in released_packages(rosdistro_dir, distro)))
