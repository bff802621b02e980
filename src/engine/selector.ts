import type { LabelSelector } from '../policy/types.js';

/** A label's value by key, undefined when the object has no such label. */
export type LabelReader = (key: string) => string | undefined;

/**
 * Evaluates a Kubernetes label selector the way `metav1.LabelSelectorAsSelector` does:
 * every `matchLabels` pair and every expression must hold; an empty selector matches everything.
 * Only the keys the selector names are read.
 */
export function selectorMatches(selector: LabelSelector, label: LabelReader): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (label(k) !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const value = label(req.key);
    const has = value !== undefined;
    switch (req.operator) {
      case 'In':
        if (!has || !(req.values ?? []).includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && (req.values ?? []).includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** The label keys a selector reads. */
export function selectorKeys(selector: LabelSelector): string[] {
  return [...Object.keys(selector.matchLabels ?? {}), ...(selector.matchExpressions ?? []).map((e) => e.key)];
}
