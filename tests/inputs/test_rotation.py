"""Quaternion → Euler in Unity's convention, checked with known quaternions and vector rotations."""

from __future__ import annotations

import math
import random

import pytest

from ezvtb_node.inputs.rotation import euler_degrees, multiply, normalized

S = math.sqrt(0.5)


def rotate(q, v):
    """v' = q·v·q* computed with the textbook cross-product form (independent of `multiply`)."""
    x, y, z, w = q
    u = (x, y, z)

    def cross(a, b):
        return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])

    t = tuple(2 * c for c in cross(u, v))
    ut = cross(u, t)
    return tuple(v[i] + w * t[i] + ut[i] for i in range(3))


def axis(axis_name: str, degrees: float):
    half = math.radians(degrees) / 2
    s, c = math.sin(half), math.cos(half)
    return {"x": (s, 0.0, 0.0, c), "y": (0.0, s, 0.0, c), "z": (0.0, 0.0, s, c)}[axis_name]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ((0.0, 0.0, 0.0, 1.0), (0, 0, 0)),
        ((0.0, S, 0.0, S), (0, 90, 0)),  # 90° about Y
        ((0.0, 1.0, 0.0, 0.0), (0, 180, 0)),  # 180° about Y
        ((math.sin(math.radians(15)), 0.0, 0.0, math.cos(math.radians(15))), (30, 0, 0)),
        ((0.0, 0.0, -math.sin(math.radians(22.5)), math.cos(math.radians(22.5))), (0, 0, -45)),
        ((0.0, 0.0, 0.0, -1.0), (0, 0, 0)),  # -q is the same rotation
    ],
)
def test_known_quaternions(q, expected):
    pitch, yaw, roll = euler_degrees(q)
    assert (pitch, abs(yaw) if expected[1] == 180 else yaw, roll) == pytest.approx(expected, abs=1e-9)


def test_sign_conventions_on_a_character_facing_plus_z():
    forward, up, right = (0, 0, 1), (0, 1, 0), (1, 0, 0)
    # yaw > 0: the face turns toward the character's right (+X)
    assert rotate(axis("y", 90), forward) == pytest.approx(right)
    assert euler_degrees(axis("y", 90))[1] == pytest.approx(90)
    # pitch > 0: the face tips down (-Y)
    assert rotate(axis("x", 90), forward) == pytest.approx((0, -1, 0))
    assert euler_degrees(axis("x", 30))[0] == pytest.approx(30)
    # roll > 0: the top of the head tilts toward the character's left (-X)
    assert rotate(axis("z", 90), up) == pytest.approx((-1, 0, 0))
    assert euler_degrees(axis("z", 30))[2] == pytest.approx(30)


def test_multiply_applies_the_right_operand_first():
    a, b = axis("y", 90), axis("x", 90)
    v = (0.3, -0.2, 0.9)
    assert rotate(multiply(a, b), v) == pytest.approx(rotate(a, rotate(b, v)))


def test_round_trip_through_unity_order_z_then_x_then_y():
    rng = random.Random(4)
    for _ in range(2000):
        pitch, yaw, roll = rng.uniform(-89, 89), rng.uniform(-179, 179), rng.uniform(-179, 179)
        q = multiply(axis("y", yaw), multiply(axis("x", pitch), axis("z", roll)))
        # Unity's Euler(x, y, z) rotates about Z first, then X, then Y (all about fixed axes).
        v = (0.1, 0.7, -0.4)
        assert rotate(q, v) == pytest.approx(
            rotate(axis("y", yaw), rotate(axis("x", pitch), rotate(axis("z", roll), v)))
        )
        assert euler_degrees(q) == pytest.approx((pitch, yaw, roll), abs=1e-7)


def test_gimbal_lock_keeps_the_direction():
    q = multiply(axis("y", 40), multiply(axis("x", 90), axis("z", 0)))
    pitch, yaw, roll = euler_degrees(q)
    assert pitch == pytest.approx(90) and roll == 0.0 and yaw == pytest.approx(40)


def test_normalized_rejects_zero_length():
    assert normalized((0.0, 0.0, 0.0, 0.0)) is None
    assert normalized((0.0, 0.0, 0.0, 2.0)) == (0.0, 0.0, 0.0, 1.0)
