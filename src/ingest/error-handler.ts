// One place that turns anything thrown into {success:false, code, message} with the right status.
// 4xx are logged at warn without payloads; 5xx at error, with details kept out of the answer.
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SoluteError, formatMessage, isSoluteError, type ErrorCode } from '../errors.js';

export function toSoluteError(err: FastifyError | Error, bodyLimit: number, contentType?: string): SoluteError {
  if (isSoluteError(err)) return err;
  const e = err as FastifyError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SoluteError('SOL_ERR_BODY_TOO_LARGE', [bodyLimit]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      // Fastify's message does not carry the type; name the one the client sent.
      return new SoluteError('SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE', [contentType ? JSON.stringify(clip(contentType)) : '(none)']);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SoluteError('SOL_ERR_BODY_INVALID_JSON', ['the body is empty']);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new SoluteError('SOL_ERR_BODY_INVALID_JSON', [e.message]);
    case 'FST_ERR_VALIDATION':
      return new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', [describeValidation(e)]);
  }
  if (err instanceof SyntaxError || (e.statusCode === 400 && /JSON|Unexpected|prototype/i.test(e.message))) {
    return new SoluteError('SOL_ERR_BODY_INVALID_JSON', [e.message]);
  }
  if (e.statusCode === 413) return new SoluteError('SOL_ERR_BODY_TOO_LARGE', [bodyLimit]);
  if (e.statusCode === 415) return new SoluteError('SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE', ['(none)']);
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return new SoluteError('SOL_ERR_BAD_REQUEST', [e.message]);
  return new SoluteError('SOL_ERR_INTERNAL', [], { cause: err });
}

type ValidationIssue = { keyword: string; instancePath: string; params: Record<string, unknown>; message?: string };

/** A query-string schema failure as a message naming the parameter (Fastify's own does not, for unknown ones). */
function describeValidation(e: FastifyError): string {
  const v = (e as FastifyError & { validation?: ValidationIssue[] }).validation?.[0];
  if (!v) return e.message;
  if (v.keyword === 'additionalProperties') return `unknown query parameter \`${clip(String(v.params.additionalProperty))}\``;
  if (v.keyword === 'required') return `\`${clip(String(v.params.missingProperty))}\` is required`;
  if (v.keyword === 'enum' && Array.isArray(v.params.allowedValues)) {
    return `\`${v.instancePath.replace(/^\//, '')}\` must be one of: ${v.params.allowedValues.join(', ')}`;
  }
  const name = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  return name ? `\`${name}\` ${v.message ?? 'is invalid'}` : e.message;
}

/** Client-supplied text echoed in a message is cut short. */
function clip(text: string, max = 100): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

export function installErrorHandlers(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err, req, reply) => {
    const e = toSoluteError(err as FastifyError, bodyLimit, req.headers['content-type']);
    if (e.status >= 500) {
      req.log.error({ err: e.cause ?? err, code: e.code }, 'request failed');
    } else {
      // The message can quote the body (JSON parse errors do): only the code is logged.
      req.log.warn({ code: e.code, status: e.status, route: req.routeOptions.url }, 'request rejected');
    }
    if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
    return reply.code(e.status).send({ success: false, code: e.code, message: e.message });
  });
  app.setNotFoundHandler((req, reply) => {
    const code: ErrorCode = 'SOL_ERR_ROUTE_NOT_FOUND';
    return reply.code(404).send({ success: false, code, message: formatMessage(code, [`${req.method} ${req.url.split('?')[0]}`]) });
  });
}

/** The longest id a path may carry (query/profiles.route.ts), in UTF-16 code units once decoded: the router's maxParamLength. */
export const MAX_PATH_PARAM_UNITS = 2048;

/**
 * Fastify's router refuses some paths before any route or hook runs (its `frameworkErrors`): one
 * that is not valid percent-encoded UTF-8 (FST_ERR_BAD_URL, e.g. `/api/profiles/%80`), and a path
 * parameter past maxParamLength (FST_ERR_MAX_PARAM_LENGTH, Fastify's 414). Its own answers are in
 * its format and quote the path; these are in ours and quote nothing.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  let e: SoluteError;
  if (err.code === 'FST_ERR_BAD_URL') e = new SoluteError('SOL_ERR_BAD_REQUEST', ['the URL path is not valid percent-encoded UTF-8']);
  else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') e = new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', ['the id in the path is too long: ids are at most 1024 characters']);
  else e = new SoluteError('SOL_ERR_INTERNAL', [], { cause: err });
  if (e.status >= 500) req.log.error({ err, code: e.code }, 'request failed');
  else req.log.warn({ code: e.code, status: e.status }, 'request rejected');
  void reply.code(e.status).send({ success: false, code: e.code, message: e.message });
}

/**
 * Node's HTTP parser refuses a request before Fastify sees it: malformed (a bare CR or LF inside a
 * header value, an invalid header name, a broken chunk), headers over Node's 16 KiB, or too slow
 * (headers or request deadline). Fastify's own handler answers these with a body in its format;
 * this one answers in ours, then closes the connection (the parser's state is unknown). No byte of
 * the request is echoed, so nothing a client sent reaches a response header.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let e: SoluteError;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') e = new SoluteError('SOL_ERR_REQUEST_TIMEOUT');
  else if (err.code === 'HPE_HEADER_OVERFLOW') e = new SoluteError('SOL_ERR_HEADERS_TOO_LARGE');
  else e = new SoluteError('SOL_ERR_BAD_REQUEST', [`malformed HTTP request (${PARSE_ERRORS[err.code ?? ''] ?? 'unreadable'})`]);
  const body = JSON.stringify({ success: false, code: e.code, message: e.message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_TEXT[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** llhttp's codes for the usual malformations, in words; anything else is "unreadable". */
const PARSE_ERRORS: Record<string, string> = {
  HPE_INVALID_HEADER_TOKEN: 'invalid character in a header',
  HPE_LF_EXPECTED: 'a bare CR in the headers',
  HPE_CR_EXPECTED: 'a bare LF in the headers',
  HPE_INVALID_METHOD: 'invalid method',
  HPE_INVALID_URL: 'invalid URL',
  HPE_INVALID_VERSION: 'invalid HTTP version',
  HPE_INVALID_CONTENT_LENGTH: 'invalid Content-Length',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length together with Transfer-Encoding',
  HPE_INVALID_TRANSFER_ENCODING: 'invalid Transfer-Encoding',
  HPE_INVALID_CHUNK_SIZE: 'invalid chunk size',
  HPE_INVALID_CONSTANT: 'invalid request line',
};
