import type { ModuleContext } from "../../platform/module.js";
import type { AccessService } from "../access/index.js";
import type { IdentityService } from "../identity/index.js";
import type { TenancyService } from "../tenancy/index.js";
import type { Core } from "./internal/core.js";
import { IssuerDirectory } from "./internal/issuer.js";
import { DomainsService } from "./service/domains.js";
import { ProvidersService } from "./service/providers.js";
import { SignInService } from "./service/sign-in.js";
import type { SsoTables } from "./tables.js";

/** SsoService: sign-in with OpenID Connect — providers, tenants' verified domains, the sign-in flow. */
export class SsoService {
  readonly core: Core;
  readonly providers: ProvidersService;
  readonly domains: DomainsService;
  readonly signIn: SignInService;

  constructor(m: ModuleContext, tenancy: TenancyService, identity: IdentityService, access: AccessService) {
    this.core = {
      m,
      tenancy,
      identity,
      access,
      tables: m.db.tables<SsoTables>(),
      issuers: new IssuerDirectory(() => m.clock.now()),
    };
    this.providers = new ProvidersService(this.core);
    this.domains = new DomainsService(this.core);
    this.signIn = new SignInService(this.core, this.providers, this.domains);
  }
}
