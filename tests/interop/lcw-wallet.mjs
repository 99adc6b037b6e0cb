// A stand-in for the Learner Credential Wallet (LCW 2.2.x, openwallet-foundation-labs/
// learner-credential-wallet) on the two ways it claims a credential with DID Authentication.
// It uses the libraries LCW uses, at the versions LCW's package-lock pins (package.json here):
// @digitalcredentials/vc 10.0.2 (createPresentation / signPresentation), ed25519-signature-2020
// 6.0.0, ed25519-verification-key-2020 5.0.0 + did-method-key 3.0.0 (a fresh did:key like LCW's
// mintDid), security-document-loader 8.0.0 (securityLoader({fetchRemoteContexts: true}), the
// VCDM 2.0 and ed25519-2020 contexts are built in), query-string 7.1.3 (LCW's link parser),
// html-entities 2.6.0 (LCW decodes entities in the legacy response before JSON.parse).
//
// Links, routed in LCW's order (app/lib/deepLinkConfig.ts, AddScreen.tsx):
//  1. legacy: a deep link (https://lcw.app/request..., dccrequest://, org.dcconsortium://) whose
//     query has `issuer` and `vc_request_url`: qs.parse(link.split('?')[1]). auth_type must be
//     "bearer" (LCW throws otherwise). The VP is signed with the `challenge` param (a uuid v4 when
//     absent, as LCW does) and no domain, with Ed25519Signature2020({key}); the bare VP is POSTed
//     to vc_request_url (Content-Type: application/json, no Authorization). The body, after
//     HtmlEntities.decode, must be a VC or a VP.
//  2. interaction URL (interaction:<url> or a URL with ?iuv=...): GET it (Accept: application/
//     json) and use `protocols.vcapi`, then as 3.
//  3. VC-API: a deep link with request=<JSON {credentialRequestOrigin, protocols: {vcapi}}>,
//     JSON.parse(decodeURI(qs.parseUrl(link).query.request)). POST {} to the exchange URL; an
//     answer with `verifiablePresentation` is an offer (credentials taken as they are); one with
//     `verifiablePresentationRequest` is processed like LCW's processRequest/composeVp: a
//     DIDAuthentication query needs both `challenge` and `domain` (LCW throws otherwise), the VP
//     is signed with Ed25519Signature2020({signer: keyPair.signer()}) and POSTed as
//     {"verifiablePresentation": vp}; credentials come from the answer's verifiablePresentation.
//
// stdin:  {"link": "<deep link>", "mode"?: "tamper-challenge" | "wrong-domain" | "unsigned" |
//          "replay", "verify"?: bool (default true), "rewriteLoopbackHttps"?: bool (default true)}
//   tamper-challenge: sign with a challenge other than the one asked for;
//   wrong-domain: sign with domain "https://elsewhere.example" (legacy too: a domain is added);
//   unsigned: send the VP without a proof; replay: send the same VP a second time.
// stdout: {"did", "flow": "legacy"|"vcapi", "mode", "presentation": <VP sent>, "status",
//          "response": <parsed body>, "credentials": [...], "lcwWouldStore": bool,
//          "initial"?: {"status", "response"} (vcapi POST {}), "interaction"?: {...},
//          "replay"?: {"status", "response"}, "verification"?: [...], "requests": [...],
//          "error"?: "...", "stage"?: "..."}. Exit 0 whatever the server answered.
// lcwWouldStore mirrors LCW 2.2.10's ExchangeCredentials screen: credentials received in an
// exchange that began with a verifiablePresentationRequest are NOT staged ("isVPRFlow").
//
// verification: each received credential through @digitalcredentials/verifier-core (as LCW's
// validate.ts does), with knownDIDRegistries = [] (LCW downloads its registry list from GitHub
// Pages; there is no network here, so the registry step always reports not registered).
// Network: only loopback hosts (127.0.0.0/8, localhost, [::1]) are fetched; anything else fails.
// With rewriteLoopbackHttps, an https:// loopback URL (e.g. did:web:127.0.0.1%3A8000 resolved by
// did-method-web, which only builds https URLs) is fetched over http://; each rewrite is listed
// in `rewrites`.
import {readFileSync} from 'node:fs';
import {randomBytes, randomUUID} from 'node:crypto';
import qs from 'query-string';
import * as HtmlEntities from 'html-entities';
import * as vc from '@digitalcredentials/vc';
import * as DidMethodKey from '@digitalcredentials/did-method-key';
import {Ed25519VerificationKey2020} from '@digitalcredentials/ed25519-verification-key-2020';
import {Ed25519Signature2020} from '@digitalcredentials/ed25519-signature-2020';
import {securityLoader} from '@digitalcredentials/security-document-loader';

// stdout carries only the JSON result: the libraries' console chatter goes to stderr
console.log = console.info = console.warn = console.debug = console.error;

const input = JSON.parse(readFileSync(0, 'utf8'));
const link = String(input.link ?? '').trim();
const mode = input.mode ?? '';
const MODES = ['', 'tamper-challenge', 'wrong-domain', 'unsigned', 'replay'];
if (!MODES.includes(mode)) throw new Error(`unknown mode '${mode}'`);
const WRONG_DOMAIN = 'https://elsewhere.example';

// ---- network guard: loopback only -------------------------------------------------------------
const rewrites = [];
const realFetch = globalThis.fetch.bind(globalThis);
function isLoopback(hostname) {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}
globalThis.fetch = async (resource, init) => {
  const request = resource instanceof Request ? resource : null;
  let url = new URL(request ? request.url : String(resource));
  if (!isLoopback(url.hostname)) {
    throw new TypeError(`lcw-wallet: refusing to fetch non-loopback URL ${url.href}`);
  }
  if (url.protocol === 'https:' && input.rewriteLoopbackHttps !== false) {
    const from = url.href;
    url = new URL(from.replace(/^https:/, 'http:'));
    rewrites.push({from, to: url.href});
    if (request) return realFetch(new Request(url.href, request), init);
  }
  return realFetch(request && url.href === request.url ? request : url.href, init);
};

// ---- what LCW does ----------------------------------------------------------------------------
// app.config.js LinkConfig.schemes
const DEEP_LINK_PREFIXES = [
  'dccrequest://', 'org.dcconsortium://', 'https://lcw.app/request', 'interaction:',
  'https://lcw.app/mobile',
];
const isDeepLink = text => DEEP_LINK_PREFIXES.some(prefix => text.startsWith(prefix));

// app/lib/decode.ts isLegacyCredentialRequest / legacyRequestParamsFromUrl
function legacyParams(url) {
  if (!isDeepLink(url)) return null;
  const params = qs.parse(url.split('?')[1]);
  return 'vc_request_url' in params && 'issuer' in params ? params : null;
}

// app/lib/interactionUrl.ts
function isInteractionUrl(url) {
  if (url.startsWith('interaction:')) return true;
  try {
    return new URL(url).searchParams.has('iuv');
  } catch {
    return false;
  }
}
function parseInteractionUrl(url) {
  if (!url.startsWith('interaction:')) return url;
  const inner = url.slice('interaction:'.length);
  return inner.startsWith('http%3A') || inner.startsWith('https%3A') ? decodeURIComponent(inner) : inner;
}

// app/lib/walletRequestApi.ts parseWalletApiUrl
function walletApiMessage(url) {
  const {query} = qs.parseUrl(url);
  if (query.request === undefined) return undefined;
  return JSON.parse(decodeURI(query.request));
}

// app/lib/validate.ts + verifiableObject.ts
const isVC = obj => Boolean(obj?.type?.includes?.('VerifiableCredential'));
const isVP = obj => Boolean(obj?.type?.includes?.('VerifiablePresentation'));
function extractCredentialsFrom(obj) {
  if (obj && typeof obj === 'object' && isVC(obj)) return [obj];
  if (obj && typeof obj === 'object' && isVP(obj) && 'verifiableCredential' in obj) {
    const vcs = obj.verifiableCredential;
    return Array.isArray(vcs) ? vcs : [vcs];
  }
  return null;
}

// app/lib/did.ts mintDid (a fresh random seed, as a new LCW profile)
async function mintDid() {
  const didKeyDriver = DidMethodKey.driver();
  didKeyDriver.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519VerificationKey2020.from});
  const verificationKeyPair = await Ed25519VerificationKey2020.generate({seed: new Uint8Array(randomBytes(32))});
  const {didDocument} = await didKeyDriver.fromKeyPair({verificationKeyPair});
  const did = didDocument.id;
  verificationKeyPair.controller = did;
  verificationKeyPair.id = `${did}#${verificationKeyPair.fingerprint()}`;
  return {didDocument, verificationKey: verificationKeyPair.export({publicKey: true, privateKey: true})};
}

// securityLoader({fetchRemoteContexts: true}).build(), as in LCW's present.ts / composeVp.ts
const documentLoader = securityLoader({fetchRemoteContexts: true}).build();

// The presentation LCW would send, bent by `mode`.
async function didAuthPresentation({holder, suite, challenge, domain}) {
  const presentation = vc.createPresentation({holder, verify: false});
  if (mode === 'unsigned') return presentation;
  const options = {presentation, suite, challenge, documentLoader};
  if (mode === 'tamper-challenge') options.challenge = `tampered-${challenge}`;
  if (domain !== undefined) options.domain = domain;
  if (mode === 'wrong-domain') options.domain = WRONG_DOMAIN;
  return vc.signPresentation(options);
}

// Every HTTP exchange, so a test can assert on the wire shapes.
const requests = [];
async function post(url, payload, {decodeEntities = false} = {}) {
  const body = JSON.stringify(payload);
  const entry = {method: 'POST', url, contentType: 'application/json', authorization: null, json: payload};
  requests.push(entry);
  const response = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body});
  entry.status = response.status;
  const text = await response.text();
  entry.responseContentType = response.headers.get('content-type');
  let parsed = null;
  let parseError;
  const decoded = decodeEntities ? HtmlEntities.decode(text) : text;
  try {
    parsed = decoded ? JSON.parse(decoded) : null;
  } catch (err) {
    parseError = `response is not JSON: ${err.message}`;
  }
  const out = {status: response.status, ok: response.ok, response: parsed ?? (parseError ? text : null)};
  if (parseError) out.parseError = parseError;
  if (decodeEntities && decoded !== text) out.htmlEntitiesChanged = true;
  return out;
}

async function verifyCredentials(credentials) {
  const verifierCore = await import('@digitalcredentials/verifier-core');
  const results = [];
  for (const credential of credentials) {
    try {
      const result = await verifierCore.verifyCredential({credential, knownDIDRegistries: []});
      const log = result.log ?? [];
      results.push({
        // LCW validate.ts: verified = every log entry valid (the registry entry left aside here,
        // since there is no registry list offline)
        verified: !result.errors && log.filter(e => e.id !== 'registered_issuer').every(e => e.valid),
        log: log.map(({id, valid, error}) => ({id, valid, ...(error ? {error: String(error.message ?? error.name ?? error)} : {})})),
        // verifier-core's OBv3 JSON Schema check (it fetches the schema from purl.imsglobal.org,
        // which the loopback guard refuses here: expect "INVALID_SCHEMA - possibly not a valid url")
        schema: result.additionalInformation?.find(e => e.id === 'schema_check')?.results,
        errors: result.errors?.map(e => ({name: e.name, message: e.message,
          ...(e.stackTrace ? {detail: String(e.stackTrace?.message ?? e.stackTrace).slice(0, 2000)} : {})})),
      });
    } catch (err) {
      results.push({verified: false, errors: [{name: err.name, message: err.message}]});
    }
  }
  return results;
}

// ---- run --------------------------------------------------------------------------------------
const out = {mode};
async function main() {
  const {didDocument, verificationKey} = await mintDid();
  const holder = didDocument.id;
  out.did = holder;
  out.verificationMethod = verificationKey.id;
  const keyPair = await Ed25519VerificationKey2020.from(verificationKey);

  const legacy = legacyParams(link);
  if (legacy) {
    out.flow = 'legacy';
    out.stage = 'request';
    out.linkParams = legacy;
    const {auth_type = 'code', vc_request_url, challenge = randomUUID()} = legacy;
    if (auth_type !== 'bearer') throw new Error(`Unsupported auth_type value: "${auth_type}".`);
    // present.ts createVerifiablePresentation: suite from the key pair, no domain
    const suite = new Ed25519Signature2020({key: keyPair});
    const presentation = await didAuthPresentation({holder, suite, challenge});
    out.presentation = presentation;
    const answer = await post(vc_request_url, presentation, {decodeEntities: true});
    Object.assign(out, answer);
    out.credentials = answer.ok && answer.response && typeof answer.response === 'object'
      ? extractCredentialsFrom(answer.response) ?? [] : [];
    // LCW throws on !response.ok and on a body that is neither a VC nor a VP
    out.lcwWouldStore = answer.ok && out.credentials.length > 0;
    if (mode === 'replay') {
      const again = await post(vc_request_url, presentation, {decodeEntities: true});
      out.replay = {status: again.status, response: again.response};
    }
  } else {
    out.flow = 'vcapi';
    out.stage = 'link';
    let exchangeUrl;
    if (isInteractionUrl(link)) {
      const interactionUrl = parseInteractionUrl(link);
      const response = await fetch(interactionUrl, {headers: {Accept: 'application/json'}});
      requests.push({method: 'GET', url: interactionUrl, status: response.status});
      const body = await response.json().catch(() => null);
      out.interaction = {url: interactionUrl, status: response.status, response: body};
      if (!response.ok) throw new Error(`Interaction URL fetch failed: ${response.status}`);
      if (!body?.protocols || typeof body.protocols !== 'object') {
        throw new Error('Interaction URL response missing "protocols" map.');
      }
      exchangeUrl = body.protocols.vcapi;
    } else {
      if (!isDeepLink(link) && !link.includes('request=')) throw new Error('not an LCW deep link');
      const message = walletApiMessage(link);
      if (message === undefined) throw new Error('URL does not contain "request" param.');
      out.message = message;
      if (!('protocols' in message)) throw new Error('only exchange invitations ({protocols}) are handled here');
      exchangeUrl = message.protocols?.vcapi;
    }
    if (exchangeUrl === undefined) throw new Error('Only the "vcapi" protocol is supported currently.');
    out.exchangeUrl = exchangeUrl;

    out.stage = 'initial';
    const initial = await post(exchangeUrl, {});
    out.initial = {status: initial.status, response: initial.response};
    const requestOrOffer = initial.response;
    if (!requestOrOffer || typeof requestOrOffer !== 'object') {
      throw new Error('the exchange answered POST {} with no JSON object');
    }
    if ('verifiablePresentation' in requestOrOffer) {
      // an offer straight away: LCW stages its credentials
      Object.assign(out, {status: initial.status, response: requestOrOffer});
      out.credentials = extractCredentialsFrom(requestOrOffer.verifiablePresentation) ?? [];
      out.lcwWouldStore = out.credentials.length > 0;
      return;
    }
    if (!('verifiablePresentationRequest' in requestOrOffer)) {
      throw new Error('No offer or request found in the answer to POST {}');
    }
    out.stage = 'request';
    const vpr = requestOrOffer.verifiablePresentationRequest;
    const queries = Array.isArray(vpr.query) ? vpr.query : [vpr.query];
    const didAuth = queries.filter(q => q?.type === 'DIDAuthentication');
    if (didAuth.length > 1) throw new Error('More than one DIDAuthentication request found, exiting.');
    if (didAuth.length === 0) throw new Error('no DIDAuthentication query (and this wallet holds no VCs to match)');
    const {challenge, domain} = vpr;
    if (!(challenge && domain)) throw new Error('Both "challenge" and "domain" are required for DID Auth.');
    // composeVp.ts: suite from the profile's authentication signer
    const suite = new Ed25519Signature2020({signer: keyPair.signer()});
    const presentation = await didAuthPresentation({holder, suite, challenge, domain});
    out.presentation = presentation;
    out.stage = 'exchange';
    const answer = await post(exchangeUrl, {verifiablePresentation: presentation});
    Object.assign(out, {status: answer.status, response: answer.response});
    if (answer.parseError) out.parseError = answer.parseError;
    const vp = answer.response && typeof answer.response === 'object' ? answer.response.verifiablePresentation : undefined;
    out.credentials = vp ? extractCredentialsFrom(vp) ?? [] : [];
    // ExchangeCredentials.tsx (2.2.10): `if (!isVPRFlow && acceptCredentials ...)` stage them
    out.lcwWouldStore = false;
    if (mode === 'replay') {
      const again = await post(exchangeUrl, {verifiablePresentation: presentation});
      out.replay = {status: again.status, response: again.response};
    }
  }
}

try {
  await main();
  delete out.stage;
  if (input.verify !== false && out.credentials?.length) {
    out.verification = await verifyCredentials(out.credentials);
  }
} catch (err) {
  out.error = err.cause?.message ? `${err.message}: ${err.cause.message}` : err.message;
  out.credentials ??= [];
}
out.requests = requests;
if (rewrites.length) out.rewrites = rewrites;
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
// verifier-core / http keep-alive handles may linger
process.exit(0);
