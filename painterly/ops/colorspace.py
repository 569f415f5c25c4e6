"""The colour-preservation modes and the RGB ↔ YIQ matrices, as plain numbers: the methods' configs,
the tensor operations (:mod:`painterly.ops.color`) and their array twins
(:mod:`painterly.ops.color_arrays`) share them without importing torch or numpy."""

from __future__ import annotations

Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]

#: The colour-preservation modes of every method.
PRESERVE_COLOR_MODES = ("luminance", "histogram")

#: RGB → YIQ (FCC NTSC). Y is luminance; I and Q carry the colour.
RGB_TO_YIQ: Matrix = (
    (0.299, 0.587, 0.114),
    (0.595716, -0.274453, -0.321263),
    (0.211456, -0.522591, 0.311135),
)


def inverse_3x3(matrix: Matrix) -> Matrix:
    """The inverse of an invertible ``3 × 3`` matrix, by cofactors, in Python floats (float64).

    Example:
        >>> inverse_3x3(((2.0, 0.0, 0.0), (0.0, 4.0, 0.0), (0.0, 0.0, 0.5)))
        ((0.5, 0.0, 0.0), (0.0, 0.25, 0.0), (0.0, 0.0, 2.0))
    """
    (a, b, c), (d, e, f), (g, h, i) = matrix
    cofactors = ((e * i - f * h, c * h - b * i, b * f - c * e),
                 (f * g - d * i, a * i - c * g, c * d - a * f),
                 (d * h - e * g, b * g - a * h, a * e - b * d))  # fmt: skip
    determinant = a * cofactors[0][0] + b * cofactors[1][0] + c * cofactors[2][0]
    return tuple(tuple(value / determinant + 0.0 for value in row) for row in cofactors)  # type: ignore[return-value]


#: The exact inverse, computed once in float64 (rounded published inverses lose ~1e-4).
YIQ_TO_RGB: Matrix = inverse_3x3(RGB_TO_YIQ)
