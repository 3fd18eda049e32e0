import { readFileSync } from "node:fs";
import { type ManifestFile, ManifestFileError, parseManifest } from "@baseplate/sdk/manifest";

export {
  MANIFEST_FILE,
  type ManifestFile,
  ManifestFileError,
  parseManifest,
  type Sections,
  sectionsFor,
  toYaml,
} from "@baseplate/sdk/manifest";

/** readManifest reads a manifest file from disk and checks its shape (`parseManifest`). */
export function readManifest(path: string): ManifestFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ManifestFileError(`Cannot read ${path}: ${(err as Error).message}`);
  }
  return parseManifest(text, path);
}
