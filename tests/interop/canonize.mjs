// RDFC-1.0 canonical N-Quads of each document, by jsonld.js + rdf-canonize (npm), in safe mode.
// stdin: {"documents": [...], "contexts": {"<url>": "<path>"}}; stdout: ["<nquads>" | {"error"}]
import {readFileSync} from 'node:fs';
import jsonld from 'jsonld';

const input = JSON.parse(readFileSync(0, 'utf8'));
const contexts = new Map(
  Object.entries(input.contexts).map(([url, path]) => [url, JSON.parse(readFileSync(path, 'utf8'))]));
const documentLoader = async url => {
  if (!contexts.has(url)) throw new Error(`context ${url} not pinned`);
  return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
};
const out = [];
for (const doc of input.documents) {
  try {
    out.push(await jsonld.canonize(doc, {
      algorithm: 'RDFC-1.0', format: 'application/n-quads', documentLoader, safe: true}));
  } catch (err) {
    out.push({error: String(err && err.message || err)});
  }
}
process.stdout.write(JSON.stringify(out));
