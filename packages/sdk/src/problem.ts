import type { ProblemCode } from "./generated/problem-codes.js";

export type { ProblemCode };

/** ProblemFieldError is one invalid input field of a `validation_failed` problem. */
export interface ProblemFieldError {
  path: string;
  message: string;
  code?: string;
}

/** ProblemDocument is an RFC 9457 problem as the plane writes it (`application/problem+json`). */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** code: the stable machine-readable code (`tenant_slug_taken`, `validation_failed`, …). */
  code: ProblemCode | (string & {});
  requestId: string;
  errors?: ProblemFieldError[];
}

/**
 * BaseplateProblem is thrown for every answer of the plane that is not a success: it carries the
 * problem document's fields. `code` is typed with every code the API document names, so
 * `err.code === "tenant_slug_taken"` is checked by the compiler. An answer that is not a problem
 * document (a proxy's HTML 502, say) becomes a problem with code `http_<status>`.
 */
export class BaseplateProblem extends Error implements ProblemDocument {
  override readonly name = "BaseplateProblem";
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode | (string & {});
  readonly requestId: string;
  readonly errors: ProblemFieldError[] | undefined;

  constructor(problem: ProblemDocument) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.type = problem.type;
    this.title = problem.title;
    this.status = problem.status;
    this.detail = problem.detail;
    this.code = problem.code;
    this.requestId = problem.requestId;
    this.errors = problem.errors;
  }

  /** is narrows an unknown error to a problem, optionally of one code. */
  static is(err: unknown, code?: ProblemCode): err is BaseplateProblem {
    return err instanceof BaseplateProblem && (code === undefined || err.code === code);
  }

  /** fromResponse builds the problem of a failed response from its already parsed body. */
  static fromResponse(response: Response, body: unknown): BaseplateProblem {
    if (isProblemDocument(body)) return new BaseplateProblem(body);
    const text = typeof body === "string" ? body.slice(0, 200) : "";
    return new BaseplateProblem({
      type: "about:blank",
      title: response.statusText || `HTTP ${response.status}`,
      status: response.status,
      detail: text || `The server answered ${response.status} without a problem document.`,
      code: `http_${response.status}`,
      requestId: response.headers.get("x-request-id") ?? "",
    });
  }
}

/** isProblemDocument tells whether a parsed body has the shape of the plane's problem documents. */
export function isProblemDocument(body: unknown): body is ProblemDocument {
  if (typeof body !== "object" || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b.status === "number" && typeof b.code === "string" && typeof b.detail === "string";
}

/** FetchResult is what every openapi-fetch call resolves to. */
export interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * unwrap returns a call's data or throws its BaseplateProblem:
 * `const tenant = await unwrap(bp.POST("/v1/tenants", { body: { name: "Acme" } }))`.
 * A 204 answer resolves to `undefined`.
 */
export async function unwrap<T>(call: FetchResult<T> | Promise<FetchResult<T>>): Promise<T> {
  const result = await call;
  if (result.response.ok) return result.data as T;
  throw BaseplateProblem.fromResponse(result.response, result.error);
}
