"""
A node's health for ``/diagnostics``: counters turned into rates over each reporting period, and
one level (OK, WARN, ERROR) with the reason, from thresholds the user sets. No ROS import.
"""

from dataclasses import dataclass

OK, WARN, ERROR = 0, 1, 2   # diagnostic_msgs/DiagnosticStatus levels


class Rates:
    """Per-second rates of growing counters between two calls of ``update``."""

    def __init__(self, now):
        self._time, self._counts = now, {}

    def update(self, now, **counts) -> dict:
        elapsed = max(now - self._time, 1e-9)
        rates = {name: (value - self._counts.get(name, value)) / elapsed
                 for name, value in counts.items()}
        self._time, self._counts = now, dict(counts)
        return rates


@dataclass(frozen=True)
class RecognizerThresholds:
    """When the recognizer's health turns WARN; the user sets them as node parameters."""

    # processed frames per second below which, while frames are dropped: WARN
    min_rate: float = 5.0
    max_latency_ms: float = 200.0   # image stamp to Emotion publish, above which: WARN
    stale_after: float = 5.0        # seconds without an image: WARN


def recognizer_level(rates, latency_ms, since_image, thresholds) -> tuple:
    """(level, message) from one period's rates (received, processed, dropped, failed per s)."""
    if rates['failed'] > 0 and rates['processed'] == 0:
        return ERROR, 'every frame in the last period failed (see the log for why)'
    if since_image is None or since_image > thresholds.stale_after:
        return WARN, ('no images received' if since_image is None
                      else f'no image for {since_image:.0f} s')
    if rates['processed'] < thresholds.min_rate and rates['dropped'] > 0:
        return WARN, (f'processing {rates["processed"]:.1f} fps, below {thresholds.min_rate:g}; '
                      'frames are dropped')
    if latency_ms is not None and latency_ms > thresholds.max_latency_ms:
        return WARN, f'latency {latency_ms:.0f} ms above {thresholds.max_latency_ms:g} ms'
    return OK, 'running'


def camera_level(publish_rate, frame_rate, waiting) -> tuple:
    """(level, message) of the camera: ERROR while its source is lost, WARN below 80% of rate."""
    if waiting:
        return ERROR, 'source lost or not opened; retrying'
    if publish_rate < 0.8 * frame_rate:
        return WARN, f'publishing {publish_rate:.1f} fps of the {frame_rate:g} set'
    return OK, 'running'
