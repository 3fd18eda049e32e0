import { unwrap } from "@baseplate/sdk";
import { useMemo, useState } from "preact/hooks";
import qrcode from "qrcode-generator";
import { plane } from "../api.js";
import { Badge, Copyable, Dialog, Fields, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";

/**
 * TwoFactor: the signed-in operator's two-factor sign-in (TOTP). Turning it on shows a secret once
 * (as a QR code for an authenticator app and as text), takes a first code, then shows ten recovery
 * codes once. Turning it off and replacing the recovery codes take a current code. Every operator
 * manages its own, whatever its role; an admin can reset another's from *Operators*.
 */
export function TwoFactor() {
  const [state, reload] = useLoad((signal) => unwrap(plane.GET("/v1/operator/mfa", { signal })), []);
  const [enrolment, setEnrolment] = useState<{ secret: string; uri: string } | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [asking, setAsking] = useState<"disable" | "replace" | null>(null);
  const start = useAction();
  const begin = () =>
    start.run(async () => {
      const e = await unwrap(plane.POST("/v1/operator/mfa/totp", {}));
      setEnrolment({ secret: e.secret ?? "", uri: e.otpauthUri ?? "" });
    });
  return (
    <>
      <PageHeader
        title="Two-factor sign-in"
        subtitle="A code of an authenticator app on your phone, asked at every sign-in after your password."
      />
      {codes && <RecoveryCodesShown codes={codes} onDone={() => setCodes(null)} />}
      <Show state={state} what="your two-factor sign-in" retry={reload}>
        {(s) => (
          <section class="card" aria-labelledby="mfa-status-title">
            <h2 id="mfa-status-title">
              Status {s.enabled ? <Badge tone="good">on</Badge> : <Badge tone="warn">off</Badge>}
            </h2>
            {s.enabled ? (
              <>
                <Fields
                  rows={[
                    ["Turned on", <Time key="on" iso={s.enabledAt} />],
                    ["Last used", <Time key="used" iso={s.lastUsedAt} />],
                    ["Recovery codes left", String(s.recoveryCodesLeft)],
                  ]}
                />
                <div class="form-actions">
                  <button type="button" class="button" onClick={() => setAsking("replace")}>
                    New recovery codes
                  </button>
                  <button type="button" class="button button-danger" onClick={() => setAsking("disable")}>
                    Turn off
                  </button>
                </div>
              </>
            ) : enrolment ? (
              <Enrol
                enrolment={enrolment}
                onDone={(recovery) => {
                  setEnrolment(null);
                  setCodes(recovery);
                  reload();
                }}
              />
            ) : (
              <>
                <p>
                  Your account is protected by your password only. Operators can read and change every tenant's
                  configuration: turn two-factor sign-in on.
                </p>
                {start.problem && <ProblemNotice problem={start.problem} />}
                <button type="button" class="button button-primary" disabled={start.busy} onClick={() => void begin()}>
                  Turn on two-factor sign-in
                </button>
              </>
            )}
          </section>
        )}
      </Show>
      <CodeDialog
        open={asking !== null}
        title={asking === "disable" ? "Turn off two-factor sign-in" : "Replace recovery codes"}
        label={asking === "disable" ? "Turn off" : "Replace codes"}
        danger={asking === "disable"}
        onClose={() => setAsking(null)}
        send={async (code) => {
          if (asking === "disable") {
            await unwrap(plane.POST("/v1/operator/mfa/disable", { body: { code } }));
          } else {
            const r = await unwrap(plane.POST("/v1/operator/mfa/recovery-codes", { body: { code } }));
            setCodes(r.recoveryCodes ?? []);
          }
          setAsking(null);
          reload();
        }}
      />
    </>
  );
}

function Enrol({
  enrolment,
  onDone,
}: {
  enrolment: { secret: string; uri: string };
  onDone: (recoveryCodes: string[]) => void;
}) {
  const [code, setCode] = useState("");
  const action = useAction();
  const confirm = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const r = await unwrap(plane.POST("/v1/operator/mfa/totp/confirm", { body: { code: code.trim() } }));
      onDone(r.recoveryCodes ?? []);
    });
  };
  return (
    <form class="form" onSubmit={confirm} aria-label="Confirm two-factor sign-in">
      <p>
        1. Scan this code with an authenticator app (1Password, Google Authenticator, Authy…), or enter the key by hand.
        It is shown only now.
      </p>
      <QrCode value={enrolment.uri} label="QR code of your two-factor secret" />
      <Copyable value={enrolment.secret} label="the secret key" />
      <label for="first-code">2. Enter the 6-digit code the app shows</label>
      <input
        id="first-code"
        inputMode="numeric"
        autocomplete="one-time-code"
        required
        maxLength={6}
        value={code}
        onInput={(e) => setCode(e.currentTarget.value)}
      />
      {action.problem && <ProblemNotice problem={action.problem} />}
      <div class="form-actions">
        <button type="submit" class="button button-primary" disabled={action.busy}>
          {action.busy ? "Checking…" : "Turn on"}
        </button>
      </div>
    </form>
  );
}

/** QrCode draws `value` as a QR code in SVG (one path of dark modules: no inline style, no script). */
function QrCode({ value, label }: { value: string; label: string }) {
  const { size, path } = useMemo(() => {
    const qr = qrcode(0, "M");
    qr.addData(value);
    qr.make();
    const n = qr.getModuleCount();
    let d = "";
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + 4} ${r + 4}h1v1h-1z`;
    return { size: n + 8, path: d };
  }, [value]);
  return (
    <svg class="qr" role="img" aria-label={label} viewBox={`0 0 ${size} ${size}`} width="200" height="200">
      <rect width={size} height={size} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}

function RecoveryCodesShown({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <div class="notice notice-success" role="status">
      <p class="notice-title">Two-factor sign-in is on: your recovery codes</p>
      <p>
        Each works once, instead of a code of your app (a lost phone). Store them in your password manager now: they are
        shown only once.
      </p>
      <ul class="recovery-codes" aria-label="Recovery codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <Copyable value={codes.join("\n")} label="the recovery codes" />
      <p>
        <button type="button" class="button button-small" onClick={onDone}>
          I have stored them
        </button>
      </p>
    </div>
  );
}

function CodeDialog({
  open,
  title,
  label,
  danger,
  onClose,
  send,
}: {
  open: boolean;
  title: string;
  label: string;
  danger: boolean;
  onClose: () => void;
  send: (code: string) => Promise<void>;
}) {
  const [code, setCode] = useState("");
  const action = useAction();
  return (
    <Dialog title={title} open={open} onClose={onClose}>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(() => send(code.trim())).then((ok) => ok && setCode(""));
        }}
      >
        <label for="mfa-code">Code of your authenticator app, or a recovery code</label>
        <input
          id="mfa-code"
          autocomplete="one-time-code"
          required
          maxLength={64}
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
        />
        {action.problem && <ProblemNotice problem={action.problem} />}
        <div class="form-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class={`button ${danger ? "button-danger" : "button-primary"}`} disabled={action.busy}>
            {label}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
