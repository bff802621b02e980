/**
 * A minimal DER (ITU-T X.690) encoder and reader: just what an X.509 v3 certificate needs.
 *
 * Why hand-rolled: `node:crypto` generates keys, signs and parses certificates, but cannot build
 * one. The encoding is small and fixed; the result is checked in tests by `node:crypto`'s
 * `X509Certificate`, by `openssl x509` / `openssl verify`, and by a real TLS handshake.
 */

/** Universal tag numbers used here. */
const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes one tag-length-value. */
function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...items: readonly Uint8Array[]): Buffer {
  return tlv(TAG.sequence, Buffer.concat(items));
}

/** A DER SET OF: the elements sorted by their encodings (X.690 11.6). */
export function setOf(...items: readonly Uint8Array[]): Buffer {
  const sorted = [...items].map((i) => Buffer.from(i)).sort(Buffer.compare);
  return tlv(TAG.set, Buffer.concat(sorted));
}

/** A non-negative INTEGER from its big-endian magnitude bytes (minimal encoding). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let bytes = Buffer.from(magnitude.subarray(start));
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if ((bytes[0] as number) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(TAG.integer, bytes);
}

/** A small non-negative INTEGER. */
export function smallInteger(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative integer: ${value}`);
  const bytes: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return unsignedInteger(Buffer.from(bytes.length ? bytes : [0]));
}

export function boolean(value: boolean): Buffer {
  return tlv(TAG.boolean, Buffer.from([value ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return tlv(TAG.null, Buffer.alloc(0));
}

/** An OBJECT IDENTIFIER from dotted notation, e.g. `2.5.29.17`. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`invalid OID ${dotted}`);
    return Number(a);
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || first > 2 || (first < 2 && second > 39)) {
    throw new RangeError(`invalid OID ${dotted}`);
  }
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const group: number[] = [arc % 128];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) group.unshift((n % 128) | 0x80);
    out.push(...group);
  }
  return tlv(TAG.oid, Buffer.from(out));
}

export function utf8String(value: string): Buffer {
  return tlv(TAG.utf8String, Buffer.from(value, 'utf8'));
}

/** A BIT STRING whose last `unusedBits` bits are padding. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (unusedBits < 0 || unusedBits > 7) throw new RangeError('unusedBits must be 0..7');
  return tlv(TAG.bitString, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

/**
 * A named-bit BIT STRING (e.g. KeyUsage) with DER's rule that trailing zero bits are dropped.
 * Bit 0 is the most significant bit of the first byte.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[Math.floor(bit / 8)] = (bytes[Math.floor(bit / 8)] as number) | (0x80 >> (bit % 8));
  return bitString(bytes, 7 - (highest % 8));
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(TAG.octetString, bytes);
}

/** A context-specific EXPLICIT tag `[n]` around an encoded value. */
export function explicit(n: number, encoded: Uint8Array): Buffer {
  return tlv(0xa0 | n, encoded);
}

/** A context-specific IMPLICIT tag `[n]` on a primitive value's content octets. */
export function implicitPrimitive(n: number, content: Uint8Array): Buffer {
  return tlv(0x80 | n, content);
}

/**
 * An X.509 Time: UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5),
 * in whole seconds, always UTC (`Z`).
 */
export function time(date: Date): Buffer {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new RangeError('invalid date');
  const iso = new Date(Math.floor(t / 1000) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const year = date.getUTCFullYear();
  const digits = iso.replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  if (year >= 1950 && year < 2050) return tlv(TAG.utcTime, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return tlv(TAG.generalizedTime, Buffer.from(`${digits}Z`, 'ascii'));
}

/** One element read by {@link readElement}. */
export interface DerElement {
  readonly tag: number;
  /** Offset of the tag: `buf.subarray(start, end)` is the whole encoding. */
  readonly start: number;
  /** The content octets. */
  readonly content: Buffer;
  /** Offset just past the element. */
  readonly end: number;
}

/** Reads the element at `offset` (definite lengths only, as DER requires). */
export function readElement(buf: Buffer, offset = 0): DerElement {
  const tag = buf[offset];
  const first = buf[offset + 1];
  if (tag === undefined || first === undefined) throw new RangeError('truncated DER');
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new RangeError('unsupported DER length');
    length = 0;
    for (let i = 0; i < n; i++) {
      const b = buf[offset + 2 + i];
      if (b === undefined) throw new RangeError('truncated DER');
      length = length * 256 + b;
    }
    header += n;
  }
  const start = offset + header;
  const end = start + length;
  if (end > buf.length) throw new RangeError('truncated DER');
  return { tag, start: offset, content: buf.subarray(start, end), end };
}

/** Reads every element inside a constructed element's content. */
export function readChildren(content: Buffer): DerElement[] {
  const out: DerElement[] = [];
  for (let offset = 0; offset < content.length; ) {
    const el = readElement(content, offset);
    out.push(el);
    offset = el.end;
  }
  return out;
}
