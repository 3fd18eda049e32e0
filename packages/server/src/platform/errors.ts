/**
 * Errors are data: every failure a client can see has a stable `code`, declared once by the module
 * that owns it, with the HTTP status it maps to. The HTTP layer renders any `AppError` as an
 * RFC 9457 problem; anything else becomes `internal_error` with the cause in the log only.
 */

export interface ErrorCode {
  readonly code: string;
  readonly status: number;
  readonly title: string;
}

const registry = new Map<string, ErrorCode>();

/**
 * defineErrors declares a module's error codes. Codes are snake_case and unique across the plane;
 * declaring a code twice throws at start-up, so two modules can never disagree about one code.
 */
export function defineErrors<const T extends Record<string, { status: number; title: string }>>(
  specs: T,
): { readonly [K in keyof T]: ErrorCode } {
  const out: Record<string, ErrorCode> = {};
  for (const [code, spec] of Object.entries(specs)) {
    if (!/^[a-z][a-z0-9_]*$/.test(code)) throw new Error(`Error code "${code}" is not snake_case`);
    if (spec.status < 400 || spec.status > 599) throw new Error(`Error code "${code}" has a non-error status`);
    const existing = registry.get(code);
    if (existing && (existing.status !== spec.status || existing.title !== spec.title)) {
      throw new Error(`Error code "${code}" is declared twice`);
    }
    const entry = Object.freeze({ code, status: spec.status, title: spec.title });
    registry.set(code, entry);
    out[code] = entry;
  }
  return out as { readonly [K in keyof T]: ErrorCode };
}

/** errorCodes lists every declared code (for docs and tests). */
export function errorCodes(): ErrorCode[] {
  return [...registry.values()].sort((a, b) => a.code.localeCompare(b.code));
}

export interface FieldError {
  /** JSON pointer-like dotted path to the offending field, e.g. `body.metadata.plan`. */
  path: string;
  message: string;
  code?: string;
}

export interface AppErrorOptions {
  errors?: FieldError[];
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * AppError is an expected failure with a stable code. `detail` is shown to the client, so it must
 * never contain secrets or internal state.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, detail?: string, options: AppErrorOptions = {}) {
    super(detail ?? code.title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code.code;
    this.status = code.status;
    this.title = code.title;
    this.errors = options.errors;
    this.headers = options.headers;
  }
}

export const PlatformErrors = defineErrors({
  validation_failed: { status: 400, title: "The request is not valid" },
  invalid_json: { status: 400, title: "The request body is not valid JSON" },
  bad_request: { status: 400, title: "The request is malformed" },
  invalid_cursor: { status: 400, title: "The pagination cursor is not valid" },
  idempotency_key_invalid: { status: 400, title: "The Idempotency-Key header is not valid" },
  unauthenticated: { status: 401, title: "Authentication is required" },
  invalid_credentials: { status: 401, title: "The credentials are not valid" },
  forbidden: { status: 403, title: "The caller may not do this" },
  /** key_already_rotated: a key has one successor; a second rotation (or one that lost a race) is refused. */
  key_already_rotated: { status: 409, title: "The key was already rotated; rotate its successor" },
  not_found: { status: 404, title: "Not found" },
  route_not_found: { status: 404, title: "No such route" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  idempotency_request_in_progress: {
    status: 409,
    title: "A request with this Idempotency-Key is still being processed",
  },
  request_timeout: { status: 408, title: "The request took too long" },
  payload_too_large: { status: 413, title: "The request body is too large" },
  unsupported_media_type: { status: 415, title: "The request content type is not supported" },
  idempotency_key_reused: {
    status: 422,
    title: "The Idempotency-Key was already used with a different request",
  },
  rate_limited: { status: 429, title: "Too many requests" },
  headers_too_large: { status: 431, title: "The request headers are too large" },
  internal_error: { status: 500, title: "Internal error" },
  service_unavailable: { status: 503, title: "The service is unavailable" },
});
