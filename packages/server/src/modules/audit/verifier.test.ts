import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import {
  type AuditEntryRecord,
  type CheckpointBody,
  canonicalEntryBody,
  canonicalJson,
  checkpointHash,
  ENTRY_LINE_PREFIX_LENGTH,
  entryHash,
  entryLine,
  FORMAT,
  GENESIS_HASH,
  keyIdOf,
  loadPublicKeys,
  type SignedCheckpoint,
} from "./format.js";
import { type VerificationErrorKind, verifyExportLines } from "./verifier.js";
import { verifyExportFile } from "./verify-threads.js";

// The offline verifier against deliberately broken exports, one tamper kind at a time (checklist
// AUD-01…AUD-04; immudb's lesson: a verifier needs adversarial inputs, not only happy paths).

const CHAIN = "ten_01TESTCHAIN0000000000000000";

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

function makeEntry(seq: number, prevHash: string, action = "thing.happened"): AuditEntryRecord {
  const body: Omit<AuditEntryRecord, "hash"> = {
    v: 1,
    id: `aud_${String(seq).padStart(26, "0")}`,
    chain: CHAIN,
    seq,
    environmentId: "env_test",
    tenantId: CHAIN,
    action,
    occurredAt: 1_700_000_000_000 + seq,
    actor: { type: "service", id: "key_1", displayName: null, model: null, onBehalfOf: null },
    targets: [{ type: "thing", id: `thg_${seq}` }],
    context: { ip: "10.0.0.1", userAgent: "test", surfaceId: "srf_1", requestId: `req_${seq}` },
    metadata: { n: seq, note: "ünïcødé ✓" },
    changes: null,
    source: "fact",
    factId: `fct_${seq}`,
    prevHash,
  };
  return { ...body, hash: entryHash(body) };
}

function makeChain(n: number): AuditEntryRecord[] {
  const out: AuditEntryRecord[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const e = makeEntry(seq, prev);
    out.push(e);
    prev = e.hash;
  }
  return out;
}

function signCheckpoint(
  key: { privateKey: KeyObject; keyId: string },
  entries: AuditEntryRecord[],
  size: number,
  previous: SignedCheckpoint | null,
  time = 1_700_000_100_000 + size,
): SignedCheckpoint {
  const body: CheckpointBody = {
    v: 1,
    chain: CHAIN,
    size,
    headHash: size === 0 ? GENESIS_HASH : (entries[size - 1] as AuditEntryRecord).hash,
    time,
    previousCheckpointHash: previous ? checkpointHash(previous) : null,
    keyId: key.keyId,
  };
  return { ...body, signature: sign(null, Buffer.from(canonicalJson(body)), key.privateKey).toString("base64") };
}

interface Export {
  anchor?: { size: number; headHash: string };
  checkpoints: SignedCheckpoint[];
  entries: AuditEntryRecord[];
}

function lines(x: Export, layout: "export" | "any" = "any"): string[] {
  return [
    JSON.stringify({
      type: "header",
      format: FORMAT,
      version: 1,
      chain: CHAIN,
      environmentId: "env_test",
      tenantId: CHAIN,
      exportedAt: 1,
      anchor: x.anchor ?? { size: 0, headHash: GENESIS_HASH },
    }),
    ...x.checkpoints.map((c) => JSON.stringify({ type: "checkpoint", ...c })),
    ...x.entries.map((e) => (layout === "export" ? entryLine(e) : JSON.stringify({ type: "entry", ...e }))),
  ];
}

const key = keyPair();
const keys = new Map([[key.keyId, key.publicKey]]);

/** fixture: 10 entries, checkpoints at 0 (empty chain), 4, 4 (nothing happened) and 8; 2 entries uncheckpointed. */
function fixture(): Export {
  const entries = makeChain(10);
  const c0 = signCheckpoint(key, entries, 0, null);
  const c4 = signCheckpoint(key, entries, 4, c0);
  const c4b = signCheckpoint(key, entries, 4, c4);
  const c8 = signCheckpoint(key, entries, 8, c4b);
  return { checkpoints: [c0, c4, c4b, c8], entries };
}

async function verify(x: Export, k: ReadonlyMap<string, KeyObject> = keys) {
  return verifyExportLines(lines(x), k);
}

function kinds(result: { errors: Array<{ kind: VerificationErrorKind }> }): VerificationErrorKind[] {
  return result.errors.map((e) => e.kind);
}

describe("canonical encoding", () => {
  it("sorts keys by UTF-16 code units, drops undefined members, writes no whitespace (RFC 8785)", () => {
    expect(canonicalJson({ b: 1, a: [true, null, "x"], c: { z: undefined, y: -0, x: 1e21 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"x":1e+21,"y":0}}',
    );
    // RFC 8785 §3.2.3 ordering example: code units, not code points or locale.
    expect(
      canonicalJson({ "\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\u0080": 5, "\ud83d\ude00": 6, "\u00f6": 7 }),
    ).toBe('{"\\r":2,"1":4,"\u0080":5,"\u00f6":7,"\u20ac":1,"\ud83d\ude00":6,"\ufb33":3}');
    expect(canonicalJson("line\nbreak \u001b[31m")).toBe('"line\\nbreak \\u001b[31m"');
    expect(() => canonicalJson({ n: Number.NaN })).toThrow();
    expect(() => canonicalJson({ f: () => 1 })).toThrow();
  });

  it("writes entries field by field exactly as the generic encoding does", () => {
    const text = fc.oneof(fc.string(), fc.constant(null));
    fc.assert(
      fc.property(
        fc.record({
          displayName: text,
          model: text,
          onBehalfOf: fc.oneof(fc.constant(null), fc.record({ type: fc.string(), id: fc.string(), reason: text })),
          ip: text,
          userAgent: text,
          targets: fc.array(fc.record({ type: fc.string(), id: fc.string() }), { maxLength: 3 }),
          metadata: fc.dictionary(fc.string(), fc.jsonValue()),
        }),
        (r) => {
          const base = makeEntry(3, GENESIS_HASH);
          const entry = {
            ...base,
            actor: { ...base.actor, displayName: r.displayName, model: r.model, onBehalfOf: r.onBehalfOf },
            context: { ...base.context, ip: r.ip, userAgent: r.userAgent },
            targets: r.targets,
            metadata: JSON.parse(JSON.stringify(r.metadata)) as Record<string, unknown>,
          };
          const { hash: _hash, ...body } = entry;
          expect(canonicalEntryBody(entry)).toBe(canonicalJson(body));
        },
      ),
      { numRuns: 300 },
    );
    // Another shape (an extra field) falls back to the generic encoding.
    const odd = { ...makeEntry(1, GENESIS_HASH), extra: 1 } as unknown as AuditEntryRecord;
    const { hash: _h, ...oddBody } = odd;
    expect(canonicalEntryBody(odd)).toBe(canonicalJson(oddBody));
  });

  it("hashes SHA-256(prevHash bytes ‖ canonical body)", () => {
    const e = makeEntry(1, GENESIS_HASH);
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(entryHash({ ...e, metadata: { ...e.metadata, n: 2 } })).not.toBe(e.hash);
    expect(entryHash({ ...e, prevHash: "1".repeat(64) })).not.toBe(e.hash);
  });
});

describe("verifier", () => {
  it("accepts an intact export, including an empty first checkpoint and an unchanged period (AUD-04)", async () => {
    const result = await verify(fixture());
    expect(result).toMatchObject({
      ok: true,
      entries: 10,
      checkpoints: 4,
      firstSeq: 1,
      lastSeq: 10,
      lastCheckpointSize: 8,
      uncheckpointed: 2,
      errors: [],
    });
  });

  it("AUD-01: a modified entry is reported at its seq", async () => {
    const x = fixture();
    x.entries[5] = { ...(x.entries[5] as AuditEntryRecord), action: "thing.forged" };
    const result = await verify(x);
    expect(result.ok).toBe(false);
    expect(result.errors).toEqual([expect.objectContaining({ kind: "entry_modified", seq: 6 })]);
  });

  it("AUD-01: a modified entry with a recomputed hash breaks the next link", async () => {
    const x = fixture();
    const forged = { ...(x.entries[2] as AuditEntryRecord), metadata: { n: 999 } };
    x.entries[2] = { ...forged, hash: entryHash(forged) };
    const result = await verify(x);
    expect(result.errors[0]).toMatchObject({ kind: "entry_link_broken", seq: 4 });
  });

  it("a rewritten history (every hash recomputed) fails at the checkpoint that signed the original", async () => {
    const x = fixture();
    let prev = (x.entries[1] as AuditEntryRecord).hash;
    for (let i = 2; i < x.entries.length; i++) {
      const body = { ...(x.entries[i] as AuditEntryRecord), metadata: { n: -i }, prevHash: prev };
      x.entries[i] = { ...body, hash: entryHash(body) };
      prev = (x.entries[i] as AuditEntryRecord).hash;
    }
    const result = await verify(x);
    expect(kinds(result)).toEqual(["checkpoint_mismatch", "checkpoint_mismatch"]);
    expect(result.errors.map((e) => e.checkpoint)).toEqual([4, 8]);
  });

  it("AUD-02: a deleted entry is reported where the gap is", async () => {
    const x = fixture();
    x.entries.splice(6, 1);
    const result = await verify(x);
    expect(result.errors[0]).toMatchObject({ kind: "entry_missing", seq: 8 });
    expect(result.errors[0]?.message).toContain("entries 7…7 are missing");
  });

  it("AUD-02: an inserted entry is reported", async () => {
    const x = fixture();
    const intruder = makeEntry(5, (x.entries[3] as AuditEntryRecord).hash, "thing.inserted");
    x.entries.splice(4, 0, intruder);
    const result = await verify(x);
    expect(result.ok).toBe(false);
    expect(kinds(result)).toContain("entry_out_of_order");
  });

  it("AUD-02: two reordered entries are reported", async () => {
    const x = fixture();
    const [a, b] = [x.entries[2] as AuditEntryRecord, x.entries[3] as AuditEntryRecord];
    x.entries[2] = b;
    x.entries[3] = a;
    const result = await verify(x);
    expect(kinds(result)).toEqual(expect.arrayContaining(["entry_out_of_order"]));
    expect(result.errors.find((e) => e.kind === "entry_out_of_order")?.seq).toBe(3);
  });

  it("AUD-02: a truncated tail is detected against the last checkpoint", async () => {
    const x = fixture();
    x.entries = x.entries.slice(0, 6);
    const result = await verify(x);
    expect(result.errors).toEqual([expect.objectContaining({ kind: "truncated", checkpoint: 8 })]);
  });

  it("AUD-03: an altered checkpoint fails its signature", async () => {
    const x = fixture();
    x.checkpoints[3] = {
      ...(x.checkpoints[3] as SignedCheckpoint),
      size: 10,
      headHash: (x.entries[9] as AuditEntryRecord).hash,
    };
    const result = await verify(x);
    expect(result.errors[0]).toMatchObject({ kind: "checkpoint_signature_invalid", checkpoint: 10 });
  });

  it("AUD-03: a deleted checkpoint breaks the checkpoint chain", async () => {
    const x = fixture();
    x.checkpoints.splice(2, 1);
    const result = await verify(x);
    expect(result.errors).toEqual([expect.objectContaining({ kind: "checkpoint_chain_broken", checkpoint: 8 })]);
    const first = fixture();
    first.checkpoints.splice(0, 1);
    expect((await verify(first)).errors[0]).toMatchObject({ kind: "checkpoint_chain_broken", checkpoint: 4 });
  });

  it("AUD-03: a checkpoint forged or re-signed with another key is refused", async () => {
    const attacker = keyPair();
    const x = fixture();
    const prev = x.checkpoints[2] as SignedCheckpoint;
    x.checkpoints[3] = signCheckpoint(attacker, x.entries, 8, prev);
    expect((await verify(x)).errors[0]).toMatchObject({ kind: "checkpoint_unknown_key", checkpoint: 8 });
    // Re-signed with the attacker's key but claiming the real key id: the signature fails.
    const y = fixture();
    const resigned = signCheckpoint(attacker, y.entries, 8, y.checkpoints[2] as SignedCheckpoint);
    y.checkpoints[3] = { ...resigned, keyId: key.keyId };
    expect((await verify(y)).errors[0]).toMatchObject({ kind: "checkpoint_signature_invalid", checkpoint: 8 });
    // A checkpoint re-signed over a rewritten predecessor no longer links to it.
    const z = fixture();
    const c4 = z.checkpoints[1] as SignedCheckpoint;
    z.checkpoints[1] = signCheckpoint(key, z.entries, 4, z.checkpoints[0] as SignedCheckpoint, c4.time + 1);
    expect((await verify(z)).errors[0]).toMatchObject({ kind: "checkpoint_chain_broken", checkpoint: 4 });
  });

  it("refuses malformed signatures without throwing", async () => {
    for (const signature of ["", "AAAA", `${"A".repeat(86)}==`, "not base64!"]) {
      const x = fixture();
      x.checkpoints[1] = { ...(x.checkpoints[1] as SignedCheckpoint), signature };
      expect((await verify(x)).errors[0]?.kind).toBe("checkpoint_signature_invalid");
    }
  });

  it("accepts an export that starts at a checkpoint anchor (retention), and refuses an unvouched anchor", async () => {
    const x = fixture();
    const anchored: Export = {
      anchor: { size: 4, headHash: (x.entries[3] as AuditEntryRecord).hash },
      checkpoints: x.checkpoints,
      entries: x.entries.slice(4),
    };
    expect(await verify(anchored)).toMatchObject({ ok: true, entries: 6, firstSeq: 5 });
    const unvouched: Export = {
      anchor: { size: 5, headHash: (x.entries[4] as AuditEntryRecord).hash },
      checkpoints: x.checkpoints,
      entries: x.entries.slice(5),
    };
    expect((await verify(unvouched)).errors[0]).toMatchObject({ kind: "anchor_unverified", checkpoint: 5 });
  });

  it("reports malformed input instead of throwing", async () => {
    expect((await verifyExportLines([], keys)).errors[0]?.kind).toBe("malformed");
    expect((await verifyExportLines(["not json"], keys)).errors[0]?.kind).toBe("malformed");
    expect((await verifyExportLines(['{"type":"entry"}'], keys)).errors[0]?.kind).toBe("malformed");
    const x = lines(fixture());
    x.push(JSON.stringify({ type: "checkpoint", ...fixture().checkpoints[0] }));
    expect((await verifyExportLines(x, keys)).errors.map((e) => e.kind)).toContain("malformed");
  });

  it("loads keys from a PEM file or the public-keys document", () => {
    const pem = key.publicKey.export({ type: "spki", format: "pem" }) as string;
    expect([...loadPublicKeys(pem).keys()]).toEqual([key.keyId]);
    const doc = JSON.stringify({ keys: [{ keyId: "x", algorithm: "Ed25519", publicKey: pem }] });
    expect([...loadPublicKeys(doc).keys()]).toEqual([key.keyId]);
  });
});

describe("entry lines hashed as written", () => {
  it("an export line is the entry (same JSON) and holds its canonical body after the prefix", () => {
    const e = makeChain(3)[2] as AuditEntryRecord;
    const line = entryLine(e);
    expect(JSON.parse(line)).toEqual({ type: "entry", ...e });
    expect(`{${line.slice(ENTRY_LINE_PREFIX_LENGTH)}`).toBe(canonicalEntryBody(e));
  });

  it("reads intact export-layout lines without parsing them (only the header and checkpoints are parsed)", async () => {
    const x = fixture();
    const parse = vi.spyOn(JSON, "parse");
    try {
      expect(await verifyExportLines(lines(x, "export"), keys)).toMatchObject({ ok: true, entries: 10 });
      expect(parse).toHaveBeenCalledTimes(1 + x.checkpoints.length);
    } finally {
      parse.mockRestore();
    }
  });

  it("verifies export-layout lines, and names an entry whose line was edited as text", async () => {
    const x = fixture();
    expect(await verifyExportLines(lines(x, "export"), keys)).toMatchObject({ ok: true, entries: 10 });
    const edited = lines(x, "export");
    edited[4 + 6] = (edited[4 + 6] as string).replace('"note":"', '"note":"x');
    const result = await verifyExportLines(edited, keys);
    expect(result.errors).toEqual([expect.objectContaining({ kind: "entry_modified", seq: 6, line: 11 })]);
    // Same content, members reordered: not the export layout, so hashed through its canonical encoding.
    const reordered = lines(x, "export");
    const e3 = x.entries[2] as AuditEntryRecord;
    reordered[4 + 3] = JSON.stringify({ ...e3, type: "entry" });
    expect((await verifyExportLines(reordered, keys)).ok).toBe(true);
  });
});

describe("parallel verification (worker threads) gives exactly the sequential result", () => {
  const dir = mkdtempSync(join(tmpdir(), "baseplate-verify-"));
  let n = 0;

  async function both(text: string[]) {
    const file = join(dir, `export-${++n}.jsonl`);
    writeFileSync(file, `${text.join("\n")}\n`);
    const sequential = await verifyExportLines(text, keys);
    // Segments of a few lines each, so tampering lands on segment boundaries too.
    const parallel = await verifyExportFile(file, keys, { threads: 2, minParallelBytes: 0, segmentBytes: 1500 });
    expect(parallel).toEqual(sequential);
    expect(await verifyExportFile(file, keys, { threads: 1 })).toEqual(sequential);
    return parallel;
  }

  const tampered: Array<[string, (x: Export) => void]> = [
    ["intact", () => undefined],
    [
      "modified",
      (x) => {
        x.entries[5] = { ...(x.entries[5] as AuditEntryRecord), action: "thing.forged" };
      },
    ],
    [
      "recomputed",
      (x) => {
        const forged = { ...(x.entries[2] as AuditEntryRecord), metadata: { n: 999 } };
        x.entries[2] = { ...forged, hash: entryHash(forged) };
      },
    ],
    ["deleted", (x) => void x.entries.splice(6, 1)],
    ["inserted", (x) => void x.entries.splice(4, 0, makeEntry(5, (x.entries[3] as AuditEntryRecord).hash, "t.in"))],
    [
      "reordered",
      (x) => {
        const [a, b] = [x.entries[2] as AuditEntryRecord, x.entries[3] as AuditEntryRecord];
        x.entries[2] = b;
        x.entries[3] = a;
      },
    ],
    ["duplicated", (x) => void x.entries.splice(7, 0, x.entries[2] as AuditEntryRecord)],
    [
      "truncated",
      (x) => {
        x.entries = x.entries.slice(0, 6);
      },
    ],
    ["checkpoint deleted", (x) => void x.checkpoints.splice(1, 1)],
    [
      "rewritten",
      (x) => {
        let prev = (x.entries[1] as AuditEntryRecord).hash;
        for (let i = 2; i < x.entries.length; i++) {
          const body = { ...(x.entries[i] as AuditEntryRecord), metadata: { n: -i }, prevHash: prev };
          x.entries[i] = { ...body, hash: entryHash(body) };
          prev = (x.entries[i] as AuditEntryRecord).hash;
        }
      },
    ],
    [
      "wrong chain",
      (x) => {
        x.entries[8] = { ...(x.entries[8] as AuditEntryRecord), chain: "ten_other" };
      },
    ],
  ];

  for (const [name, tamper] of tampered) {
    it(`${name}: both layouts`, async () => {
      const x = fixture();
      // A longer chain, so that segments hold several entries.
      const more = makeChain(40);
      x.entries = more;
      x.checkpoints = [
        signCheckpoint(key, more, 0, null),
        signCheckpoint(key, more, 4, null),
        signCheckpoint(key, more, 30, null),
      ];
      x.checkpoints[1] = signCheckpoint(key, more, 4, x.checkpoints[0] as SignedCheckpoint);
      x.checkpoints[2] = signCheckpoint(key, more, 30, x.checkpoints[1] as SignedCheckpoint);
      tamper(x);
      const expectOk = name === "intact";
      const exported = await both(lines(x, "export"));
      expect(exported.ok).toBe(expectOk);
      // Lines read without parsing (export layout) and parsed lines (any other) give one result.
      expect(await both(lines(x))).toEqual(exported);
    });
  }

  it("lines that are not JSON, of unknown type, blank, or checkpoints among entries", async () => {
    const base = lines({ ...fixture(), entries: makeChain(40) }, "export");
    const withUnknown = [...base];
    withUnknown.splice(20, 0, '{"type":"mystery"}', "", "   ");
    withUnknown.splice(
      30,
      0,
      JSON.stringify({ type: "checkpoint", ...(fixture().checkpoints[0] as SignedCheckpoint) }),
    );
    const result = await both(withUnknown);
    expect(result.errors.map((e) => [e.kind, e.line])).toEqual([
      ["malformed", 21],
      ["malformed", 31],
    ]);
    const broken = [...base];
    broken.splice(25, 0, "{not json");
    const stopped = await both(broken);
    expect(stopped.errors[0]).toMatchObject({ kind: "malformed", line: 26, message: "line 26 is not JSON" });
    expect(stopped.lastSeq).toBe(20);
    rmSync(dir, { recursive: true, force: true });
  });
});
