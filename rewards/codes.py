"""Voucher codes: 9 random characters and a check character, from an alphabet with
no look-alikes (no 0/O, 1/I/L, U), shown as XXXX-XXXX-XX.

30 symbols: 9 random ones carry 44.2 bits. The check character (Luhn mod 30)
catches every single mistyped character and nearly every swap of neighbours, so a
cashier is told "mistyped" rather than "unknown".
"""

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # 30 symbols
RANDOM_LENGTH = 9


def _check_char(body: str) -> str:
    base = len(ALPHABET)
    factor, total = 2, 0
    for char in reversed(body):
        addend = factor * ALPHABET.index(char)
        factor = 1 if factor == 2 else 2
        total += addend // base + addend % base
    return ALPHABET[(base - total % base) % base]


def new_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + _check_char(body)


def normalise(value: str) -> str:
    return "".join(ch for ch in str(value or "").upper() if ch not in " -_.")


def is_well_formed(code: str) -> bool:
    return (len(code) == RANDOM_LENGTH + 1 and all(ch in ALPHABET for ch in code)
            and _check_char(code[:-1]) == code[-1])
