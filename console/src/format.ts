// Formatting helpers shared by the views.

export function displayName(e: { type?: unknown; event?: unknown; name?: unknown }): string {
  if (typeof e.event === 'string' && e.event !== '') return e.event;
  if (e.type === 'page' || e.type === 'screen') return typeof e.name === 'string' && e.name !== '' ? `${e.type}: ${e.name}` : String(e.type);
  return typeof e.type === 'string' ? e.type : '(no type)';
}

export function userOf(e: { userId?: unknown; anonymousId?: unknown }): string {
  if (typeof e.userId === 'string' && e.userId !== '') return e.userId;
  if (typeof e.anonymousId === 'string' && e.anonymousId !== '') return `anon ${e.anonymousId}`;
  return '';
}

export function time(iso: unknown, tz?: string): string {
  if (typeof iso !== 'string') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleTimeString(undefined, { hour12: false, timeZone: tz });
}

export function dateTime(iso: unknown, tz?: string): string {
  if (typeof iso !== 'string') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { hour12: false, timeZone: tz, year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : n.toLocaleString();
}

export function ms(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  const v = seconds * 1000;
  return v < 10 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(0)} ms` : `${(v / 1000).toFixed(2)} s`;
}

export function duration(msDiff: number): string {
  const a = Math.abs(msDiff);
  const sign = msDiff < 0 ? '−' : '+';
  if (a < 1000) return `${sign}${a} ms`;
  if (a < 120_000) return `${sign}${(a / 1000).toFixed(1)} s`;
  if (a < 7_200_000) return `${sign}${(a / 60_000).toFixed(1)} min`;
  return `${sign}${(a / 3_600_000).toFixed(1)} h`;
}

export function bytes(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1024 / 1024).toFixed(0)} MB`;
}

export function json(v: unknown): string {
  return JSON.stringify(v, null, 2);
}

/** A share (0..1) as a percentage, one decimal under 10 %; '–' for null (no base to divide by). */
export function pct(share: number | null | undefined): string {
  if (share === null || share === undefined) return '–';
  const p = share * 100;
  return `${p > 0 && p < 10 ? p.toFixed(1) : p.toFixed(0)}%`;
}
