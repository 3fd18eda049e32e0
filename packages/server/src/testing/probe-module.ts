/** The probe module, kept importable from its former path; it lives in `testing/probe/`. */
export { CreateItemInput, ProbeErrors, ProbeService, probeIds, probeModule, probeModuleWith } from "./probe/index.js";
