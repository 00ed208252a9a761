"""Vouchers as QR codes, for a cashier to scan at the till.

Vector only (SVG, one <path>): sharp at any size, small, and no raster library
in the request path. The QR carries the voucher code as stored (10 characters
of the QR alphanumeric set), which a scanner types into the same field a
cashier would; `rewards.codes.normalise` accepts it with or without dashes.
"""

from __future__ import annotations

import qrcode
from qrcode.image.svg import SvgPathImage


def voucher_svg(code: str) -> bytes:
    """An SVG document of the QR code for `code`. No styles or scripts in it (strict CSP)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10,
                       border=4, image_factory=SvgPathImage)
    qr.add_data(code)
    qr.make(fit=True)
    return qr.make_image().to_string(encoding="utf-8")
