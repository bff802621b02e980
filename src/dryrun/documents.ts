/**
 * Splits a manifest stream into its documents without parsing them, the way kubectl's reader
 * does (docs/ci.md "How manifests are read"): a stream whose first non-blank character is `{`
 * is a stream of JSON objects, one after the other (`kubectl get -o json` output concatenated);
 * anything else is YAML, split at each line that starts with `---`. Text can be pushed in
 * pieces, so that a file of any size is read one document at a time: memory follows the
 * largest document, not the stream. Pure.
 *
 * The chunks' texts, in order, are the input byte for byte (write-back relies on it).
 */

/** One document of a stream, as written. */
export interface DocumentChunk {
  /** The document's text, with the `---` line that starts it and any blank lines or comments before the next. */
  readonly text: string;
  /** 1-based line of the chunk's first character in the stream. */
  readonly line: number;
  /** 1-based document number (what reports call "document N"); 0 for text that is no document (blank lines, comments, a JSON stream's trailing space). */
  readonly document: number;
  readonly json: boolean;
  /** Set when the JSON stream cannot be split further; the chunk holds the rest of the stream. */
  readonly error?: string;
}

type Mode = 'unknown' | 'yaml' | 'json' | 'broken';

/** Incremental splitter: `push` pieces of text, then `end`; each call returns the documents completed so far. */
export class DocumentSplitter {
  private mode: Mode = 'unknown';
  private cur = '';
  private scan = 0;
  private line = 1;
  private document = 0;
  /** YAML: true once the text before the first `---` has been dealt with. */
  private started = false;
  // JSON scanner state.
  private depth = 0;
  private inString = false;
  private escaped = false;

  push(text: string): DocumentChunk[] {
    this.cur += text;
    if (this.mode === 'unknown') {
      const m = /\S/.exec(this.cur);
      if (!m) return [];
      this.mode = m[0] === '{' ? 'json' : 'yaml';
    }
    return this.mode === 'json' ? this.splitJson(false) : this.mode === 'yaml' ? this.splitYaml(false) : [];
  }

  end(): DocumentChunk[] {
    if (this.mode === 'unknown') {
      const rest = this.take(this.cur.length, 0, false);
      return rest.text === '' ? [] : [rest];
    }
    const out = this.mode === 'json' ? this.splitJson(true) : this.mode === 'yaml' ? this.splitYaml(true) : [];
    if (this.cur !== '')
      out.push(
        this.take(
          this.cur.length,
          this.mode === 'yaml' && (this.started || hasContent(this.cur)) ? ++this.document : 0,
          this.mode === 'json',
        ),
      );
    return out;
  }

  private take(end: number, document: number, json: boolean, error?: string): DocumentChunk {
    const text = this.cur.slice(0, end);
    this.cur = this.cur.slice(end);
    const chunk: DocumentChunk = { text, line: this.line, document, json, ...(error ? { error } : {}) };
    this.line += countLines(text);
    return chunk;
  }

  private splitYaml(final: boolean): DocumentChunk[] {
    const out: DocumentChunk[] = [];
    for (;;) {
      // A document starts at `---` at the very start of the stream or of a line.
      let at: number;
      if (!this.started && this.scan === 0 && this.cur.startsWith('---')) at = 0;
      else {
        const nl = this.cur.indexOf('\n---', this.scan);
        at = nl < 0 ? -1 : nl + 1;
      }
      if (at < 0) {
        this.scan = Math.max(0, this.cur.length - 4);
        return out;
      }
      const next = this.cur[at + 3];
      if (next === undefined && !final) {
        this.scan = Math.max(0, at - 1);
        return out;
      }
      if (next !== undefined && next !== ' ' && next !== '\t' && next !== '\r' && next !== '\n') {
        this.scan = at + 3;
        continue;
      }
      if (at === 0) {
        // The stream starts with `---`: nothing before it.
        this.started = true;
        this.scan = 3;
        continue;
      }
      if (!this.started) {
        this.started = true;
        if (!hasContent(this.cur.slice(0, at))) {
          // Comments and blank lines before the first `---` belong to its document.
          this.scan = at + 3;
          continue;
        }
      }
      out.push(this.take(at, ++this.document, false));
      this.scan = 3;
    }
  }

  private splitJson(final: boolean): DocumentChunk[] {
    const out: DocumentChunk[] = [];
    const s = this.cur;
    let i = this.scan;
    let cut = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92 /* \ */) this.escaped = true;
        else if (c === 34 /* " */) this.inString = false;
        continue;
      }
      if (c === 34) {
        if (this.depth === 0) break;
        this.inString = true;
      } else if (c === 123 /* { */ || c === 91 /* [ */) {
        if (this.depth === 0 && c !== 123) break;
        this.depth++;
      } else if (c === 125 /* } */ || c === 93 /* ] */) {
        this.depth--;
        if (this.depth < 0) break;
        if (this.depth === 0) {
          const chunkEnd = i + 1;
          out.push(this.sliceChunk(cut, chunkEnd, ++this.document));
          cut = chunkEnd;
        }
      } else if (this.depth === 0 && c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
    }
    if (i < s.length) {
      // Something other than an object at the top level: the stream is not JSON past here.
      this.cur = s.slice(cut);
      this.mode = 'broken';
      out.push(this.take(this.cur.length, ++this.document, true, 'not a stream of JSON objects past this point'));
      return out;
    }
    this.cur = s.slice(cut);
    this.scan = i - cut;
    if (final && this.depth > 0) {
      const broken = this.take(this.cur.length, ++this.document, true, 'unexpected end of JSON input');
      this.depth = 0;
      this.scan = 0;
      out.push(broken);
    }
    return out;
  }

  /** A chunk from `cur[from..to)`, where `from` is where the previous chunk ended. */
  private sliceChunk(from: number, to: number, document: number): DocumentChunk {
    const text = this.cur.slice(from, to);
    const chunk: DocumentChunk = { text, line: this.line, document, json: true };
    this.line += countLines(text);
    return chunk;
  }
}

/** Every document of a whole text. */
export function splitDocuments(text: string): DocumentChunk[] {
  const s = new DocumentSplitter();
  return [...s.push(text), ...s.end()];
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** True when YAML text holds more than blank lines, comments and directives. */
function hasContent(text: string): boolean {
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t !== '' && !t.startsWith('#') && !line.startsWith('%')) return true;
  }
  return false;
}
