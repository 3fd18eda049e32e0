import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { z } from "zod";

/**
 * Config is the plane's typed configuration, read from `BASEPLATE_*` environment variables with
 * safe defaults. `loadConfig` validates every variable at start and throws a `ConfigError` naming
 * each bad one, so a typo never starts a half-configured server.
 */
export interface Config {
  host: string;
  port: number;
  /**
   * publicUrl: the plane's address as clients reach it (no trailing slash); it names the issuer of
   * access tokens. Default: `http://<host>:<port>`.
   */
  publicUrl: string;
  dataDir: string;
  /** masterKeyFile holds the master keys that seal stored secrets (never in the database). */
  masterKeyFile: string;
  /** database is the embedded SQLite file, or a PostgreSQL connection. */
  database:
    | { engine: "sqlite"; file: string; synchronous: "OFF" | "NORMAL" | "FULL" | "EXTRA"; busyTimeoutMs: number }
    | { engine: "postgres"; url: string; schema: string; poolMax: number; workerPoolMax: number };
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** bodyLimitBytes caps every request body; larger bodies answer 413. */
  bodyLimitBytes: number;
  corsOrigins: string[];
  /** trustProxy: whether X-Forwarded-For from the peer is believed (only behind your own proxy). */
  trustProxy: boolean;
  idempotencyTtlMs: number;
  idempotencyLockMs: number;
  shutdownTimeoutMs: number;
  workers: { enabled: boolean; concurrency: number; pollIntervalMs: number; leaseMs: number };
  sessions: { idleMs: number; absoluteMs: number };
  passwords: { profile: "owasp" | "test"; concurrency: number; maxQueue: number };
  /** migrateOnStart: apply pending migrations when the server starts. */
  migrateOnStart: boolean;
  events: { retentionDays: number };
  webhooks: { timeoutMs: number; allowPrivateTargets: boolean; retryScheduleMs: number[] };
  /**
   * oidc: `allowInsecureIssuers` lets non-production environments use http issuers on private
   * addresses (development and tests only).
   */
  oidc: { allowInsecureIssuers: boolean };
  /** dnsServers: the resolvers domain verification asks (`ip` or `ip:port`); empty: the system's. */
  dnsServers: string[];
  /**
   * mail: how the plane sends its mails (verification, password reset, magic links, invitations).
   * `smtpUrl` null: mails stay in the outbox with status `logged` and are written to the log.
   */
  mail: { smtpUrl: string | null; from: string };
  /** billing: days from finalization to an invoice's due date, and past due before suspension. */
  billing: { netTermsDays: number; graceDays: number };
  storage: {
    driver: "local" | "s3";
    /** dir: the local driver's folder. */
    dir: string;
    maxFileBytes: number;
    uploadTimeoutMs: number;
    /** uploadSessionMs: how long a resumable or direct upload session stays open. */
    uploadSessionMs: number;
    trashMs: number;
    s3: {
      endpoint: string | null;
      region: string;
      bucket: string;
      prefix: string;
      accessKeyId: string | null;
      secretAccessKey: string | null;
      forcePathStyle: boolean;
    };
  };
  /**
   * backups: where `baseplate backup create`, the operator API and the schedule put backups
   * (`target`: a folder, or `s3://bucket/prefix`), the schedule (a cron expression, UTC; null: off),
   * how many to keep (0: all), and the S3 connection of an `s3://` target.
   */
  backups: {
    target: string;
    schedule: string | null;
    keep: number;
    s3: {
      endpoint: string | null;
      region: string;
      accessKeyId: string | null;
      secretAccessKey: string | null;
      forcePathStyle: boolean;
    };
  };
  /** auditSigningKeyFile: PEM file of the Ed25519 key signing audit checkpoints (null: a key kept in the database). */
  auditSigningKeyFile: string | null;
  /**
   * rateLimits: token buckets per credential and per tenant, by surface (`read`, `write`,
   * `usage_ingest`); `store` is where the buckets live (this process's memory, or the database for
   * limits shared exactly by every process).
   */
  rateLimits: {
    enabled: boolean;
    store: "memory" | "database";
    maxBuckets: number;
    credential: Record<RateLimitSurfaceName, RateLimitRule>;
    tenant: Record<RateLimitSurfaceName, RateLimitRule>;
  };
}

/** RateLimitSurfaceName names a rate-limit surface: routes declare one (default: GET → read, else write). */
export type RateLimitSurfaceName = "read" | "write" | "usage_ingest";

/** RateLimitRule: a bucket of `limit` requests that refills completely in `windowSeconds` (0 limit: no bucket). */
export interface RateLimitRule {
  limit: number;
  windowSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const bool = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => ["true", "1", "yes"].includes(v));
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;
/** durationList: a comma-separated list of `count` durations such as `5s,5m,2h`, in ms, each in [minMs, maxMs]. */
const durationList = (minCount: number, maxCount: number, minMs: number, maxMs: number) =>
  z
    .string()
    .regex(/^\s*\d+[smh]\s*(,\s*\d+[smh]\s*)*$/, "must be durations such as 5s,5m,2h, separated by commas")
    .transform((v) => v.split(",").map((d) => Number(d.trim().slice(0, -1)) * UNIT_MS[d.trim().slice(-1) as "s"]))
    .pipe(
      z
        .array(
          z
            .number()
            .min(minMs, `each must be at least ${minMs / 1000}s`)
            .max(maxMs, `each must be at most ${maxMs / 3_600_000}h`),
        )
        .min(minCount, `must list at least ${minCount}`)
        .max(maxCount, `must list at most ${maxCount}`),
    );

const WINDOW_SECONDS = { s: 1, m: 60, h: 3600 } as const;
/** rateRule: `<limit>/<window>` such as `6000/60s` or `100/1m`; `0` or `off`: no limit. */
const rateRule = z
  .string()
  .regex(/^(off|0|\d{1,9}\/\d{1,5}[smh])$/, "must be a limit per window such as 6000/60s, 100/1m or 5000/1h, or off")
  .transform((v): RateLimitRule => {
    if (v === "off" || v === "0") return { limit: 0, windowSeconds: 1 };
    const [limit = "0", window = "1s"] = v.split("/");
    return {
      limit: Number(limit),
      windowSeconds: Number(window.slice(0, -1)) * WINDOW_SECONDS[window.slice(-1) as "s"],
    };
  })
  .refine((r) => r.windowSeconds >= 1 && r.windowSeconds <= 86_400, "the window must be between 1s and 24h");

/** CONFIG_VARIABLES documents every variable; the README's configuration table mirrors it. */
export const CONFIG_VARIABLES = {
  BASEPLATE_HOST: { schema: z.string().min(1), default: "127.0.0.1", doc: "Address to listen on." },
  BASEPLATE_PORT: { schema: int(0, 65535), default: "8080", doc: "Port to listen on." },
  BASEPLATE_PUBLIC_URL: {
    schema: z
      .string()
      .refine((v) => v === "" || /^https?:\/\/[^\s?#]+$/.test(v), "must be empty or an http(s) URL without query"),
    default: "",
    doc: "The plane's public address (e.g. `https://auth.example.com`); access tokens name it as their issuer. Empty: `http://<host>:<port>`.",
  },
  BASEPLATE_DATA_DIR: {
    schema: z.string().min(1),
    default: "./baseplate-data",
    doc: "Folder for the embedded database and local files (created if missing).",
  },
  BASEPLATE_DATABASE_URL: {
    schema: z.string().refine((v) => v === "" || /^postgres(ql)?:\/\//.test(v), "must be empty or a postgres:// URL"),
    default: "",
    doc: "Empty: embedded SQLite in the data dir. `postgres://…`: PostgreSQL.",
  },
  BASEPLATE_DATABASE_SCHEMA: {
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier"),
    default: "public",
    doc: "PostgreSQL schema holding Baseplate's tables.",
  },
  BASEPLATE_DATABASE_POOL_MAX: {
    schema: int(1, 1000),
    default: "10",
    doc: "PostgreSQL connections per process for requests.",
  },
  BASEPLATE_DATABASE_WORKER_POOL_MAX: {
    schema: int(1, 1000),
    default: "5",
    doc: "PostgreSQL connections per process for background jobs, apart from the requests' pool so a job backlog never starves requests.",
  },
  BASEPLATE_SQLITE_SYNCHRONOUS: {
    schema: z.enum(["OFF", "NORMAL", "FULL", "EXTRA"]),
    default: "FULL",
    doc: "SQLite `synchronous` pragma. FULL survives power loss; NORMAL survives process crashes only.",
  },
  BASEPLATE_LOG_LEVEL: {
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
    default: "info",
    doc: "Log level (JSON logs on stdout).",
  },
  BASEPLATE_BODY_LIMIT: { schema: int(1024, 1024 ** 3), default: "1048576", doc: "Largest request body, bytes." },
  BASEPLATE_CORS_ORIGINS: {
    schema: z.string(),
    default: "",
    doc: "Comma-separated browser origins allowed to call the API (empty: none).",
  },
  BASEPLATE_TRUST_PROXY: { schema: bool, default: "false", doc: "Believe X-Forwarded-For (behind your own proxy)." },
  BASEPLATE_IDEMPOTENCY_TTL_HOURS: {
    schema: int(1, 24 * 30),
    default: "24",
    doc: "How long an Idempotency-Key and its stored response are kept.",
  },
  BASEPLATE_IDEMPOTENCY_LOCK_SECONDS: {
    schema: int(1, 3600),
    default: "60",
    doc: "How long a request holds its Idempotency-Key; a retry meanwhile answers 409 (also after a crash).",
  },
  BASEPLATE_SHUTDOWN_TIMEOUT_MS: {
    schema: int(0, 600_000),
    default: "30000",
    doc: "How long SIGTERM waits for requests and jobs to finish.",
  },
  BASEPLATE_WORKERS: { schema: bool, default: "true", doc: "Run background job workers in this process." },
  BASEPLATE_WORKER_CONCURRENCY: {
    schema: int(1, 256),
    default: "32",
    doc: "Jobs run at once per process (jobs wait on I/O, webhook receivers above all; on PostgreSQL they share the jobs' pool).",
  },
  BASEPLATE_WORKER_POLL_MS: { schema: int(10, 60_000), default: "500", doc: "Idle poll interval of workers." },
  BASEPLATE_JOB_LEASE_MS: {
    schema: int(1000, 3_600_000),
    default: "60000",
    doc: "Lease of a claimed job; a job whose worker died is retried after it.",
  },
  BASEPLATE_SESSION_IDLE_MINUTES: {
    schema: int(1, 60 * 24 * 90),
    default: "30",
    doc: "End-user and operator sessions end after this long unused.",
  },
  BASEPLATE_SESSION_ABSOLUTE_HOURS: {
    schema: int(1, 24 * 365),
    default: "12",
    doc: "Sessions end this long after login, however active.",
  },
  BASEPLATE_PASSWORD_HASH_CONCURRENCY: {
    schema: int(0, 256),
    default: "0",
    doc: "Password hashing threads, each computing one argon2id hash at a time (0: one per CPU core). They run below the event loop's priority, so other requests stay responsive while logins saturate them.",
  },
  BASEPLATE_PASSWORD_HASH_QUEUE: {
    schema: int(0, 100_000),
    default: "0",
    doc: "Hashes that may wait for a hashing thread (0: 16 per thread); one client address may hold half. Beyond, logins answer at once `503 hashing_busy` (a client over its half: `429 too_many_logins`), with `Retry-After`.",
  },
  BASEPLATE_PASSWORD_PROFILE: {
    schema: z.enum(["owasp", "test"]),
    default: "owasp",
    doc: "argon2id parameters: `owasp` (19 MiB, t=2, p=1). `test` is refused unless NODE_ENV=test.",
  },
  BASEPLATE_MIGRATE_ON_START: {
    schema: bool,
    default: "true",
    doc: "Apply pending migrations at start, under a lock (processes starting together are safe). `false`: start refuses a database with pending migrations.",
  },
  BASEPLATE_EVENTS_RETENTION_DAYS: {
    schema: int(1, 3650),
    default: "30",
    doc: "Days the event log keeps events (an environment may set its own retention).",
  },
  BASEPLATE_WEBHOOKS_TIMEOUT_MS: {
    schema: int(100, 120_000),
    default: "15000",
    doc: "A webhook attempt fails unless the receiver answers 2xx within this time.",
  },
  BASEPLATE_WEBHOOKS_RETRY_SCHEDULE: {
    schema: durationList(1, 20, 1000, 48 * 3_600_000),
    default: "5s,5m,30m,2h,5h,10h,10h",
    doc: "Delays before each retry of a failed webhook attempt (s, m, h; ±10% jitter); one attempt more than listed. Shorten it for staging.",
  },
  BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: {
    schema: bool,
    default: "false",
    doc: "Allow webhook URLs on loopback, private, link-local and other non-public addresses (LAN receivers, tests). Cloud metadata addresses stay refused.",
  },
  BASEPLATE_OIDC_ALLOW_INSECURE_ISSUERS: {
    schema: bool,
    default: "false",
    doc: "For development and tests only: let non-production environments use OIDC issuers over plain http and on loopback or private addresses. Production environments always need https on public addresses.",
  },
  BASEPLATE_DNS_SERVERS: {
    schema: z
      .string()
      .regex(
        /^\s*([0-9a-fA-F.:[\]]+)(\s*,\s*[0-9a-fA-F.:[\]]+)*\s*$|^$/,
        "must be IP addresses (optionally :port), separated by commas",
      ),
    default: "",
    doc: "DNS servers that SSO domain verification asks for TXT records (`ip` or `ip:port`, comma-separated). Empty: the system's resolvers.",
  },
  BASEPLATE_SMTP_URL: {
    schema: z
      .string()
      .max(2000)
      .refine(
        (v) => v === "" || /^smtps?:\/\/[^\s/]+(\/[^\s]*)?$/.test(v),
        "must be smtp://user:pass@host:587 or smtps://…",
      ),
    default: "",
    doc: "SMTP server for the plane's mails (`smtp://user:pass@host:587` with STARTTLS when offered, `smtps://…:465` for TLS). Empty: mails are only logged and kept in the outbox (`baseplate mail list`).",
  },
  BASEPLATE_MAIL_FROM: {
    schema: z
      .string()
      .max(300)
      .regex(/^[^\r\n]+$/, "must be one line"),
    default: "Baseplate <no-reply@localhost>",
    doc: "Default sender of the plane's mails (a surface may set its own in its email settings).",
  },
  BASEPLATE_BILLING_NET_TERMS_DAYS: {
    schema: int(0, 365),
    default: "30",
    doc: "Days from an invoice's finalization to its due date (`dueAt`); 0: due at once.",
  },
  BASEPLATE_BILLING_GRACE_DAYS: {
    schema: int(0, 365),
    default: "7",
    doc: "Days an invoice may stay unpaid past its due date before its tenant is suspended (category `billing`).",
  },
  BASEPLATE_STORAGE_DRIVER: {
    schema: z.enum(["local", "s3"]),
    default: "local",
    doc: "Where file bytes are kept: `local` (a folder) or `s3` (any S3-compatible store, `BASEPLATE_STORAGE_*`).",
  },
  BASEPLATE_STORAGE_DIR: {
    schema: z.string(),
    default: "",
    doc: "Folder of the local storage driver. Empty: `files` in the data dir.",
  },
  BASEPLATE_STORAGE_MAX_FILE_BYTES: {
    schema: int(1, 1024 ** 4),
    default: "5368709120",
    doc: "Largest file any bucket accepts, bytes (a bucket may set less); refused mid-stream once passed.",
  },
  BASEPLATE_STORAGE_UPLOAD_TIMEOUT_MINUTES: {
    schema: int(1, 7 * 24 * 60),
    default: "60",
    doc: "An upload whose bytes did not commit within this time is an orphan: the purge job deletes what it wrote.",
  },
  BASEPLATE_STORAGE_UPLOAD_SESSION_HOURS: {
    schema: int(1, 24 * 30),
    default: "24",
    doc: "How long a resumable or direct upload session stays open; the purge job then deletes it and its bytes.",
  },
  BASEPLATE_STORAGE_TRASH_HOURS: {
    schema: int(0, 24 * 365),
    default: "168",
    doc: "How long a deleted file stays in the trash (restorable) before the purge job deletes its bytes.",
  },
  BASEPLATE_STORAGE_ENDPOINT: {
    schema: z.string(),
    default: "",
    doc: "S3 endpoint URL (MinIO, R2, Ceph…). Empty: AWS S3 of `BASEPLATE_STORAGE_REGION`.",
  },
  BASEPLATE_STORAGE_REGION: { schema: z.string().min(1), default: "us-east-1", doc: "Region of the S3 bucket." },
  BASEPLATE_STORAGE_BUCKET: {
    schema: z.string(),
    default: "",
    doc: "S3 bucket holding the plane's files (required with the `s3` driver).",
  },
  BASEPLATE_STORAGE_PREFIX: {
    schema: z.string().regex(/^([A-Za-z0-9_-]+\/)*$/, "must be empty or segments ending in /"),
    default: "",
    doc: "Key prefix inside the bucket (`baseplate/`), so one bucket can serve several planes.",
  },
  BASEPLATE_STORAGE_ACCESS_KEY_ID: {
    schema: z.string(),
    default: "",
    doc: "S3 access key id. Empty: the AWS SDK's default credential chain.",
  },
  BASEPLATE_STORAGE_SECRET_ACCESS_KEY: { schema: z.string(), default: "", doc: "S3 secret access key." },
  BASEPLATE_STORAGE_FORCE_PATH_STYLE: {
    schema: bool,
    default: "false",
    doc: "Address the bucket in the path (`endpoint/bucket/key`), as most S3-compatible servers need.",
  },
  BASEPLATE_MASTER_KEY_FILE: {
    schema: z.string(),
    default: "",
    doc: "JSON file of the master keys that seal stored secrets (webhook signing secrets, receivers' header values, the audit signing key). Empty: `master.key` in the data dir, generated 0600 on a new plane's first start. Back it up apart from the database: without it those secrets are lost. The plane refuses to start when it is missing or wrong.",
  },
  BASEPLATE_BACKUP_TARGET: {
    schema: z
      .string()
      .max(1000)
      .refine((v) => !v.startsWith("s3:") || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9_./-]*)?$/.test(v), {
        message: "must be a folder or s3://bucket/prefix",
      }),
    default: "",
    doc: "Where backups go (`baseplate backup create`, the operator API, the schedule): a folder, or `s3://bucket/prefix` (`BASEPLATE_BACKUP_ENDPOINT` and the other `BASEPLATE_BACKUP_*`). Empty: `backups` in the data dir. See docs/backups.md.",
  },
  BASEPLATE_BACKUP_SCHEDULE: {
    schema: z.string().regex(/^$|^\S+(\s+\S+){4}$/, "must be empty or a cron expression of 5 fields (e.g. 0 3 * * *)"),
    default: "",
    doc: "When the running plane backs itself up: a cron expression (5 fields, UTC; `0 3 * * *` is daily at 03:00). One process takes each backup. Empty: no scheduled backups.",
  },
  BASEPLATE_BACKUP_KEEP: {
    schema: int(0, 100_000),
    default: "0",
    doc: "How many backups the target keeps: after each scheduled or API backup the oldest beyond this are deleted. 0: keep all.",
  },
  BASEPLATE_BACKUP_ENDPOINT: {
    schema: z.string(),
    default: "",
    doc: "S3 endpoint of an `s3://` backup target (MinIO, R2, Ceph…). Empty: AWS S3 of `BASEPLATE_BACKUP_REGION`.",
  },
  BASEPLATE_BACKUP_REGION: {
    schema: z.string().min(1),
    default: "us-east-1",
    doc: "Region of the backup bucket.",
  },
  BASEPLATE_BACKUP_ACCESS_KEY_ID: {
    schema: z.string(),
    default: "",
    doc: "Access key id for the backup bucket. Empty: the AWS SDK's default credential chain.",
  },
  BASEPLATE_BACKUP_SECRET_ACCESS_KEY: {
    schema: z.string(),
    default: "",
    doc: "Secret access key for the backup bucket.",
  },
  BASEPLATE_BACKUP_FORCE_PATH_STYLE: {
    schema: bool,
    default: "false",
    doc: "Address the backup bucket in the path (`endpoint/bucket/key`), as most S3-compatible servers need.",
  },
  BASEPLATE_AUDIT_SIGNING_KEY_FILE: {
    schema: z.string(),
    default: "",
    doc: "PEM file (PKCS#8) of the Ed25519 key that signs audit checkpoints. Empty: the plane generates one on first start and keeps it in the database.",
  },
  BASEPLATE_RATE_LIMITS: {
    schema: bool,
    default: "true",
    doc: "Apply rate limits (token buckets per credential and per tenant; 429 with `Retry-After`, `RateLimit` and `RateLimit-Policy`). See docs/rate-limits.md.",
  },
  BASEPLATE_RATE_LIMIT_STORE: {
    schema: z.enum(["memory", "database"]),
    default: "memory",
    doc: "`memory`: buckets in each process (exact in one process, no database round trip; N processes allow up to N× a limit). `database`: buckets in the database, exact across processes, one round trip per request.",
  },
  BASEPLATE_RATE_LIMIT_MAX_BUCKETS: {
    schema: int(1000, 10_000_000),
    default: "100000",
    doc: "Buckets kept in memory per process (`memory` store); full buckets are dropped first, so only a flood of distinct callers beyond this forgets the oldest.",
  },
  BASEPLATE_RATE_LIMIT_CREDENTIAL_READ: {
    schema: rateRule,
    default: "6000/60s",
    doc: "Reads (GET, read-only POST) per credential: `<limit>/<window>` (a bucket of `limit` that refills in `window`), or `off`.",
  },
  BASEPLATE_RATE_LIMIT_CREDENTIAL_WRITE: {
    schema: rateRule,
    default: "3000/60s",
    doc: "Writes (POST, PATCH, PUT, DELETE) per credential.",
  },
  BASEPLATE_RATE_LIMIT_CREDENTIAL_USAGE_INGEST: {
    schema: rateRule,
    default: "60000/60s",
    doc: "Usage ingestion requests per credential (a batch counts once).",
  },
  BASEPLATE_RATE_LIMIT_TENANT_READ: {
    schema: rateRule,
    default: "12000/60s",
    doc: "Reads per tenant, shared by the tenant's keys and agent keys (a tenant may get its own limits through the API).",
  },
  BASEPLATE_RATE_LIMIT_TENANT_WRITE: {
    schema: rateRule,
    default: "6000/60s",
    doc: "Writes per tenant.",
  },
  BASEPLATE_RATE_LIMIT_TENANT_USAGE_INGEST: {
    schema: rateRule,
    default: "120000/60s",
    doc: "Usage ingestion requests per tenant.",
  },
} as const;

type VarName = keyof typeof CONFIG_VARIABLES;

/** loadConfig reads and validates the configuration. Throws `ConfigError` listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const problems: string[] = [];
  const values = {} as Record<VarName, unknown>;
  for (const [name, spec] of Object.entries(CONFIG_VARIABLES) as [VarName, (typeof CONFIG_VARIABLES)[VarName]][]) {
    const raw = env[name];
    const input = raw === undefined || raw === "" ? spec.default : raw.trim();
    const parsed = (spec.schema as z.ZodType).safeParse(input);
    if (parsed.success) {
      values[name] = parsed.data;
    } else {
      const message = parsed.error.issues[0]?.message ?? "is not valid";
      problems.push(`${name}=${JSON.stringify(redactUserinfo(raw ?? ""))}: ${message}`);
    }
  }
  const corsOrigins = String(values.BASEPLATE_CORS_ORIGINS ?? "")
    .split(",")
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`BASEPLATE_CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com`);
    }
  }
  if (values.BASEPLATE_PASSWORD_PROFILE === "test" && env.NODE_ENV !== "test") {
    problems.push('BASEPLATE_PASSWORD_PROFILE="test": the fast password profile is only for tests (NODE_ENV=test)');
  }
  if (values.BASEPLATE_STORAGE_DRIVER === "s3" && !values.BASEPLATE_STORAGE_BUCKET) {
    problems.push("BASEPLATE_STORAGE_BUCKET: required with BASEPLATE_STORAGE_DRIVER=s3");
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = resolve(cwd, values.BASEPLATE_DATA_DIR as string);
  const url = values.BASEPLATE_DATABASE_URL as string;
  return {
    host: values.BASEPLATE_HOST as string,
    port: values.BASEPLATE_PORT as number,
    publicUrl: (
      (values.BASEPLATE_PUBLIC_URL as string) || `http://${values.BASEPLATE_HOST}:${values.BASEPLATE_PORT}`
    ).replace(/\/+$/, ""),
    dataDir,
    database:
      url === ""
        ? {
            engine: "sqlite",
            file: resolve(dataDir, "baseplate.sqlite"),
            synchronous: values.BASEPLATE_SQLITE_SYNCHRONOUS as "FULL",
            busyTimeoutMs: 5000,
          }
        : {
            engine: "postgres",
            url,
            schema: values.BASEPLATE_DATABASE_SCHEMA as string,
            poolMax: values.BASEPLATE_DATABASE_POOL_MAX as number,
            workerPoolMax: values.BASEPLATE_DATABASE_WORKER_POOL_MAX as number,
          },
    logLevel: values.BASEPLATE_LOG_LEVEL as Config["logLevel"],
    bodyLimitBytes: values.BASEPLATE_BODY_LIMIT as number,
    corsOrigins,
    trustProxy: values.BASEPLATE_TRUST_PROXY as boolean,
    idempotencyTtlMs: (values.BASEPLATE_IDEMPOTENCY_TTL_HOURS as number) * 3_600_000,
    idempotencyLockMs: (values.BASEPLATE_IDEMPOTENCY_LOCK_SECONDS as number) * 1000,
    shutdownTimeoutMs: values.BASEPLATE_SHUTDOWN_TIMEOUT_MS as number,
    workers: {
      enabled: values.BASEPLATE_WORKERS as boolean,
      concurrency: values.BASEPLATE_WORKER_CONCURRENCY as number,
      pollIntervalMs: values.BASEPLATE_WORKER_POLL_MS as number,
      leaseMs: values.BASEPLATE_JOB_LEASE_MS as number,
    },
    sessions: {
      idleMs: (values.BASEPLATE_SESSION_IDLE_MINUTES as number) * 60_000,
      absoluteMs: (values.BASEPLATE_SESSION_ABSOLUTE_HOURS as number) * 3_600_000,
    },
    passwords: {
      profile: values.BASEPLATE_PASSWORD_PROFILE as "owasp" | "test",
      // Default: every core; the hashing threads run at a lower priority than the event loop.
      concurrency: (values.BASEPLATE_PASSWORD_HASH_CONCURRENCY as number) || availableParallelism(),
      maxQueue: values.BASEPLATE_PASSWORD_HASH_QUEUE as number,
    },
    migrateOnStart: values.BASEPLATE_MIGRATE_ON_START as boolean,
    events: { retentionDays: values.BASEPLATE_EVENTS_RETENTION_DAYS as number },
    webhooks: {
      timeoutMs: values.BASEPLATE_WEBHOOKS_TIMEOUT_MS as number,
      allowPrivateTargets: values.BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS as boolean,
      retryScheduleMs: values.BASEPLATE_WEBHOOKS_RETRY_SCHEDULE as number[],
    },
    oidc: { allowInsecureIssuers: values.BASEPLATE_OIDC_ALLOW_INSECURE_ISSUERS as boolean },
    dnsServers: String(values.BASEPLATE_DNS_SERVERS ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    mail: {
      smtpUrl: (values.BASEPLATE_SMTP_URL as string) || null,
      from: values.BASEPLATE_MAIL_FROM as string,
    },
    billing: {
      netTermsDays: values.BASEPLATE_BILLING_NET_TERMS_DAYS as number,
      graceDays: values.BASEPLATE_BILLING_GRACE_DAYS as number,
    },
    storage: {
      driver: values.BASEPLATE_STORAGE_DRIVER as "local" | "s3",
      dir: resolve(cwd, (values.BASEPLATE_STORAGE_DIR as string) || resolve(dataDir, "files")),
      maxFileBytes: values.BASEPLATE_STORAGE_MAX_FILE_BYTES as number,
      uploadTimeoutMs: (values.BASEPLATE_STORAGE_UPLOAD_TIMEOUT_MINUTES as number) * 60_000,
      uploadSessionMs: (values.BASEPLATE_STORAGE_UPLOAD_SESSION_HOURS as number) * 3_600_000,
      trashMs: (values.BASEPLATE_STORAGE_TRASH_HOURS as number) * 3_600_000,
      s3: {
        endpoint: (values.BASEPLATE_STORAGE_ENDPOINT as string) || null,
        region: values.BASEPLATE_STORAGE_REGION as string,
        bucket: values.BASEPLATE_STORAGE_BUCKET as string,
        prefix: values.BASEPLATE_STORAGE_PREFIX as string,
        accessKeyId: (values.BASEPLATE_STORAGE_ACCESS_KEY_ID as string) || null,
        secretAccessKey: (values.BASEPLATE_STORAGE_SECRET_ACCESS_KEY as string) || null,
        forcePathStyle: values.BASEPLATE_STORAGE_FORCE_PATH_STYLE as boolean,
      },
    },
    masterKeyFile: values.BASEPLATE_MASTER_KEY_FILE
      ? resolve(cwd, values.BASEPLATE_MASTER_KEY_FILE as string)
      : resolve(dataDir, "master.key"),
    backups: {
      target: ((values.BASEPLATE_BACKUP_TARGET as string) || "").startsWith("s3://")
        ? (values.BASEPLATE_BACKUP_TARGET as string)
        : resolve(cwd, (values.BASEPLATE_BACKUP_TARGET as string) || resolve(dataDir, "backups")),
      schedule: (values.BASEPLATE_BACKUP_SCHEDULE as string) || null,
      keep: values.BASEPLATE_BACKUP_KEEP as number,
      s3: {
        endpoint: (values.BASEPLATE_BACKUP_ENDPOINT as string) || null,
        region: values.BASEPLATE_BACKUP_REGION as string,
        accessKeyId: (values.BASEPLATE_BACKUP_ACCESS_KEY_ID as string) || null,
        secretAccessKey: (values.BASEPLATE_BACKUP_SECRET_ACCESS_KEY as string) || null,
        forcePathStyle: values.BASEPLATE_BACKUP_FORCE_PATH_STYLE as boolean,
      },
    },
    auditSigningKeyFile: values.BASEPLATE_AUDIT_SIGNING_KEY_FILE
      ? resolve(cwd, values.BASEPLATE_AUDIT_SIGNING_KEY_FILE as string)
      : null,
    rateLimits: {
      enabled: values.BASEPLATE_RATE_LIMITS as boolean,
      store: values.BASEPLATE_RATE_LIMIT_STORE as "memory" | "database",
      maxBuckets: values.BASEPLATE_RATE_LIMIT_MAX_BUCKETS as number,
      credential: {
        read: values.BASEPLATE_RATE_LIMIT_CREDENTIAL_READ as RateLimitRule,
        write: values.BASEPLATE_RATE_LIMIT_CREDENTIAL_WRITE as RateLimitRule,
        usage_ingest: values.BASEPLATE_RATE_LIMIT_CREDENTIAL_USAGE_INGEST as RateLimitRule,
      },
      tenant: {
        read: values.BASEPLATE_RATE_LIMIT_TENANT_READ as RateLimitRule,
        write: values.BASEPLATE_RATE_LIMIT_TENANT_WRITE as RateLimitRule,
        usage_ingest: values.BASEPLATE_RATE_LIMIT_TENANT_USAGE_INGEST as RateLimitRule,
      },
    },
  };
}

/** redactUserinfo hides the password of a URL-like value (`scheme://user:password@host`) in messages. */
function redactUserinfo(value: string): string {
  return value.replace(/(\/\/[^:@/\s]*):[^@/\s]*@/, "$1:***@");
}
