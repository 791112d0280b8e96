"""
ROS layer: the nodes and what only they need.

Lives here: the camera, recognizer and mirror nodes, their ``lifecycle`` base and ``process``
(how a node process starts and stops, signals included), ``image_conversion`` (sensor_msgs/Image
fields to arrays and back), ``diagnostics`` (the DiagnosticArray publisher), ``hri_bridge`` (the
ROS4HRI humans/faces/... topics, when hri_msgs is installed), the all-in-one ``demo`` and the
end-to-end ``latency`` tool.

May import: core, classifiers, tools.media (the demo's GIF and contact-sheet writers), rclpy and
the ROS message packages, and the package's generated ``msg``.
"""
