import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Sign-in with OpenID Connect: providers (a surface's social ones, a tenant's enterprise IdP),
 * started sign-ins (single use, bound to a hashed state), the (provider, subject) links to users,
 * and tenants' claims on email domains (unique per environment once verified).
 */
export const migration: ModuleMigration = {
  name: "202612131300_sso_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("oidc_provider")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("kind", t.text, (c) => c.notNull().check(checkIn("kind", ["social", "enterprise"])))
      .addColumn("surface_id", t.id)
      .addColumn("tenant_id", t.id)
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("issuer", t.text, (c) => c.notNull())
      .addColumn("client_id", t.text, (c) => c.notNull())
      .addColumn("client_secret", t.text, (c) => c.notNull())
      .addColumn("scopes", t.json, (c) => c.notNull())
      .addColumn("trust_email_verified", t.boolean, (c) => c.notNull())
      .addColumn("jit", t.boolean, (c) => c.notNull())
      .addColumn("default_role", t.text, (c) => c.notNull())
      .addColumn("enabled", t.boolean, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("oidc_provider_env_idx")
      .on("oidc_provider")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();

    await db.schema
      .createTable("oidc_login")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("provider_id", t.id, (c) => c.notNull())
      .addColumn("state_hash", t.text, (c) => c.notNull().unique())
      .addColumn("code_verifier", t.text, (c) => c.notNull())
      .addColumn("nonce", t.text, (c) => c.notNull())
      .addColumn("redirect_uri", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .execute();
    await db.schema.createIndex("oidc_login_expires_idx").on("oidc_login").column("expires_at").execute();

    await db.schema
      .createTable("user_identity")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("provider_id", t.id, (c) => c.notNull())
      .addColumn("subject", t.text, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull())
      .addColumn("email", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("last_login_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("user_identity_subject_key", ["provider_id", "subject"])
      .execute();
    await db.schema
      .createIndex("user_identity_user_idx")
      .on("user_identity")
      .columns(["environment_id", "user_id"])
      .execute();

    await db.schema
      .createTable("sso_domain")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("domain", t.text, (c) => c.notNull())
      .addColumn("token", t.text, (c) => c.notNull())
      .addColumn("verified_key", t.text, (c) => c.unique())
      .addColumn("verified_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("sso_domain_tenant_key", ["environment_id", "tenant_id", "domain"])
      .execute();
    await db.schema
      .createIndex("sso_domain_domain_idx")
      .on("sso_domain")
      .columns(["environment_id", "domain"])
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("sso_domain").execute();
    await db.schema.dropTable("user_identity").execute();
    await db.schema.dropTable("oidc_login").execute();
    await db.schema.dropTable("oidc_provider").execute();
  },
};
