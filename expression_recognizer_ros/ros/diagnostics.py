"""
One status on ``/diagnostics``, published the same way by every node; levels and reasons come from
``core/health.py``.
"""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


class DiagnosticsPublisher:
    """Publishes one node's status (level, message, key values) on ``/diagnostics``."""

    def __init__(self, node, name, hardware_id):
        self._node = node
        self._name, self._hardware_id = f'{node.get_name()}: {name}', str(hardware_id)
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)

    def publish(self, level, message, values):
        """level: health.OK/WARN/ERROR; values: name -> anything printable."""
        array = DiagnosticArray(status=[DiagnosticStatus(
            level=bytes([level]), name=self._name, message=message, hardware_id=self._hardware_id,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(array)

    def destroy(self):
        self._node.destroy_publisher(self._publisher)
