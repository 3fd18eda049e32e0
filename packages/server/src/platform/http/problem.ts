import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { ZodError } from "zod";
import { AppError, type FieldError, PlatformErrors } from "../errors.js";
import { findInvalidText } from "./input.js";

/** Problem is an RFC 9457 problem detail as Baseplate renders it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: FieldError[];
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8";

/** problemType is the stable `type` URI of a code. */
export function problemType(code: string): string {
  return `urn:baseplate:problem:${code}`;
}

const FASTIFY_CODES: Record<string, { error: typeof PlatformErrors.bad_request; detail: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    error: PlatformErrors.unsupported_media_type,
    detail: "Send the request body as application/json.",
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { error: PlatformErrors.payload_too_large, detail: "The request body is too large." },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    error: PlatformErrors.invalid_json,
    detail: "The body is empty but the content type is application/json.",
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { error: PlatformErrors.invalid_json, detail: "The request body is not valid JSON." },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    error: PlatformErrors.bad_request,
    detail: "Content-Length does not match the body.",
  },
  FST_ERR_BAD_URL: { error: PlatformErrors.bad_request, detail: "The URL is malformed." },
  FST_ERR_MAX_PARAM_LENGTH: { error: PlatformErrors.bad_request, detail: "A path segment is too long." },
  FST_ERR_ASYNC_CONSTRAINT: { error: PlatformErrors.bad_request, detail: "The request is malformed." },
};

/**
 * toProblem renders any thrown value as a problem. `AppError`s keep their code and detail;
 * framework 4xx errors get a stable code; everything else is `internal_error` with a generic
 * detail (the caller logs the cause). Returns whether the error was unexpected.
 */
export function toProblem(
  err: unknown,
  requestId: string,
): { problem: Problem; headers?: Record<string, string>; unexpected: boolean } {
  if (err instanceof AppError) {
    return {
      problem: build(err.code, err.title, err.status, err.message, requestId, err.errors),
      ...(err.headers ? { headers: err.headers } : {}),
      unexpected: false,
    };
  }
  if (err instanceof ZodError) {
    return { problem: validationProblem(err, requestId, ""), unexpected: false };
  }
  const e = err as { code?: string; statusCode?: number; message?: string; name?: string } | null;
  const mapped = e?.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) {
    return {
      problem: build(mapped.error.code, mapped.error.title, mapped.error.status, mapped.detail, requestId),
      unexpected: false,
    };
  }
  if (e?.name === "SyntaxError" && e.statusCode === 400) {
    const c = PlatformErrors.invalid_json;
    return {
      problem: build(c.code, c.title, c.status, "The request body is not valid JSON.", requestId),
      unexpected: false,
    };
  }
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    const c =
      e.statusCode === 413
        ? PlatformErrors.payload_too_large
        : e.statusCode === 415
          ? PlatformErrors.unsupported_media_type
          : PlatformErrors.bad_request;
    const detail = e.message?.includes("prototype") ? "The body contains a forbidden property." : c.title;
    return { problem: build(c.code, c.title, c.status, detail, requestId), unexpected: false };
  }
  const c = PlatformErrors.internal_error;
  return {
    problem: build(
      c.code,
      c.title,
      c.status,
      "An unexpected error occurred. Quote the requestId when reporting it.",
      requestId,
    ),
    unexpected: true,
  };
}

/** validationProblem turns zod issues into a 400 with one field error per issue. */
export function validationProblem(err: ZodError, requestId: string, location: string): Problem {
  const errors = fieldErrors(err, location);
  const c = PlatformErrors.validation_failed;
  const first = errors[0];
  const detail = first ? `${first.path || "request"}: ${first.message}` : c.title;
  return build(c.code, c.title, c.status, detail, requestId, errors);
}

/**
 * fieldErrors lists one field error per zod issue (at most 50), paths prefixed by `location`
 * (`body`, `query`, `params`). An unknown-keys issue becomes one error per key (`body.extra`), so
 * every error names the field to fix.
 */
export function fieldErrors(err: ZodError, location: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of err.issues) {
    const base = [location, ...issue.path.map(String)];
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        errors.push({ path: [...base, key].filter(Boolean).join("."), message: "Unknown field", code: issue.code });
      }
    } else {
      errors.push({ path: base.filter(Boolean).join("."), message: issue.message, code: issue.code });
    }
  }
  return errors.slice(0, 50);
}

/** findNul returns the path of the first string or key that cannot be stored as text (see `findInvalidText`), or null. */
export function findNul(value: unknown, root: string): string | null {
  return findInvalidText(value, root)?.path ?? null;
}

function build(
  code: string,
  title: string,
  status: number,
  detail: string,
  requestId: string,
  errors?: FieldError[],
): Problem {
  return { type: problemType(code), title, status, detail, code, requestId, ...(errors ? { errors } : {}) };
}

/**
 * PROBLEM_CODES_DIR_ENV names the environment variable that turns on the record of answered problem
 * codes: when it names a directory, every problem a route answers is appended there (one JSON line
 * `{method, routeUrl, status, code}` per distinct answer, file `codes-<pid>.ndjson` per process).
 * The test suite's global setup sets it and its teardown fails the run when a route answers a code
 * the OpenAPI document does not declare for it. Unset (production): nothing is recorded.
 */
export const PROBLEM_CODES_DIR_ENV = "BASEPLATE_PROBLEM_CODES_DIR";

const recorded = new Set<string>();

/**
 * recordProblemCode appends one answered problem to the record (see `PROBLEM_CODES_DIR_ENV`); a
 * no-op when the record is off, and for an answer already recorded by this process.
 */
export function recordProblemCode(method: string, routeUrl: string, status: number, code: string): void {
  const dir = process.env[PROBLEM_CODES_DIR_ENV];
  if (!dir) return;
  const line = JSON.stringify({ method, routeUrl, status, code });
  if (recorded.has(line)) return;
  recorded.add(line);
  appendFileSync(join(dir, `codes-${process.pid}.ndjson`), `${line}\n`);
}
