import { parse, stringify } from "yaml";

/**
 * `baseplate.yaml`, the manifest (docs/manifest.md), as text: parse it, pick one environment's
 * sections for `POST /v1/manifest/plan` and `/apply`, and write sections back as YAML. Used by the
 * CLI (`baseplate plan|apply|manifest export`) and the console; nothing here talks to a plane.
 */

/** MANIFEST_FILE is the manifest's default file name, in the current directory. */
export const MANIFEST_FILE = "baseplate.yaml";

const RESERVED = new Set(["version", "project", "environments"]);

/** ManifestFileError: the text is not a manifest (nothing is sent to the plane). */
export class ManifestFileError extends Error {}

export type Sections = Record<string, unknown[]>;

/** ManifestFile is `baseplate.yaml` as read: shared sections and per-environment ones. */
export interface ManifestFile {
  version: number;
  project?: string;
  shared: Sections;
  environments: Record<string, Sections>;
}

/**
 * parseManifest reads a manifest's text (YAML, or JSON, which is YAML) and checks its shape: the
 * version, sections that are lists, environments that map names to sections. The sections' items
 * are checked by the plane, which owns their schemas (a plan answers each problem with its path).
 */
export function parseManifest(text: string, path = MANIFEST_FILE): ManifestFile {
  let doc: unknown;
  try {
    // Aliases are bounded: a small file must not expand into a huge one.
    doc = parse(text, { maxAliasCount: 100, prettyErrors: true });
  } catch (err) {
    throw new ManifestFileError(`${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (!isObject(doc))
    throw new ManifestFileError(`${path}: a manifest is a mapping (version, sections, environments).`);
  if (doc.version !== 1)
    throw new ManifestFileError(`${path}: \`version: 1\` is required (the manifest format's version).`);
  if (doc.project !== undefined && typeof doc.project !== "string") {
    throw new ManifestFileError(`${path}: \`project\` must be a string.`);
  }
  const shared = sectionsOf(doc, `${path}`, true);
  const environments: Record<string, Sections> = {};
  if (doc.environments !== undefined) {
    if (!isObject(doc.environments))
      throw new ManifestFileError(`${path}: \`environments\` must map names to sections.`);
    for (const [name, sections] of Object.entries(doc.environments)) {
      if (!isObject(sections))
        throw new ManifestFileError(`${path}: environments.${name} must map section names to lists.`);
      environments[name] = sectionsOf(sections, `${path}: environments.${name}`, false);
    }
  }
  return { version: 1, ...(typeof doc.project === "string" ? { project: doc.project } : {}), shared, environments };
}

/**
 * sectionsFor is one environment's manifest: the shared sections, each replaced by the
 * environment's own when it declares one. A file with environments needs one named.
 */
export function sectionsFor(file: ManifestFile, env: string | undefined): Sections {
  const names = Object.keys(file.environments);
  if (env === undefined) {
    if (names.length > 0) {
      throw new ManifestFileError(`The manifest declares environments (${names.join(", ")}): name one with --env.`);
    }
    return { ...file.shared };
  }
  const own = file.environments[env];
  if (!own) {
    throw new ManifestFileError(
      names.length > 0
        ? `The manifest has no environment "${env}" (it has ${names.join(", ")}).`
        : `The manifest declares no environments: leave out --env.`,
    );
  }
  return { ...file.shared, ...own };
}

/** toYaml writes a manifest file: a schema hint for editors, the version and the sections. */
export function toYaml(sections: Sections, options: { schemaUrl?: string; project?: string } = {}): string {
  const doc: Record<string, unknown> = {
    version: 1,
    ...(options.project ? { project: options.project } : {}),
    ...sections,
  };
  const hint = options.schemaUrl ? `# yaml-language-server: $schema=${options.schemaUrl}\n` : "";
  return hint + stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}

function sectionsOf(doc: Record<string, unknown>, where: string, skipReserved: boolean): Sections {
  const out: Sections = {};
  for (const [name, items] of Object.entries(doc)) {
    if (skipReserved && RESERVED.has(name)) continue;
    if (!Array.isArray(items)) throw new ManifestFileError(`${where}: section \`${name}\` must be a list.`);
    out[name] = items;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
