// Verify a Data Integrity credential with Digital Bazaar's @digitalbazaar/vc and the
// eddsa-rdfc-2022 cryptosuite: the stack the DCC verifier and wallets build on.
//
// stdin: {"credential": {...}, "documents": {"<url>": <JSON-LD document>, ...},
//         "contexts": {"<url>": "<path of a context file>", ...}}
// `documents` are what the issuer serves (its controller document and key); `contexts` the
// published JSON-LD contexts the credential names. Nothing is fetched from the network.
// stdout: {"verified": bool, "error": "..."}; exit 0 either way (exit 2 on a usage error).
import {readFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as multikeyContext from '@digitalbazaar/multikey-context';
import * as dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import * as jsonld from 'jsonld';

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
  return vc.defaultDocumentLoader(url);
};

const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
let result;
try {
  // safe mode on: an undefined term fails instead of being left out of what is signed
  await jsonld.default.expand(input.credential, {documentLoader, safe: true});
  result = await vc.verifyCredential({
    credential: input.credential,
    suite,
    documentLoader,
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
process.stdout.write(JSON.stringify({verified: Boolean(result.verified), error: errors.join('; ')}));
