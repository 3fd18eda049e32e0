import { Resolver } from "node:dns/promises";

/**
 * txtRecords answers the TXT records of `name` (each record's strings joined), asking `servers`
 * (`ip` or `ip:port`; the system's resolvers when empty). Never throws: a name that does not
 * resolve, a timeout or a refusal all answer [] (the record is not there, as far as we can tell).
 */
export async function txtRecords(name: string, servers: readonly string[]): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  try {
    if (servers.length > 0) resolver.setServers([...servers]);
    const records = await resolver.resolveTxt(name);
    return records.map((chunks) => chunks.join(""));
  } catch {
    return [];
  } finally {
    resolver.cancel();
  }
}
