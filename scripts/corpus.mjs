// The English text the transformer experiments and the demo train on: "The Devil's Dictionary" by
// Ambrose Bierce (1911), public domain, from Debian's `dict-devil` package (1.0-13.1, main, 180 kB
// download, 192 kB installed), which scripts/bootstrap.mjs installs like every other apt
// dependency. The package ships it for dictd as /usr/share/dictd/devil.dict.dz, a gzip-compatible
// dictzip file (384 kB of ASCII). Nothing is downloaded at run time: tests, benches and the demo's
// server (scripts/serve.mjs, /corpus/devils-dictionary.txt) read the installed file.
//   loadCorpus()        the entries, ABASEMENT … ZOOLOGY (380,683 bytes of ASCII)
//   corpusSplit(text)   { first: entries A–L, second: entries M–Z }: the fine-tuning experiments'
//                       "pretrain on one text, fine-tune on a shifted one"
//   corpusBytes(text)   Uint8Array byte-level tokens (vocab 256)
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export const CORPUS = Object.freeze({
  title: "The Devil's Dictionary",
  author: 'Ambrose Bierce',
  debianPackage: 'dict-devil',
  file: '/usr/share/dictd/devil.dict.dz',
  licence: 'public domain (copyright expired; Debian copyright file)',
});

export function corpusAvailable() {
  return existsSync(CORPUS.file);
}

export function loadCorpus() {
  if (!corpusAvailable()) {
    throw new Error(`${CORPUS.file} is missing: install Debian's ${CORPUS.debianPackage} package ` +
      `(apt-get install ${CORPUS.debianPackage}; npm test and npm start do it as root)`);
  }
  const raw = gunzipSync(readFileSync(CORPUS.file)).toString('latin1');
  // dictd's header entries (00-database-…) and the preface come first; the index line at the end.
  const start = raw.indexOf('\nABASEMENT') + 1;
  const end = raw.lastIndexOf('\n abcdefghijklmnopqrstuvwxyz');
  return raw.slice(start, end > start ? end : raw.length);
}

export function corpusSplit(text) {
  const m = text.search(/\nM[A-Z]+, /);
  return { first: text.slice(0, m + 1), second: text.slice(m + 1) };
}

export function corpusBytes(text) {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 255);
}
