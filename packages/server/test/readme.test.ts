import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES } from "../src/config.js";

describe("README", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");

  it("documents every configuration variable with its default", () => {
    for (const [name, spec] of Object.entries(CONFIG_VARIABLES)) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, `README is missing ${name}`).toBeDefined();
      expect(row).toContain(spec.default === "" ? "(empty)" : `\`${spec.default}\``);
    }
  });

  it("gives the two commands a newcomer needs", () => {
    expect(readme).toContain("npm install && npm start");
    expect(readme).toContain("npm install && npm test");
  });
});
