import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import type { App } from "../app.js";
import { IdentityErrors, identityModule } from "../modules/identity/index.js";
import { tenancyModule } from "../modules/tenancy/index.js";
import { AppError } from "../platform/errors.js";
import { newId } from "../platform/ids.js";
import type { ActionContext } from "../platform/principal.js";
import { systemContext } from "../platform/principal.js";
import type { CliIo } from "./index.js";

export interface InitOptions {
  email?: string;
  name?: string;
  password?: string;
  project?: string;
  noProject?: boolean;
  json?: boolean;
  interactive: boolean;
}

export interface InitResult {
  operator: { id: string; email: string; token: string };
  project: null | {
    id: string;
    slug: string;
    environments: Array<{ id: string; slug: string; surfaceId: string; secretKeyId: string; secretKey: string }>;
  };
}

export class InitRefused extends Error {}

/**
 * initPlane bootstraps an empty plane: the first admin operator (with an API token), and unless
 * told otherwise a first project with `development` and `production` environments, an `api`
 * surface and a secret key in each. Credentials are returned once. Refuses an initialised plane.
 */
export async function initPlane(
  app: App,
  options: Required<Pick<InitOptions, "email" | "name" | "password">> & { project: string | null },
): Promise<InitResult> {
  const identity = app.service(identityModule);
  const tenancy = app.service(tenancyModule);
  const refused = () =>
    new InitRefused(
      "This plane is already initialised (it has operators). Log in with `POST /v1/operator/login` instead.",
    );
  if ((await identity.operators.countOperators()) > 0) throw refused();
  const system = systemContext(newId("request"), "baseplate-init");
  const issued = await identity.operators
    .bootstrapOperator(system, {
      email: options.email,
      name: options.name,
      role: "admin",
      password: options.password,
    })
    .catch((err: unknown) => {
      // Another init won the race between the check above and the bootstrap transaction.
      if (err instanceof AppError && err.code === IdentityErrors.email_taken.code) throw refused();
      throw err;
    });
  const result: InitResult = {
    operator: { id: issued.operator.id, email: issued.operator.email, token: issued.token },
    project: null,
  };
  if (options.project === null) return result;

  const ctx: ActionContext = {
    principal: {
      actorType: "operator",
      actorId: issued.operator.id,
      credentialId: issued.id,
      permissions: ["*"],
      displayName: issued.operator.email,
    },
    request: { requestId: newId("request") },
  };
  const project = await tenancy.projects.createProject(ctx, { name: options.project });
  result.project = { id: project.id, slug: project.slug, environments: [] };
  for (const name of ["Development", "Production"]) {
    const env = await tenancy.projects.createEnvironment(ctx, project.id, { name });
    const surface = await tenancy.surfaces.createSurface(ctx, env.id, {
      name: "Backend",
      kind: "api",
      allowedOrigins: [],
      scopeCeiling: ["*"],
      selfSignup: false,
    });
    const key = await identity.secretKeys.createSecretKey(ctx, env.id, {
      surfaceId: surface.id,
      name: `${name} backend`,
      scopes: ["*"],
    });
    result.project.environments.push({
      id: env.id,
      slug: env.slug,
      surfaceId: surface.id,
      secretKeyId: key.id,
      secretKey: key.token,
    });
  }
  return result;
}

/** promptMissing asks for what the flags did not give, when a person is at the terminal. */
export async function promptMissing(
  options: InitOptions,
  io: CliIo,
  input: NodeJS.ReadableStream,
): Promise<InitOptions> {
  if (!options.interactive) return options;
  const out = { ...options };
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input, output, terminal: true });
  const ask = (q: string, secret = false) =>
    new Promise<string>((resolve) => {
      process.stderr.write(q);
      muted = secret;
      rl.question("", (answer) => {
        muted = false;
        if (secret) process.stderr.write("\n");
        resolve(answer.trim());
      });
    });
  try {
    out.email ??= await ask("Operator email: ");
    out.name ??= (await ask("Your name: ")) || out.email;
    while (!out.password) {
      const first = await ask("Password (at least 8 characters, not a common one): ", true);
      const second = await ask("Repeat the password: ", true);
      if (first === second) out.password = first;
      else io.err("The passwords differ; try again.");
    }
    if (!out.noProject && out.project === undefined) {
      out.project = (await ask("First project name (empty to skip): ")) || undefined;
      if (out.project === undefined) out.noProject = true;
    }
  } finally {
    rl.close();
  }
  return out;
}

/** printInit shows the result to a person: what was created and the credentials, once. */
export function printInit(result: InitResult, io: CliIo, baseUrl: string): void {
  io.out("Baseplate is initialised.\n");
  io.out(`Operator   ${result.operator.email} (${result.operator.id}), role admin`);
  io.out(`  API token  ${result.operator.token}`);
  if (result.project) {
    io.out(`\nProject    ${result.project.slug} (${result.project.id})`);
    for (const env of result.project.environments) {
      io.out(`  ${env.slug.padEnd(12)} environment ${env.id}, surface ${env.surfaceId}`);
      io.out(`  ${"".padEnd(12)} secret key  ${env.secretKey}`);
    }
  }
  io.out("\nThese credentials are shown once and stored only as hashes: keep them in your secret manager now.");
  io.out(
    `Next: \`npx --no-install baseplate start\` (or \`npm start\`), then try \`curl -H "Authorization: Bearer <secret key>" ${baseUrl}/v1/tenants\`.`,
  );
}
