import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";

/**
 * A software WebAuthn authenticator for tests: P-256 keys from node:crypto, `none` attestation,
 * authenticator data and client data built by hand (a tiny CBOR encoder covers the few types
 * needed). It plays both the browser and the authenticator, so a test can also make them lie:
 * another origin, another rpId, a counter that goes back.
 */

type Cbor = number | string | Uint8Array | Cbor[] | Map<number | string, Cbor>;

/** cbor encodes the CBOR subset WebAuthn's attestation object and COSE keys use. */
export function cbor(value: Cbor): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const parts = [head(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v));
  return Buffer.concat(parts);
}

const b64u = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");
const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest();

const FLAG = { up: 0x01, uv: 0x04, be: 0x08, bs: 0x10, at: 0x40 } as const;

interface StoredCredential {
  id: Buffer;
  rpId: string;
  userHandle: string;
  privateKey: KeyObject;
  cose: Buffer;
  counter: number;
}

/** CreationOptions / RequestOptions: the JSON options the plane returns (the fields used here). */
export interface CreationOptions {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
}
export interface RequestOptions {
  challenge: string;
  rpId?: string;
  allowCredentials?: Array<{ id: string }>;
}

export interface Ceremony {
  /** origin the "browser" reports; the authenticator's origin when left out. */
  origin?: string;
  /** rpId the authenticator signs for; the options' rpId when left out. */
  rpId?: string;
  /** userVerified: whether the authenticator verified the user (default: the authenticator's). */
  userVerified?: boolean;
  /** challenge: sign this challenge instead of the options' one. */
  challenge?: string;
}

export interface AssertionCeremony extends Ceremony {
  /** credentialId: answer with this credential (default: the first allowed, or the first made for the rpId). */
  credentialId?: string;
  /** counter: report this counter (default: one more than the last). */
  counter?: number;
}

/** SoftAuthenticator: one authenticator with the credentials it made. */
export class SoftAuthenticator {
  readonly credentials: StoredCredential[] = [];

  constructor(
    readonly origin: string,
    private readonly options: { userVerified?: boolean; backedUp?: boolean } = {},
  ) {}

  /** register answers creation options like `navigator.credentials.create(...).toJSON()`. */
  register(options: CreationOptions, c: Ceremony = {}) {
    const rpId = c.rpId ?? options.rp.id ?? new URL(this.origin).hostname;
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const cose = cbor(
      new Map<number, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x as string, "base64url")],
        [-3, Buffer.from(jwk.y as string, "base64url")],
      ]),
    );
    const id = randomBytes(32);
    const credential: StoredCredential = { id, rpId, userHandle: options.user.id, privateKey, cose, counter: 0 };
    const idLength = Buffer.from([id.length >> 8, id.length & 0xff]);
    const authData = Buffer.concat([
      this.#authData(rpId, FLAG.at, c.userVerified, 0),
      Buffer.alloc(16), // aaguid: none
      idLength,
      id,
      cose,
    ]);
    const attestationObject = cbor(
      new Map<string, Cbor>([
        ["fmt", "none"],
        ["attStmt", new Map()],
        ["authData", authData],
      ]),
    );
    this.credentials.push(credential);
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: "public-key" as const,
      response: {
        clientDataJSON: this.#clientData("webauthn.create", c.challenge ?? options.challenge, c.origin),
        attestationObject: b64u(attestationObject),
        transports: ["internal"],
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  /** assert answers request options like `navigator.credentials.get(...).toJSON()`. */
  assert(options: RequestOptions, c: AssertionCeremony = {}) {
    const rpId = c.rpId ?? options.rpId ?? new URL(this.origin).hostname;
    const allowed = new Set((options.allowCredentials ?? []).map((a) => a.id));
    const credential = this.credentials.find((cr) =>
      c.credentialId
        ? b64u(cr.id) === c.credentialId
        : allowed.size > 0
          ? allowed.has(b64u(cr.id))
          : cr.rpId === (options.rpId ?? rpId),
    );
    if (!credential) throw new Error("SoftAuthenticator: no credential for these options");
    credential.counter = c.counter ?? credential.counter + 1;
    const authData = this.#authData(rpId, 0, c.userVerified, credential.counter);
    const clientDataJSON = this.#clientData("webauthn.get", c.challenge ?? options.challenge, c.origin);
    const signature = sign(
      "sha256",
      Buffer.concat([authData, sha256(Buffer.from(clientDataJSON, "base64url"))]),
      credential.privateKey,
    );
    return {
      id: b64u(credential.id),
      rawId: b64u(credential.id),
      type: "public-key" as const,
      response: {
        clientDataJSON,
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        userHandle: credential.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  #authData(rpId: string, extra: number, userVerified: boolean | undefined, counter: number): Buffer {
    const uv = userVerified ?? this.options.userVerified ?? true;
    const backup = this.options.backedUp ? FLAG.be | FLAG.bs : 0;
    const flags = FLAG.up | (uv ? FLAG.uv : 0) | backup | extra;
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count]);
  }

  #clientData(type: string, challenge: string, origin?: string): string {
    return b64u(JSON.stringify({ type, challenge, origin: origin ?? this.origin, crossOrigin: false }));
  }
}
