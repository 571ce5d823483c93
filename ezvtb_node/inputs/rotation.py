"""Quaternions in Unity's convention (as VMC sends them) and their Euler angles.

Unity is left-handed, Y up, Z forward, X right; quaternions are (x, y, z, w) and ``a * b`` rotates
by ``b`` first, then ``a`` (so a child's rotation composes as ``parent * local``). Unity's Euler
angles apply Z, then X, then Y: ``q = Ry(yaw) * Rx(pitch) * Rz(roll)``. On a humanoid facing +Z:

* yaw   (about Y) > 0 turns the face toward the character's own right,
* pitch (about X) > 0 tips the face down,
* roll  (about Z) > 0 tilts the head toward the character's own left shoulder.
"""

from __future__ import annotations

import math

Quaternion = tuple[float, float, float, float]  # x, y, z, w
IDENTITY: Quaternion = (0.0, 0.0, 0.0, 1.0)


def multiply(a: Quaternion, b: Quaternion) -> Quaternion:
    """``a * b``: the rotation ``b`` followed by ``a``."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def normalized(q: Quaternion) -> Quaternion | None:
    """``q`` scaled to unit length, or None when it has (almost) no length and means no rotation.

    The length is taken with ``math.hypot``, which does not overflow on the way: a sender's doubles
    of 1e200 still describe their rotation (squaring them would give an infinite length and a 0° head).
    """
    norm = math.hypot(*q)
    if not 1e-6 < norm < math.inf:  # no length, or doubles whose length overflows even hypot
        return None
    return (q[0] / norm, q[1] / norm, q[2] / norm, q[3] / norm)


def euler_degrees(q: Quaternion) -> tuple[float, float, float]:
    """(pitch about X, yaw about Y, roll about Z) in degrees, each in [-180, 180], for a unit quaternion.

    Pitch is limited to [-90, 90]; at exactly ±90 (gimbal lock) the roll is reported as 0.
    """
    x, y, z, w = q
    # Row 1 of the rotation matrix R = Ry·Rx·Rz is (cos p·sin r, cos p·cos r, -sin p).
    r12 = 2.0 * (y * z - x * w)
    sin_pitch = max(-1.0, min(1.0, -r12))
    pitch = math.asin(sin_pitch)
    if abs(sin_pitch) < 0.999999:
        yaw = math.atan2(2.0 * (x * z + y * w), 1.0 - 2.0 * (x * x + y * y))
        roll = math.atan2(2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z))
    else:
        yaw = math.atan2(-2.0 * (x * z - y * w), 1.0 - 2.0 * (y * y + z * z))
        roll = 0.0
    return math.degrees(pitch), math.degrees(yaw), math.degrees(roll)
