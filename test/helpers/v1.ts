// Helpers for the Segment-compatible /v1 routes' tests: raw requests, as the SDKs send them.
import { readAnswer, type Answer } from './solute.js';

export const basic = (key: string, colon = true) => 'Basic ' + Buffer.from(colon ? `${key}:` : key).toString('base64');

/** POSTs to a /v1 path; `body` is an object (JSON-encoded), a string or bytes sent as they are. */
export async function postV1(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const h: Record<string, string> = { 'content-type': 'application/json', ...headers };
  const payload = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  return readAnswer(await fetch(url + path, { method: 'POST', headers: h, body: payload }));
}
