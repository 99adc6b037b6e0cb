// Verify a Data Integrity credential with Digital Bazaar's @digitalbazaar/vc and the
// eddsa-rdfc-2022 cryptosuite: the stack the DCC verifier and wallets build on.
//
// stdin: {"credential": {...}, "documents": {"<url>": <JSON-LD document>, ...},
//         "contexts": {"<url>": "<path of a context file>", ...}}
// `documents` are what the issuer serves (its controller document and key); `contexts` the
// published JSON-LD contexts the credential names. Nothing is fetched from the network unless
// `"fetch": true` asks to dereference the issuer's documents from a live server.
// stdout: {"verified": bool, "error": "..."}; exit 0 either way (exit 2 on a usage error).
import {readFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as multikeyContext from '@digitalbazaar/multikey-context';
import * as dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import * as jsonld from 'jsonld';
import {createRemoteJWKSet, jwtVerify} from 'jose';
import {gunzipSync} from 'node:zlib';
import {checkStatus as bitstringStatus} from '@digitalbazaar/vc-bitstring-status-list';

const input = JSON.parse(readFileSync(0, 'utf8'));
const known = new Map();
for (const [url, path] of Object.entries(input.contexts || {})) {
  known.set(url, JSON.parse(readFileSync(path, 'utf8')));
}
for (const [url, doc] of multikeyContext.contexts) known.set(url, doc);
for (const [url, doc] of dataIntegrityContext.contexts) known.set(url, doc);
for (const [url, doc] of Object.entries(input.documents || {})) known.set(url, doc);

const documentLoader = async url => {
  if (known.has(url)) {
    return {contextUrl: null, documentUrl: url, document: known.get(url)};
  }
  // a verification method URL with a fragment: the key inside its controller document
  const [base, fragment] = url.split('#');
  if (fragment !== undefined && known.has(base)) {
    const controller = known.get(base);
    const methods = controller.verificationMethod || [];
    const method = methods.find(m => m.id === url);
    if (method) {
      return {
        contextUrl: null,
        documentUrl: url,
        document: {'@context': 'https://w3id.org/security/multikey/v1', ...method},
      };
    }
  }
  if (input.fetch) return fetched(url);
  return vc.defaultDocumentLoader(url);
};

// `fetch: true`: dereference what is not given, over HTTP from the live issuer on loopback
// (a did:web DID from its host's /.well-known/did.json; plain http only because the test
// server is on 127.0.0.1).
async function fetched(url) {
  const [base, fragment] = url.split('#');
  let location = base;
  if (base.startsWith('did:web:')) {
    const host = decodeURIComponent(base.slice('did:web:'.length).split(':')[0]);
    location = `http://${host}/.well-known/did.json`;
  }
  const response = await fetch(location, {
    headers: {accept: 'application/ld+json, application/json'},
  });
  if (!response.ok) throw new Error(`${location}: HTTP ${response.status}`);
  const document = await response.json();
  known.set(base, document);
  if (fragment === undefined) return {contextUrl: null, documentUrl: url, document};
  return documentLoader(url);
}

// `jwksUri`: check each BitstringStatusListEntry against the live list, a VC-JWT whose
// signature jose checks with the issuer's JWKS (bit `index` of the GZIP'd, multibase
// base64url `encodedList`, most significant bit first).
async function checkStatus({credential}) {
  const keys = createRemoteJWKSet(new URL(input.jwksUri));
  for (const entry of [].concat(credential.credentialStatus || [])) {
    const response = await fetch(entry.statusListCredential);
    if (!response.ok) throw new Error(`${entry.statusListCredential}: HTTP ${response.status}`);
    const {payload} = await jwtVerify((await response.text()).trim(), keys);
    const subject = payload.credentialSubject;
    if (subject.statusPurpose !== entry.statusPurpose) {
      throw new Error(`${entry.statusListCredential} is not a ${entry.statusPurpose} list`);
    }
    const bits = gunzipSync(Buffer.from(subject.encodedList.slice(1), 'base64url'));
    const index = Number(entry.statusListIndex);
    if ((bits[index >> 3] >> (7 - (index & 7))) & 1) {
      return {verified: false, error: new Error(`${entry.statusPurpose}: the bit is set`)};
    }
  }
  return {verified: true};
}

// `bitstringStatus: true`: Digital Bazaar's own status checker (what the DCC verifier runs):
// it fetches each list through the documentLoader, verifies the list's Data Integrity proof
// and that the list's issuer is the credential's, then reads the bit.
// Its `verified` says the lists could be checked; each result's `status` is the bit (set:
// revoked or suspended), which a verifier then reads, as the DCC verifier does.
async function diStatus(options) {
  const checked = await bitstringStatus({
    ...options,
    documentLoader,
    suite,
    verifyStatusListCredential: true,
    verifyMatchingIssuers: true,
  });
  if (!checked.verified) return checked;
  for (const item of checked.results || []) {
    if (item.status) {
      const purpose = item.credentialStatus && item.credentialStatus.statusPurpose;
      return {verified: false, error: new Error(`${purpose}: the bit is set`)};
    }
  }
  return checked;
}

const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
let result;
try {
  // safe mode on: an undefined term fails instead of being left out of what is signed
  await jsonld.default.expand(input.credential, {documentLoader, safe: true});
  result = await vc.verifyCredential({
    credential: input.credential,
    suite,
    documentLoader,
    ...(input.jwksUri ? {checkStatus} : {}),
    ...(input.bitstringStatus ? {checkStatus: diStatus} : {}),
  });
} catch (err) {
  process.stdout.write(JSON.stringify({verified: false, error: String(err && err.message || err)}));
  process.exit(0);
}
const errors = [];
const collect = r => {
  if (!r) return;
  if (r.error) errors.push(String(r.error.message || r.error));
  for (const p of r.results || []) if (p.error) errors.push(String(p.error.message || p.error));
};
collect(result);
if (result.statusResult && result.statusResult.error) {
  errors.push(String(result.statusResult.error.message || result.statusResult.error));
}
process.stdout.write(JSON.stringify({verified: Boolean(result.verified), error: errors.join('; ')}));
