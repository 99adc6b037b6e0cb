// Verify a VC-JWT with npm `jose` as a stranger would: the issuer's jwks_uri through
// createRemoteJWKSet (header kid used as given), and the header kid URL dereferenced to one JWK.
// stdin: {"jwt", "jwksUri", "issuer"}; stdout: {"jwks": {...}, "kidUrl": {...}} with
// {verified, error} for each way.
import {readFileSync} from 'node:fs';
import {createRemoteJWKSet, jwtVerify, importJWK, decodeProtectedHeader} from 'jose';

const {jwt, jwksUri, issuer} = JSON.parse(readFileSync(0, 'utf8'));
const algorithms = ['EdDSA', 'Ed25519', 'ES256', 'RS256'];
const out = {};
try {
  const {payload} = await jwtVerify(jwt, createRemoteJWKSet(new URL(jwksUri)), {issuer, algorithms});
  out.jwks = {verified: true, error: '', jti: payload.jti};
} catch (err) {
  out.jwks = {verified: false, error: `${err.code || ''} ${err.message}`};
}
try {
  const {kid, alg} = decodeProtectedHeader(jwt);
  const response = await fetch(kid);
  const type = response.headers.get('content-type') || '';
  const jwk = await response.json();
  const key = await importJWK(jwk, alg);
  const {payload} = await jwtVerify(jwt, key, {issuer, algorithms});
  out.kidUrl = {verified: true, error: '', contentType: type, jwkKid: jwk.kid, jti: payload.jti};
} catch (err) {
  out.kidUrl = {verified: false, error: `${err.code || ''} ${err.message}`};
}
process.stdout.write(JSON.stringify(out));
