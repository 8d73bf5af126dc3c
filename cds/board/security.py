"""Passwords (argon2id) and roles: who may do what on the board.

Three roles: a **coordinator** runs sessions (agenda, users) and may do everything; a **member**
enters cases, evaluates and records decisions; a **viewer** reads. The web layer checks a right
for every request; the store trusts its caller.

Examples
--------
>>> stored = hash_password("correct horse")
>>> check_password(stored, "correct horse"), check_password(stored, "wrong")
(True, False)
>>> can("member", "decide"), can("viewer", "decide")
(True, False)
"""

from __future__ import annotations

from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: A user's role.
Role = Literal["coordinator", "member", "viewer"]
#: What a request may need.
Right = Literal["read", "edit_cases", "decide", "manage_sessions", "manage_users"]

ROLES: tuple[str, ...] = get_args(Role)

#: The rights of each role.
RIGHTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "member": frozenset({"read", "edit_cases", "decide"}),
    "coordinator": frozenset({"read", "edit_cases", "decide", "manage_sessions", "manage_users"}),
}

#: The shortest password accepted (NIST SP 800-63B: at least 8 characters; longer for a shared server).
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    """The argon2id hash to store for a password.

    Parameters
    ----------
    password
        The password, never stored or logged.

    Returns
    -------
    str
        The encoded hash (parameters and salt included).

    Examples
    --------
    >>> hash_password("correct horse").startswith("$argon2id$")
    True
    """
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (False for a malformed hash, never an exception).

    Parameters
    ----------
    stored
        A hash from :func:`hash_password`.
    password
        What the person typed.

    Returns
    -------
    bool
        True when it matches.

    Examples
    --------
    >>> check_password("not a hash", "x")
    False
    """
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None.

    Parameters
    ----------
    password
        The proposed password.

    Returns
    -------
    str or None
        A sentence for the person, or None when it is acceptable.

    Examples
    --------
    >>> password_problem("short")
    'the password must have at least 10 characters'
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    return None


def can(role: str, right: str) -> bool:
    """Whether a role holds a right.

    Parameters
    ----------
    role
        One of :data:`ROLES`.
    right
        What the request needs.

    Returns
    -------
    bool
        False for an unknown role.

    Examples
    --------
    >>> can("coordinator", "manage_users"), can("nobody", "read")
    (True, False)
    """
    return right in RIGHTS.get(role, frozenset())
