import { z } from "zod";
import { MfaGrantRequests } from "./account-security-v2.ts";
import { commonErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

/**
 * The web console's session (`/console/`, served by the gateway): the console logs in through
 * these routes instead of `/api/v2/auth/token` so that the refresh token never reaches page
 * scripts. The gateway keeps it in an `HttpOnly; SameSite=Strict` cookie scoped to `/console/`
 * and answers only the short-lived access token, which the page keeps in memory. CSRF: the cookie
 * is never sent cross-site (SameSite=Strict) and every route requires the `X-Trellis-Console`
 * header, which a form cannot send and a script of another origin only after a CORS preflight,
 * still unable to read the answer (the gateway sends no `Access-Control-Allow-Credentials`).
 */
export const CONSOLE_REFRESH_COOKIE = "trellis_console_refresh";
export const CONSOLE_CSRF_HEADER = "x-trellis-console";

const tags = ["console"];
const csrfHeader = z.object({
  [CONSOLE_CSRF_HEADER]: z.literal("1", { error: "the X-Trellis-Console: 1 header is required" }),
});
/** The token endpoint's grants that start a session (a refresh comes from the cookie instead). */
export const ConsoleLoginRequest = z.discriminatedUnion("grant_type", [
  z.object({
    grant_type: z.literal("password"),
    username: z.string().min(1).max(200),
    password: z.string().min(1).max(1024),
  }),
  ...MfaGrantRequests,
]);
export const ConsoleAccessToken = z.object({
  access_token: z.string(),
  token_type: z.literal("bearer"),
  expires_in: z.number().int().positive(),
});
const cookieSet = {
  description: "The access token; the refresh token is in the `Set-Cookie` (HttpOnly) only.",
  schema: ConsoleAccessToken,
  headers: { "Set-Cookie": `${CONSOLE_REFRESH_COOKIE}=…; Path=/console/; HttpOnly; SameSite=Strict` },
};
const e = (description: string) => ({ description, schema: ErrorResponse });

export const consoleRoutes = {
  session: route({
    method: "post",
    path: "/console/session",
    operationId: "consoleLogin",
    summary: "Console login: a password or MFA grant, as the token endpoint takes; the refresh token goes to a cookie.",
    tags,
    auth: "public",
    acceptsForm: true,
    headers: csrfHeader,
    body: ConsoleLoginRequest,
    responses: {
      200: cookieSet,
      401: e("Invalid credentials, or `mfa_required` with `details.challenge` (then an MFA grant)."),
      429: e("Too many failed logins; retry after `Retry-After`."),
      ...commonErrors,
    },
  }),
  refresh: route({
    method: "post",
    path: "/console/refresh",
    operationId: "consoleRefresh",
    summary: "A new access token from the console's refresh cookie (rotated in the answer).",
    tags,
    auth: "public",
    headers: csrfHeader,
    responses: {
      200: cookieSet,
      401: e("No console session (no cookie, or one that was revoked, expired or reused); the cookie is cleared."),
      ...commonErrors,
    },
  }),
  logout: route({
    method: "post",
    path: "/console/logout",
    operationId: "consoleLogout",
    summary: "Ends the console's session (the cookie's) and clears the cookie.",
    tags,
    auth: "public",
    headers: csrfHeader,
    responses: { 204: { description: "Done (also when there was no session)." }, ...commonErrors },
  }),
};
