"""Colour-vision-deficiency simulation and colour difference, for checking the page's palette.

Simulation: Machado, Oliveira & Fernandes (2009), "A physiologically-based model for simulation of color vision
deficiency", IEEE TVCG 15(6), the severity-1.0 matrices, applied to linear sRGB (as colorspacious does).
Difference: CIEDE2000 (Sharma, Wu & Dalal 2005) between CIELAB colours (D65 white).
"""

from __future__ import annotations

import math

import numpy as np

MACHADO: dict[str, np.ndarray] = {
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]
    ),
}
VISIONS = ("normal", *MACHADO)
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE = _RGB_TO_XYZ @ np.ones(3)


def hex_to_linear(colour: str) -> np.ndarray:
    """``#rrggbb`` as linear sRGB in [0, 1]."""
    text = colour.lstrip("#")
    srgb = np.array([int(text[i : i + 2], 16) / 255 for i in (0, 2, 4)])
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def simulate(linear: np.ndarray, vision: str) -> np.ndarray:
    """A linear sRGB colour as seen with ``vision`` (``normal`` or a key of ``MACHADO``)."""
    if vision == "normal":
        return linear
    return np.clip(MACHADO[vision] @ linear, 0.0, 1.0)


def linear_to_lab(linear: np.ndarray) -> tuple[float, float, float]:
    """Linear sRGB to CIELAB (D65)."""
    xyz = _RGB_TO_XYZ @ linear / _WHITE
    d = 6 / 29
    f = np.where(xyz > d**3, np.cbrt(xyz), xyz / (3 * d**2) + 4 / 29)
    return float(116 * f[1] - 16), float(500 * (f[0] - f[1])), float(200 * (f[1] - f[2]))


def ciede2000(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """The CIEDE2000 colour difference (kL = kC = kH = 1)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0
    if c1p * c2p == 0:
        dhp, h_bar = 0.0, h1p + h2p
    else:
        diff = h2p - h1p
        dhp = diff if abs(diff) <= 180 else diff - 360 if diff > 180 else diff + 360
        total = h1p + h2p
        h_bar = total / 2 if abs(diff) <= 180 else (total + 360) / 2 if total < 360 else (total - 360) / 2
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dhp / 2))
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_bar - 30))
        + 0.24 * math.cos(math.radians(2 * h_bar))
        + 0.32 * math.cos(math.radians(3 * h_bar + 6))
        - 0.20 * math.cos(math.radians(4 * h_bar - 63))
    )
    d_theta = 30 * math.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_bar**7 / (cp_bar**7 + 25**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


def difference(colour1: str, colour2: str, vision: str) -> float:
    """CIEDE2000 between two ``#rrggbb`` colours as a reader with ``vision`` sees them."""
    lab1 = linear_to_lab(simulate(hex_to_linear(colour1), vision))
    lab2 = linear_to_lab(simulate(hex_to_linear(colour2), vision))
    return ciede2000(lab1, lab2)
