"""How the follow-up contract writes its two units: doses in mSv and calendar months.

Both the planner (sentences of the contract) and the renderers (text, iCalendar, timeline)
write doses and count months the same way, so they read it from here rather than from each
other.
"""

from __future__ import annotations

import calendar
import datetime as dt


def fmt_number(value: float, lang: str = "en") -> str:
    """A plain number for people, in the language's way: ``2.5`` in English, ``2,5`` in French.

    Parameters
    ----------
    value
        The number (a whole float is written without ``.0``).
    lang
        ``en`` or ``fr``.

    Returns
    -------
    str
        The figure without its unit.

    Examples
    --------
    >>> fmt_number(10.0), fmt_number(22.8, "fr")
    ('10', '22,8')
    """
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "fr" else text


def fmt_msv(value: float, lang: str = "en") -> str:
    """A dose for people: one decimal, no trailing ``.0``, the decimal mark of the language.

    Parameters
    ----------
    value
        mSv.
    lang
        ``en`` or ``fr`` (``4,8`` in French).

    Returns
    -------
    str
        The figure without its unit.

    Examples
    --------
    >>> fmt_msv(60.0), fmt_msv(4.84), fmt_msv(0), fmt_msv(220.04, "fr"), fmt_msv(4.84, "fr")
    ('60', '4.8', '0', '220', '4,8')
    """
    text = f"{value:.1f}"
    text = text[:-2] if text.endswith(".0") else text
    return text.replace(".", ",") if lang == "fr" else text


def add_months(date: dt.date, months: int) -> dt.date:
    """Calendar months later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb).

    Parameters
    ----------
    date
        The start date (the decision date).
    months
        How many calendar months later.

    Returns
    -------
    datetime.date
        The same day of the month, or the month's last day when it has fewer days.

    Examples
    --------
    >>> add_months(dt.date(2025, 1, 31), 1)
    datetime.date(2025, 2, 28)
    """
    year, month0 = divmod(date.month - 1 + months, 12)
    year += date.year
    day = min(date.day, calendar.monthrange(year, month0 + 1)[1])
    return dt.date(year, month0 + 1, day)
