"""Field-level parsing shared by the dialects: parameter lists, numbers, placeholders, bands.

Modems mark a value they do not have in many ways ("-", "--", "", "NA", 255, -32768, 0x7FFFFFFF);
every helper here returns None for those, so "unknown" never turns into 0.
"""

from agent.core.at import ascii_digits

MAX_FIELDS = 64
_PLACEHOLDERS = ("", "-", "--", "---", "NA", "N/A", "UNKNOWN", "FFFFFFFF", "FFFF", "FFFFFFFFF")
_SENTINELS = (-32768, 32767, -2147483648, 2147483647, 65535)

LTE_BANDWIDTH_MHZ = (1.4, 3, 5, 10, 15, 20)  # 3GPP 36.101 index 0..5
LTE_RB_TO_MHZ = {6: 1.4, 15: 3, 25: 5, 50: 10, 75: 15, 100: 20}
# Quectel/Fibocom NR DL bandwidth index 0..14 (38.101 channel bandwidths)
NR_BANDWIDTH_MHZ = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 200, 400)


def params(text):
    # type: (str) -> list
    """Split an AT parameter list at commas outside double quotes; quotes are removed."""
    out = []
    field = ""
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(field.strip())
            field = ""
            if len(out) >= MAX_FIELDS:
                return out
        else:
            field += ch
    out.append(field.strip())
    return out


def after(line, prefix):
    # type: (str, str) -> str | None
    """The text after `prefix` (case-insensitive), or None when the line does not start with it."""
    if line[: len(prefix)].upper() != prefix.upper():
        return None
    return line[len(prefix) :].strip()


def at(fields, index):
    # type: (list, int) -> str | None
    """fields[index], or None when the modem sent fewer fields."""
    return fields[index] if 0 <= index < len(fields) else None


def lines_after(lines, prefix):
    # type: (list, str) -> list
    """Parameter lists of every line that starts with `prefix`."""
    out = []
    for line in lines:
        rest = after(line, prefix)
        if rest is not None:
            out.append(params(rest))
    return out


def known(text):
    # type: (str | None) -> bool
    return text is not None and text.strip().upper() not in _PLACEHOLDERS


def integer(text, lo=None, hi=None):
    # type: (str | None, int | None, int | None) -> int | None
    """A decimal integer, or None for placeholders, sentinels, garbage and values out of range."""
    if not known(text):
        return None
    assert text is not None
    text = text.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not ascii_digits(digits) or len(digits) > 12:
        return None
    value = int(text)
    if value in _SENTINELS:
        return None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None
    return value


def number(text, lo=None, hi=None):
    # type: (str | None, float | None, float | None) -> float | int | None
    """A decimal number that may carry a fraction ("-10.5"); None when unknown or out of range."""
    if not known(text):
        return None
    assert text is not None
    text = text.strip()
    body = text[1:] if text[:1] in "+-" else text
    whole, dot, frac = body.partition(".")
    if not dot:
        return integer(text, lo, hi)  # type: ignore[arg-type]
    if len(body) > 12 or not (whole or frac):
        return None
    if (whole and not ascii_digits(whole)) or (frac and not ascii_digits(frac)):
        return None
    value = float(text)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None
    return int(value) if value == int(value) else value  # "-10.0" and "-10" read the same


def hexadecimal(text, max_digits=10):
    # type: (str | None, int) -> int | None
    """A hexadecimal id such as a cell id or TAC ("1A2D003", "0x2B5C"); None when unknown."""
    if not known(text):
        return None
    assert text is not None
    text = text.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    if not text or len(text) > max_digits:
        return None
    for ch in text:
        if ch not in "0123456789abcdefABCDEF":
            return None
    ones = text.lstrip("0").upper()
    if len(ones) >= 4 and ones == "F" * len(ones):
        return None  # all-ones, also zero-padded ("00FFFFFFF"): "no cell"; "F" alone is 15
    return int(text, 16)


def location_area(text):
    # type: (str | None) -> int | None
    """A 16-bit LAC as +CREG prints it; 0000 and FFFE are reserved, "no valid LAC" (23.003 4.1)."""
    value = hexadecimal(text, 4)
    return None if value in (0, 0xFFFE) else value


def scaled(value, factor, offset=0.0):
    # type: (int | float | None, float, float) -> float | int | None
    """value * factor + offset, rounded to 0.1; None stays None."""
    if value is None:
        return None
    result = round(value * factor + offset, 1)
    return int(result) if result == int(result) else result


def code(table, index):
    # type: (tuple, int | None) -> float | int | None
    """table[index] for a coded field (bandwidth index, ...); None when unknown or outside."""
    if index is None or index < 0 or index >= len(table):
        return None
    return table[index]


def band(tech, text):
    # type: (str | None, str | None) -> str | None
    """A band in the schema's spelling: "B3" for LTE, "n78" for NR, whatever the vendor wrote.

    Accepts "3", "B3", "LTE BAND 3", "EUTRAN-BAND3", "NR5G BAND 78", "NR5G_BAND78", "n78".
    """
    if not known(text):
        return None
    assert text is not None
    upper = text.strip().upper()
    if upper[:1] == "-":
        return None  # a negative band number is a placeholder (-1, -32768), not band 1
    digits = ""
    for ch in reversed(upper):
        if "0" <= ch <= "9":
            digits = ch + digits
        elif digits:
            break
    if not digits or len(digits) > 3 or int(digits) == 0:
        return None
    is_nr = "NR" in upper or upper.startswith("N") or (tech is not None and tech.startswith("NR"))
    if "LTE" in upper or "EUTRAN" in upper or upper.startswith("B"):
        is_nr = False
    return ("n%d" if is_nr else "B%d") % int(digits)


def plmn(text):
    # type: (str | None) -> tuple
    """(mcc, mnc) as digit strings from "26201", "262 01", "262-01", "310410"; else (None, None)."""
    if not known(text):
        return None, None
    assert text is not None
    digits = ""
    for ch in text.strip():
        if "0" <= ch <= "9":
            digits += ch
        elif ch not in " -":
            return None, None
    # MCC 000 is not allocated (E.212): modules print "000 00" when they have no network
    if len(digits) not in (5, 6) or digits[:3] == "000":
        return None, None
    return digits[:3], digits[3:]


def mcc_mnc(mcc, mnc):
    # type: (str | None, str | None) -> tuple
    """Separate MCC and MNC fields as the digit strings the schema keeps (leading zeros matter)."""
    if not known(mcc) or not known(mnc):
        return None, None
    assert mcc is not None and mnc is not None
    mcc, mnc = mcc.strip(), mnc.strip()
    if not (ascii_digits(mcc) and len(mcc) == 3 and ascii_digits(mnc) and len(mnc) <= 3):
        return None, None
    if len(mnc) == 1:
        mnc = "0" + mnc  # printed as a number: "1" is MNC 01
    return mcc, mnc
