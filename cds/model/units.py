"""How netcds writes numbers for people, and its two follow-up units (mSv, calendar months).

The knowledge loader (setting values in texts), the planner (sentences of the contract) and
the renderers (reports, text, iCalendar, timeline) write numbers, doses and months the same
way, so they all read it from here rather than from each other.
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
    >>> fmt_number(10.0), fmt_number(22.8, "fr"), fmt_number(1500000.0), fmt_number(7)
    ('10', '22,8', '1500000', '7')
    """
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
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
    return fmt_number(float(f"{value:.1f}"), lang)


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
    day = date.day
    if day > 28:  # every month has 28 days: only the 29th to the 31st may need clamping
        day = min(day, calendar.monthrange(year, month0 + 1)[1])
    return dt.date(year, month0 + 1, day)
