"""Credence credentials library: build, lint, sign and verify Open Badges 3.0 VC-JWTs.

No web or database code lives here: everything is passed in (signer, key lookup, clock,
allowed algorithms, status checker), so the service and the offline CLI share this code.

Keys
    `generate_signing_key` (``"EdDSA"`` default, ``"ES256"``, ``"RS256"``) -> private key;
    `public_jwk` -> JWK with ``kid`` = RFC 7638 thumbprint, ``alg``, ``use: "sig"``;
    `jwks_document`; `key_id_url` (issuer base URL or did:web DID + thumbprint -> absolute
    header ``kid``: ``<base>/keys/<thumbprint>``, served as one JWK, or ``<did>#<thumbprint>``),
    `thumbprint_of_kid` (its inverse, earlier ``/.well-known/jwks.json#`` kids included);
    `encrypt_private_key` / `decrypt_private_key` (AES-256-GCM under a 32-byte KEK, kid as
    associated data, versioned blob); `did_web_document`, `did_web_url`.

Signing
    `Signer` protocol (``kid``, ``alg``, ``public_jwk``, ``sign(bytes)``), `LocalSigner`.
    `build_credential` (typed inputs: `IssuerProfile`, `Achievement`, `IdentityObject`,
    `Evidence`, `StatusEntry`) -> OB 3.0 ``OpenBadgeCredential`` dict, already linted;
    `lint_credential` raises `LintError` (``path``, ``reason``); `sign_credential` lints
    then signs (header exactly ``{alg, kid, typ: "JWT"}``, payload = credential + ``iss``,
    ``jti``, ``sub``, ``nbf``, ``exp``, ``iat``); `sign_jwt` / `verify_jwt` for other
    signed documents (status lists, audit checkpoints).

Verifying
    `verify` (token, allowed_algorithms, resolve_key, now, check_status, leeway,
    max_token_bytes) -> `VerificationResult` with `Check`s ``format``, ``signature``,
    ``claims``, ``validity``, ``revocation``, ``suspension``, ``schema``. ``resolve_key(kid)``
    returns a public JWK, a `ResolvedKey` (JWK + ``compromised_at``) or None; an optional
    `Prepare` hook sees the decoded token first (to batch key and status look-ups). Invalid
    credentials are results; only misuse raises (`MisuseError`). `verify_document` checks
    the Data Integrity form of the same credential (a JSON-LD document with an
    ``eddsa-rdfc-2022`` proof; ``resolve_key`` gets the proof's ``verificationMethod``) and
    reports the same checks. `check_recipient` adds a ``recipient`` check: was it issued to
    this email address (its salted-hash ``IdentityObject``)?

Data Integrity (`credentials.data_integrity`, imported on its own: it loads pyld)
    `sign_data_integrity` / `verify_data_integrity`: the ``eddsa-rdfc-2022`` cryptosuite over
    RDFC-1.0 canonical N-Quads (`canonicalize`, strict: undefined terms, relative ids and
    contexts not pinned in ``credentials/contexts`` are errors); `secure_credential` turns a
    VC-JWT payload into that form; `proof_method_id` names the issuer's key in its proofs;
    `multikey_from_public_key` / `public_key_from_multikey` (``credentials.multikey``) for
    Ed25519 ``Multikey`` verification methods.

Status lists
    `StatusList` (>= 131,072 bits, index 0 = MSB of byte 0, ``encode``/``decode``),
    `allocate_random_free_index`, `build_status_list_credential`,
    `sign_status_list_credential`, `load_status_list`, `make_status_checker`.

Audit chain (`credentials.audit`, re-exported here)
    `GENESIS_HASH`, `canonical_json`, `event_body`, `chain_hash`, `AuditRecord`,
    `ChainVerification`, `verify_chain` (optionally against a `Checkpoint`);
    `checkpoint_claims` (sign them with `sign_jwt`) and `verify_checkpoint`.

CLI
    ``python -m credentials verify FILE|- [--issuer ID] [--jwks FILE|URL]
    [--status-list FILE|URL ...] [--json] [--allow-alg ALG] [--now RFC3339]``; embed with
    `verify_main` (exit 0/1/2). ``python -m credentials audit-verify EXPORT
    [--checkpoint JWT|FILE] [--issuer ID] [--jwks FILE|URL]`` (`credentials.audit_cli`).
    Keys come from the issuer the caller names or a file they saved, never from the token's
    say-so (`credentials.key_source`); fetches follow redirects only within the same host and
    never from https to http (`credentials.fetch`).

Known divergence: the OB 3.0 JSON Schema types ``credentialStatus`` as one object
(multiplicity 0..1; 1EdTech/openbadges-specification#623), while VC DM 2.0 and Credence's
design use an array with a revocation and a suspension entry. `build_credential` writes one
entry as an object (schema-valid) and several as an array (VC DM 2.0-valid, flagged by the
official OB 3.0 schema).
"""

from credentials.audit import (
    CHECKPOINT_TYPE,
    GENESIS_HASH,
    AuditRecord,
    ChainVerification,
    Checkpoint,
    canonical_json,
    chain_hash,
    checkpoint_claims,
    event_body,
    verify_chain,
    verify_checkpoint,
)
from credentials.builder import CREDENTIAL_SCHEMA, build_credential, new_urn_uuid
from credentials.did import did_web_document, did_web_url, multikey_from_jwk
from credentials.errors import (
    CredentialsError,
    KeyDecryptionError,
    KeyFormatError,
    KeyMaterialError,
    LintError,
    MisuseError,
    StatusCheckError,
    StatusListError,
    StatusListFullError,
    TokenError,
)
from credentials.jws import (
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_BYTES,
    ResolvedKey,
    ResolveKey,
    VerifiedJwt,
    check_allowed_algorithms,
    sign_jwt,
    verify_jwt,
)
from credentials.key_encryption import decrypt_private_key, encrypt_private_key
from credentials.keys import (
    SUPPORTED_ALGORITHMS,
    Algorithm,
    PrivateKey,
    PublicKey,
    algorithm_for_key,
    generate_signing_key,
    jwk_thumbprint,
    jwks_document,
    key_id_url,
    public_jwk,
    public_key_from_jwk,
    thumbprint_of_kid,
)
from credentials.lint import OB_CONTEXT, OB_SCHEMA_URL, VCDM2_CONTEXT, lint_credential
from credentials.model import (
    Achievement,
    Evidence,
    IdentityObject,
    IssuerProfile,
    StatusEntry,
    StatusPurpose,
)
from credentials.signer import LocalSigner, Signer
from credentials.signing import sign_credential, vc_jwt_claims
from credentials.status import (
    DecodedStatusList,
    build_status_list_credential,
    load_status_list,
    make_status_checker,
    sign_status_list_credential,
)
from credentials.status_list import MIN_STATUS_LIST_ENTRIES, StatusList, allocate_random_free_index
from credentials.verify import (
    CHECK_NAMES,
    Check,
    CheckOutcome,
    Prepare,
    StatusChecker,
    VerificationResult,
    check_recipient,
    verify,
    verify_document,
)

__all__ = [
    "CHECKPOINT_TYPE",
    "CHECK_NAMES",
    "CREDENTIAL_SCHEMA",
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_BYTES",
    "GENESIS_HASH",
    "MIN_STATUS_LIST_ENTRIES",
    "OB_CONTEXT",
    "OB_SCHEMA_URL",
    "SUPPORTED_ALGORITHMS",
    "VCDM2_CONTEXT",
    "Achievement",
    "Algorithm",
    "AuditRecord",
    "ChainVerification",
    "Check",
    "CheckOutcome",
    "Checkpoint",
    "CredentialsError",
    "DecodedStatusList",
    "Evidence",
    "IdentityObject",
    "IssuerProfile",
    "KeyDecryptionError",
    "KeyFormatError",
    "KeyMaterialError",
    "LintError",
    "LocalSigner",
    "MisuseError",
    "Prepare",
    "PrivateKey",
    "PublicKey",
    "ResolveKey",
    "ResolvedKey",
    "Signer",
    "StatusCheckError",
    "StatusChecker",
    "StatusEntry",
    "StatusList",
    "StatusListError",
    "StatusListFullError",
    "StatusPurpose",
    "TokenError",
    "VerificationResult",
    "VerifiedJwt",
    "algorithm_for_key",
    "allocate_random_free_index",
    "build_credential",
    "build_status_list_credential",
    "canonical_json",
    "chain_hash",
    "check_allowed_algorithms",
    "check_recipient",
    "checkpoint_claims",
    "decrypt_private_key",
    "did_web_document",
    "did_web_url",
    "encrypt_private_key",
    "event_body",
    "generate_signing_key",
    "jwk_thumbprint",
    "jwks_document",
    "key_id_url",
    "lint_credential",
    "load_status_list",
    "make_status_checker",
    "multikey_from_jwk",
    "new_urn_uuid",
    "public_jwk",
    "public_key_from_jwk",
    "sign_credential",
    "sign_jwt",
    "sign_status_list_credential",
    "thumbprint_of_kid",
    "vc_jwt_claims",
    "verify",
    "verify_chain",
    "verify_checkpoint",
    "verify_document",
    "verify_jwt",
]
