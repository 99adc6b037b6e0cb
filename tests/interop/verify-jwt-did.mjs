// Verify a VC-JWT whose issuer is a did:web DID with did-jwt (the JOSE layer under Veramo and
// did-jwt-vc), resolving the DID to the document given (nothing is fetched).
// stdin: {"jwt": "...", "didDocument": {...}}; stdout: {"verified": bool, "error", "kid"}.
import {readFileSync} from 'node:fs';
import {verifyJWT} from 'did-jwt';
import {Resolver} from 'did-resolver';

const input = JSON.parse(readFileSync(0, 'utf8'));
const resolver = new Resolver({
  web: async did => ({
    didResolutionMetadata: {contentType: 'application/did+json'},
    didDocument: did === input.didDocument.id ? input.didDocument : null,
    didDocumentMetadata: {},
  }),
});
try {
  const result = await verifyJWT(input.jwt, {resolver, policy: {aud: false}});
  process.stdout.write(JSON.stringify({
    verified: result.verified, error: '', kid: result.signer && result.signer.id}));
} catch (err) {
  process.stdout.write(JSON.stringify({verified: false, error: String(err && err.message || err)}));
}
