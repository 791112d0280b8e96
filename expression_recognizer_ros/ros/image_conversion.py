"""
sensor_msgs/Image and CompressedImage messages from NumPy arrays; decoding and the fields
themselves are ROS-free, in core/image_codec.py (the ``bag`` command shares them).
"""

from sensor_msgs.msg import CompressedImage, Image

from ..core.image_codec import array_to_compressed_fields, array_to_image_fields


def array_to_image(array, header=None) -> Image:
    """A sensor_msgs/Image of a BGR or grayscale uint8 array, with ``header`` if given."""
    encoding, height, width, step, data = array_to_image_fields(array)
    image = Image(encoding=encoding, height=height, width=width, step=step, data=data)
    if header is not None:
        image.header = header
    return image


def array_to_compressed(array, quality, header=None) -> CompressedImage:
    """A sensor_msgs/CompressedImage (JPEG) of a BGR or grayscale uint8 array."""
    image_format, data = array_to_compressed_fields(array, quality)
    image = CompressedImage(format=image_format, data=data)
    if header is not None:
        image.header = header
    return image
