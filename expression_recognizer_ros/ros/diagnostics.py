"""
One status on ``/diagnostics``, published the same way by every node; levels and reasons come from
``core/health.py``.
"""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


class DiagnosticsPublisher:
    """
    Publishes one node's status on ``/diagnostics`` every ``period`` seconds: ``report()`` returns
    (level, message, values), level a health.OK/WARN/ERROR, values name -> anything printable.
    """

    def __init__(self, node, name, hardware_id, period, report):
        self._node, self._report = node, report
        self._name, self._hardware_id = f'{node.get_name()}: {name}', str(hardware_id)
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._timer = node.create_timer(period, self._publish)

    def _publish(self):
        level, message, values = self._report()
        array = DiagnosticArray(status=[DiagnosticStatus(
            level=bytes([level]), name=self._name, message=message, hardware_id=self._hardware_id,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(array)

    def destroy(self) -> None:
        self._node.destroy_timer(self._timer)
        self._node.destroy_publisher(self._publisher)
