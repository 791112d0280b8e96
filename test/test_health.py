"""Diagnostics levels from rates and thresholds (the nodes publish what these return)."""

from expression_recognizer_ros.core.health import (
    camera_level,
    ERROR,
    OK,
    Rates,
    recognizer_level,
    RecognizerThresholds,
    WARN,
)

T = RecognizerThresholds(min_rate=5.0, max_latency_ms=200.0, stale_after=5.0)


def rates(received, processed, failed=0.0, dropped=0.0):
    return {'received': received, 'processed': processed, 'dropped': dropped, 'failed': failed}


def test_rates_are_per_second_between_updates():
    meter = Rates(now=10.0)
    # the first sight of a counter is its baseline
    assert meter.update(10.0, frames=7) == {'frames': 0.0}
    assert meter.update(12.0, frames=27) == {'frames': 10.0}


def test_recognizer_levels():
    assert recognizer_level(rates(30, 30), 20.0, 0.1, T) == (OK, 'running')
    assert recognizer_level(rates(0, 0, 10), None, 0.1, T)[0] == ERROR
    assert recognizer_level(rates(0, 0), None, None, T) == (WARN, 'no images received')
    assert recognizer_level(rates(0, 0), 20.0, 9.0, T) == (WARN, 'no image for 9 s')
    assert 'below 5' in recognizer_level(rates(30, 3, dropped=27), 20.0, 0.1, T)[1]
    # a slow camera is not our fault
    assert recognizer_level(rates(3, 3), 20.0, 0.1, T)[0] == OK
    # nor a frame counted in the next period, nothing dropped
    assert recognizer_level(rates(4, 3), 20.0, 0.1, T)[0] == OK
    assert 'latency 250 ms' in recognizer_level(rates(30, 30), 250.0, 0.1, T)[1]


def test_camera_levels():
    assert camera_level(29.0, 30.0, False)[0] == OK
    assert camera_level(20.0, 30.0, False)[0] == WARN
    assert camera_level(0.0, 30.0, True)[0] == ERROR
