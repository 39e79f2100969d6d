/**
 * Telemetry's constants that need no schema library: this module imports nothing, so the web console
 * (packages/console, bundled for the browser by Vite) imports it directly while ./telemetry.ts builds
 * its zod schemas from it. Keep it import-free (packages/console/build.ts hashes it as a console input).
 */

/** Seed 002: the eight float measurements of a monitor. */
export const MEASUREMENTS = [
  "atmospheric_temp",
  "reservoir_temp",
  "light_intensity",
  "soil_moisture",
  "electrical_conductivity",
  "ph",
  "dissolved_oxygen",
  "air_flow",
] as const;
