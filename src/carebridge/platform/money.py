"""Money: the ISO 4217 currencies with their minor units, the one way amounts are shown to
people, and the reading of amounts people type.

Amounts are integers in the currency's minor units wherever they are stored or exchanged with
programs (the API, Stripe): cents for EUR, yen for JPY (no minor unit), fils for KWD (three
digits). People read and type major units: "45.00 EUR", "up to 50.00 EUR". A clinic has one
currency, ``CAREBRIDGE_CURRENCY`` (``Settings.currency``), checked against this table.

Static data, kept here rather than adding a dependency for one lookup.
"""

from __future__ import annotations

import re
from decimal import Decimal

# Active ISO 4217 currencies and their minor units (digits after the decimal point): amounts are
# stored as integers in minor units, so 4500 EUR means 45.00 and 4500 JPY means 4500.
CURRENCY_MINOR_UNITS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
    "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
    "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2,
    "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0,
    "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2,
    "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2,
    "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
    "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0,
    "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3,
    "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
    "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2,
    "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2,
    "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2,
    "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2,
    "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2,
    "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2,
    "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2,
    "ZMW": 2, "ZWG": 2,
}  # fmt: skip

# The largest amount an ``integer`` column holds (no import of platform.inputs: the settings read
# this module, and must not pull in the web framework).
_LARGEST = 2**31 - 1
_AMOUNT = re.compile(r"^\s*(\d{1,12})(?:[.,](\d*))?\s*$")


def check_currency(value: str) -> str:
    """``value`` as an ISO 4217 code in capitals; ValueError for anything else."""
    code = value.strip().upper()
    if code not in CURRENCY_MINOR_UNITS:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code such as 'EUR' or 'USD'")
    return code


def minor_digits(currency: str) -> int:
    """Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD."""
    return CURRENCY_MINOR_UNITS.get(currency, 2)


def major_amount(amount: int, currency: str) -> str:
    """Minor units as a number in major units, without the code: ``4550, "EUR"`` -> ``"45.50"``
    (the value of a form field)."""
    digits = minor_digits(currency)
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"


def format_money(amount: int | None, currency: str | None) -> str:
    """An amount in minor units as people read it: ``4500, "EUR"`` -> ``"45.00 EUR"``,
    ``8000, "JPY"`` -> ``"8000 JPY"``; ``""`` when there is no amount or currency."""
    if amount is None or currency is None:
        return ""
    return f"{major_amount(amount, currency)} {currency}"


def parse_amount(text: str, currency: str) -> int:
    """The minor units of an amount a person typed in major units: ``"50"``, ``"50.0"``,
    ``"50.00"`` and ``"50,00"`` are 5000 in EUR. ValueError for anything else: not a number, a
    negative one, more decimals than the currency has, more than an ``integer`` column holds."""
    digits = minor_digits(currency)
    found = _AMOUNT.match(text)
    if found is None or len(found.group(2) or "") > digits:
        raise ValueError(f"not an amount in {currency}")
    whole: str = found.group(1)
    fraction: str = (found.group(2) or "").ljust(digits, "0")  # "5" with 2 digits: "50"
    amount = int(whole + fraction)  # "45" and "50" with 2 digits: 4550
    if amount > _LARGEST:
        raise ValueError(f"not an amount in {currency}")
    return amount


def amount_step(currency: str) -> str:
    """The smallest amount of ``currency`` in major units, for a form's number field: "0.01"
    (EUR), "1" (JPY), "0.001" (KWD)."""
    digits = minor_digits(currency)
    return f"0.{'0' * (digits - 1)}1" if digits else "1"


def amount_example(currency: str) -> str:
    """How people write an amount in ``currency``: "50.00" (EUR), "5000" (JPY), "50.000" (KWD)."""
    digits = minor_digits(currency)
    return f"50.{'0' * digits}" if digits else "5000"
