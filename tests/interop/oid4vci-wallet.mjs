// A stranger's wallet for OpenID for Verifiable Credential Issuance 1.0 (pre-authorized code
// flow), built on the OpenWallet Foundation library @openid4vc/openid4vci (pinned in
// package.json): it resolves the offer, fetches the issuer and authorization server metadata,
// redeems the pre-authorized code, asks the Nonce Endpoint for a c_nonce, signs a key proof
// JWT (typ openid4vci-proof+jwt, kid did:jwk:...#0, aud = credential_issuer, nonce = c_nonce)
// and asks the Credential Endpoint for the offered credential_configuration_id, with `proofs`.
//
// stdin:  {"offer": "openid-credential-offer://?credential_offer=...", "txCode"?: "...",
//          "mode"?: "replay" | "wrong-nonce" | "wrong-audience" | "wrong-key" | "no-proof" |
//                   "no-tx-code", "alg"?: "ES256" | "EdDSA" | "Ed25519", "allowDraft"?: bool}
// Only OpenID4VCI 1.0 final is accepted (the library's 'V1'); allowDraft lets the library fall
// back to the draft it detects instead of stopping at stage "metadata".
// stdout: on success {"did", "credentials": [<each `credential` value>], "credentialResponse",
//          "format", "configurationId", "metadata", "authorizationServerMetadata",
//          "draftVersion", "tokenResponse" (access_token left out), "nonceResponse",
//          "proof": {"header", "payload"}, "requests": [...], "replay"?: {...}};
//          on a protocol error {"error", "description", "status", "stage", ...} (exit 0).
//          `error` is the server's OAuth error code; "http_error" when the server failed without
//          one; "wallet_rejected" when the library refused what the server sent (bad metadata,
//          wrong content type, ...). stage: "offer" | "metadata" | "token" | "nonce" | "credential".
// Plain http:// is accepted only for a loopback issuer (127.0.0.0/8, localhost, [::1]).
import {readFileSync} from 'node:fs';
import {createHash, randomBytes} from 'node:crypto';
import {SignJWT, base64url, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair} from 'jose';
import {Openid4vciClient, setGlobalConfig} from '@openid4vc/openid4vci';
import {
  Oauth2Client,
  Oauth2ClientErrorResponseError,
  clientAuthenticationAnonymous,
  clientAuthenticationNone,
  preAuthorizedCodeGrantIdentifier,
} from '@openid4vc/oauth2';

const WALLET_CLIENT_ID = 'credence-interop-wallet';
const input = JSON.parse(readFileSync(0, 'utf8'));
const mode = input.mode ?? '';
// What is known so far (did, configurationId, draftVersion, proof), printed with errors too.
const context = {mode};
const MODES = ['', 'replay', 'wrong-nonce', 'wrong-audience', 'wrong-key', 'no-proof', 'no-tx-code'];
if (!MODES.includes(mode)) throw new Error(`unknown mode '${mode}'`);

// Every HTTP exchange, access tokens redacted, so a test can assert on the wire shapes.
const requests = [];
async function tracingFetch(url, init = {}) {
  const headers = new Headers(init.headers ?? {});
  const authorization = headers.get('authorization');
  const entry = {
    method: init.method ?? 'GET',
    url: String(url),
    contentType: headers.get('content-type'),
    authorization: authorization ? `${authorization.split(' ')[0]} <redacted>` : null,
    body: typeof init.body === 'string' ? init.body : init.body == null ? null : String(init.body),
  };
  if (entry.contentType?.includes('application/x-www-form-urlencoded') && entry.body) {
    entry.form = Object.fromEntries(new URLSearchParams(entry.body));
  } else if (entry.contentType?.includes('application/json') && entry.body) {
    entry.json = JSON.parse(entry.body);
  }
  const response = await fetch(url, init);
  entry.status = response.status;
  entry.responseContentType = response.headers.get('content-type');
  const text = await response.clone().text();
  const json = parseMaybeJson(text);
  if (json && typeof json === 'object' && 'access_token' in json) json.access_token = '<redacted>';
  entry.response = json ?? text.slice(0, 2000);
  requests.push(entry);
  return response;
}

function isLoopbackHttp(value) {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' &&
      (url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname));
  } catch {
    return false;
  }
}

/** The credential_issuer (or credential_offer_uri) named by the offer, read without the library. */
function peekOfferTarget(offer) {
  const params = new URL(offer).searchParams;
  if (params.get('credential_offer_uri')) return params.get('credential_offer_uri');
  try {
    return JSON.parse(params.get('credential_offer') ?? '{}').credential_issuer;
  } catch {
    return undefined;
  }
}

function print(value) {
  process.stdout.write(JSON.stringify(value));
}

class Stop extends Error {
  constructor(result) {
    super(result.error);
    this.result = result;
  }
}

function parseMaybeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Turn whatever the library threw into {error, description, status, stage}. */
function describeError(stage, err) {
  // Token endpoint answered with an OAuth error body.
  if (err instanceof Oauth2ClientErrorResponseError) {
    return {
      error: err.errorResponse.error,
      description: err.errorResponse.error_description ?? '',
      status: err.response?.status ?? null,
      stage,
      body: err.errorResponse,
    };
  }
  // Credential endpoint: Openid4vciRetrieveCredentialsError carries the parsed response.
  if (err?.response && typeof err.response === 'object' && 'ok' in err.response && err.response.response) {
    const r = err.response;
    const status = r.response.status;
    const body = r.credentialErrorResponseResult?.data;
    if (body?.error) {
      return {error: body.error, description: body.error_description ?? '', status, stage, body};
    }
    const challenge = r.wwwAuthenticate?.find((c) => c.error);
    if (challenge) {
      return {error: challenge.error, description: challenge.error_description ?? '', status, stage,
        wwwAuthenticate: r.wwwAuthenticate};
    }
    if (status >= 200 && status < 300) {
      return {error: 'wallet_rejected', description: err.message, status, stage};
    }
    return {error: 'http_error', description: err.message, status, stage};
  }
  // InvalidFetchResponseError (nonce endpoint, metadata, offer): a Response and its text.
  if (err?.response instanceof Response) {
    const status = err.response.status;
    const body = parseMaybeJson(err.textResponse ?? '');
    if (!err.response.ok && body?.error) {
      return {error: body.error, description: body.error_description ?? '', status, stage, body};
    }
    return {error: err.response.ok ? 'wallet_rejected' : 'http_error', description: err.message, status, stage};
  }
  return {error: 'wallet_rejected', description: err?.message ?? String(err), status: null, stage};
}

async function step(stage, fn) {
  try {
    return await fn();
  } catch (err) {
    throw new Stop(describeError(stage, err));
  }
}

/** Public JWK members only, in lexicographic order, for a stable did:jwk. */
function publicJwk(jwk) {
  const members = jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x'];
  return Object.fromEntries(members.map((name) => [name, jwk[name]]));
}

async function makeKey(alg) {
  const {publicKey, privateKey} = await generateKeyPair(alg, {extractable: true});
  const jwk = publicJwk(await exportJWK(publicKey));
  const did = `did:jwk:${base64url.encode(JSON.stringify(jwk))}`;
  return {alg, privateKey, jwk, did, kid: `${did}#0`};
}

function withoutUndefined(object) {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

async function main() {
  const target = peekOfferTarget(input.offer);
  if (target && isLoopbackHttp(target)) setGlobalConfig({allowInsecureUrls: true});

  // Keys are made once the metadata names the algorithms; the signer below signs with whatever
  // key the current step sets (so 'wrong-key' can sign with a key the header does not name).
  let signingKey;
  const callbacks = {
    fetch: tracingFetch,
    generateRandom: (bytes) => new Uint8Array(randomBytes(bytes)),
    hash: (data, alg) => new Uint8Array(createHash(alg.replace('-', '')).update(data).digest()),
    // Anonymous access when the authorization server says it allows it (OID4VCI 1.0 §12.3,
    // `pre-authorized_grant_anonymous_access_supported`), else a public client_id in the body.
    clientAuthentication: (options) =>
      options.authorizationServerMetadata['pre-authorized_grant_anonymous_access_supported']
        ? clientAuthenticationAnonymous()(options)
        : clientAuthenticationNone({clientId: WALLET_CLIENT_ID})(options),
    signJwt: async (signer, {header, payload}) => {
      const jwt = await new SignJWT(withoutUndefined(payload))
        .setProtectedHeader(withoutUndefined(header))
        .sign(signingKey.privateKey);
      return {jwt, signerJwk: signingKey.jwk};
    },
  };
  const client = new Openid4vciClient({callbacks});

  const credentialOffer = await step('offer', () => client.resolveCredentialOffer(input.offer));
  const issuerMetadata = await step('metadata', () => client.resolveIssuerMetadata(credentialOffer.credential_issuer));
  const issuer = issuerMetadata.credentialIssuer;
  const configurationId = input.configurationId ?? credentialOffer.credential_configuration_ids[0];
  Object.assign(context, {configurationId, draftVersion: issuerMetadata.originalDraftVersion});
  // The library picks the protocol version from the metadata: 'V1' only when some configuration
  // has `credential_metadata`; otherwise it would speak Draft 14/15 (Draft 14: a `format` +
  // `credential_definition` credential request instead of `credential_configuration_id`).
  if (issuerMetadata.originalDraftVersion !== 'V1' && !input.allowDraft) {
    throw new Stop({error: 'wallet_rejected', status: null, stage: 'metadata',
      description: `the library reads this metadata as OpenID4VCI ${issuerMetadata.originalDraftVersion}, not V1 (1.0 final): no credential configuration has 'credential_metadata'`});
  }
  const configuration = issuer.credential_configurations_supported[configurationId];
  if (!configuration) {
    throw new Stop({error: 'wallet_rejected', status: null, stage: 'metadata',
      description: `offered configuration '${configurationId}' is not in credential_configurations_supported`});
  }
  const algsOffered = configuration.proof_types_supported?.jwt?.proof_signing_alg_values_supported ?? [];
  const alg = input.alg ?? ['ES256', 'EdDSA', 'Ed25519'].find((a) => algsOffered.includes(a)) ?? 'ES256';
  const wallet = await makeKey(alg);
  signingKey = wallet;
  context.did = wallet.did;

  const grant = credentialOffer.grants?.[preAuthorizedCodeGrantIdentifier];
  const getToken = () => mode === 'no-tx-code'
    // The library refuses to leave out a tx_code the offer asks for; go one level down.
    ? new Oauth2Client({callbacks}).retrievePreAuthorizedCodeAccessToken({
      authorizationServerMetadata: issuerMetadata.authorizationServers[0],
      preAuthorizedCode: grant?.['pre-authorized_code'],
      resource: issuer.credential_issuer,
    })
    : client.retrievePreAuthorizedCodeAccessTokenFromOffer({credentialOffer, issuerMetadata, txCode: input.txCode});
  const {accessTokenResponse} = await step('token', getToken);
  const {access_token: accessToken, ...tokenResponse} = accessTokenResponse;

  const nonceResponse = await step('nonce', () => client.requestNonce({issuerMetadata}));

  let proofs;
  if (mode !== 'no-proof') {
    let proofMetadata = issuerMetadata;
    let nonce = nonceResponse.c_nonce;
    if (mode === 'wrong-nonce') nonce = `made-up-${base64url.encode(randomBytes(12))}`;
    if (mode === 'wrong-audience') {
      // The library takes aud from credential_issuer; hand it a copy naming another issuer.
      proofMetadata = {...issuerMetadata,
        credentialIssuer: {...issuer, credential_issuer: 'https://wrong-audience.example.org'}};
    }
    if (mode === 'wrong-key') signingKey = await makeKey(alg); // header still names the wallet's kid
    const {jwt} = await step('credential', () => client.createCredentialRequestJwtProof({
      issuerMetadata: proofMetadata,
      credentialConfigurationId: configurationId,
      signer: {method: 'did', didUrl: wallet.kid, alg},
      nonce,
    }));
    signingKey = wallet;
    proofs = {jwt: [jwt]};
  }
  const proofJwt = proofs?.jwt[0];
  const proof = proofJwt ? {header: decodeProtectedHeader(proofJwt), payload: decodeJwt(proofJwt)} : null;
  context.proof = proof;

  const {credentialResponse} = await step('credential', () => client.retrieveCredentials({
    issuerMetadata,
    accessToken,
    credentialConfigurationId: configurationId,
    proofs,
  }));
  const credentials = credentialResponse.credentials
    ? credentialResponse.credentials.map((entry) => (entry && typeof entry === 'object' && 'credential' in entry ? entry.credential : entry))
    : credentialResponse.credential !== undefined ? [credentialResponse.credential] : [];

  const out = {
    ...context,
    credentials,
    credentialResponse,
    format: configuration.format,
    // The issuer metadata document exactly as served (the library's parsed copy drops unknown
    // members inside proof_types_supported entries); the parsed one if the trace lacks it.
    metadata: requests.find((r) => r.url.includes('/.well-known/openid-credential-issuer') && r.status === 200)?.response ?? issuer,
    authorizationServerMetadata: issuerMetadata.authorizationServers,
    tokenResponse,
    nonceResponse,
  };

  if (mode === 'replay') {
    try {
      const again = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({credentialOffer, issuerMetadata, txCode: input.txCode});
      const {access_token: _, ...rest} = again.accessTokenResponse;
      out.replay = {ok: true, tokenResponse: rest};
    } catch (err) {
      out.replay = describeError('token', err);
    }
  }
  out.requests = requests;
  print(out);
}

try {
  await main();
} catch (err) {
  if (!(err instanceof Stop)) throw err;
  print({...context, ...err.result, requests});
}
