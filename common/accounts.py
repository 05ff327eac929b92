"""The account vocabulary shared by identity and the gateway: usernames, e-mail addresses, password strength."""

from __future__ import annotations

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
# Deliberately loose: deliverability is the mail server's business, not ours.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
#: Upper bound of a password: it keeps one request from buying minutes of argon2 time.
MAX_PASSWORD = 128
MIN_PASSWORD = 8


def strong_password(password: str, *, username: str | None = None, email: str | None = None) -> str:
    """``password`` when it is strong enough for a new password (length is checked by the field).

    Raises:
        ValueError: fewer than four different characters, only lower-case letters or only digits,
            or the username or e-mail address itself.
    """
    if len(set(password)) < 4:
        raise ValueError("the password needs at least four different characters")
    if password.isdigit() or (password.isalpha() and password.islower()):
        raise ValueError("the password needs more than lower-case letters or digits alone")
    if password.casefold() in {value.casefold() for value in (username, email) if value}:
        raise ValueError("the password must not be the username or the e-mail address")
    return password
