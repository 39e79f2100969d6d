import type { mediaCatalog } from "@trellis/contracts";
import type { ServiceParts } from "@trellis/runtime";

/** The media service's handlers; each handler module provides a slice of them. */
export type MediaHandlers = ServiceParts<typeof mediaCatalog>["handlers"];
