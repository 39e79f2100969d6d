import type { authCatalog } from "@trellis/contracts";
import type { ServiceParts } from "@trellis/runtime";

/** The auth service's handlers; each handler module provides a slice of them. */
export type AuthHandlers = ServiceParts<typeof authCatalog>["handlers"];
