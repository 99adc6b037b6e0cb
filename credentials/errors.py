"""Exception tree of the credentials library.

Nothing here knows about HTTP: the service maps these to problem documents at its edge.

```
CredentialsError
├── MisuseError            the caller broke the API contract (also a ValueError)
├── LintError              a credential document is not a valid OB 3.0 credential
├── KeyMaterialError       key material problems
│   ├── KeyFormatError     a JWK / key blob is malformed or of an unsupported type
│   └── KeyDecryptionError an encrypted private key failed authentication
├── TokenError             a JWT could not be verified (generic `verify_jwt`)
├── DataIntegrityError     a Data Integrity proof could not be made or verified
├── StatusListError        an encodedList / status-list credential is malformed
│   └── StatusListFullError no free index is left to allocate
└── StatusCheckError       a status lookup could not give a trustworthy answer
```

`verify()` never raises for a bad credential: invalid credentials are results.
"""

from __future__ import annotations

__all__ = [
    "CredentialsError",
    "DataIntegrityError",
    "KeyDecryptionError",
    "KeyFormatError",
    "KeyMaterialError",
    "LintError",
    "MisuseError",
    "StatusCheckError",
    "StatusListError",
    "StatusListFullError",
    "TokenError",
]


class CredentialsError(Exception):
    """Base class of every error raised by the `credentials` package."""


class MisuseError(CredentialsError, ValueError):
    """The library was called wrongly (e.g. an empty or unsafe algorithm allow-list).

    This signals a programming or configuration error, never an invalid credential.
    """


class LintError(CredentialsError):
    """A credential document does not satisfy the OB 3.0 structure.

    Attributes:
        path: where the problem is, e.g. ``credentialSubject.achievement.id``
            (``$`` for the document itself).
        reason: what is wrong there, in plain words.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class KeyMaterialError(CredentialsError):
    """Base class of key-material errors."""


class KeyFormatError(KeyMaterialError):
    """A JWK, JWKS or key blob is malformed, or its type/size is not supported."""


class KeyDecryptionError(KeyMaterialError):
    """An encrypted private key could not be decrypted (wrong KEK, wrong kid, or tampered)."""


class TokenError(CredentialsError):
    """A compact JWT failed verification in `verify_jwt`.

    Attributes:
        check: which stage failed (``format``, ``signature`` or ``claims``).
        reason: what failed, in plain words.
    """

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(f"{check}: {reason}")
        self.check = check
        self.reason = reason


class DataIntegrityError(CredentialsError):
    """A Data Integrity proof (``eddsa-rdfc-2022``) failed, or a document cannot carry one.

    Attributes:
        check: which stage failed (``format``, ``context``, ``key`` or ``signature``).
        reason: what failed, in plain words.
    """

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(f"{check}: {reason}")
        self.check = check
        self.reason = reason


class StatusListError(CredentialsError):
    """A status list (encodedList or status-list credential) is malformed."""


class StatusListFullError(StatusListError):
    """Every index of a status list is already in use."""


class StatusCheckError(CredentialsError):
    """A status checker could not give a trustworthy answer for an entry.

    Raised by status checkers (see `make_status_checker`); `verify()` turns it into a
    failed ``revocation``/``suspension`` check carrying this message as its reason.
    """
