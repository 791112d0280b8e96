"""
The one label vocabulary of the package.

Canonical names are ROS4HRI's ``hri_msgs/Expression`` tokens, so a bridge to ROS4HRI is the
identity. Dataset folder names and FER2013's class indices map onto them through ``ALIASES``.
"""

NEUTRAL = 'neutral'
ANGRY = 'angry'
DISGUSTED = 'disgusted'
SCARED = 'scared'
HAPPY = 'happy'
SAD = 'sad'
SURPRISED = 'surprised'
CONTEMPT = 'contempt'  # CK+ only; not an hri_msgs/Expression token

CANONICAL = (NEUTRAL, ANGRY, DISGUSTED, SCARED, HAPPY, SAD, SURPRISED, CONTEMPT)

ALIASES = {
    'neutral': NEUTRAL, 'normal': NEUTRAL,
    'anger': ANGRY, 'angry': ANGRY,
    'disgust': DISGUSTED, 'disgusted': DISGUSTED,
    'fear': SCARED, 'fearful': SCARED, 'scared': SCARED,
    'happiness': HAPPY, 'happy': HAPPY,
    'sadness': SAD, 'sad': SAD,
    'surprise': SURPRISED, 'surprised': SURPRISED,
    'contempt': CONTEMPT,
}

# FER2013's ``emotion`` column: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral.
FER2013_CLASSES = (ANGRY, DISGUSTED, SCARED, HAPPY, SAD, SURPRISED, NEUTRAL)


def canonical(name) -> str | None:
    """Return the canonical label for a name or alias, or None if it names no known expression."""
    return ALIASES.get(str(name).strip().lower())
