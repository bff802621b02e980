const cache = new Map<string, RegExp>();

/**
 * Matches `value` against a glob where `*` is any run of characters and `?` one character.
 * Everything else is literal. Case-sensitive, as Kubernetes names are.
 *
 * @example globMatch('team-*', 'team-a') // true
 */
export function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern === value;
  let re = cache.get(pattern);
  if (!re) {
    const body = pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`, 's');
    if (cache.size < 10_000) cache.set(pattern, re);
  }
  return re.test(value);
}

/** True when any pattern matches. */
export function anyGlob(patterns: readonly string[] | undefined, value: string): boolean {
  return patterns?.some((p) => globMatch(p, value)) ?? false;
}
