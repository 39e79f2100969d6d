import { z } from "zod";
import { newPassword, UserId } from "../identity.ts";
import { V1Failure, v1Required, v1Success, v1Token, v1UserId } from "./errors-http.ts";
import { route } from "./route.ts";

/**
 * The Altoponix database API of seed 002, served unchanged: same paths, JSON field names, envelope
 * and status codes. Bodies are lenient about extra fields (existing clients send them) but strict
 * about the ones the seed requires.
 */
const required = v1Required;
const fail = (description: string) => ({ description, schema: V1Failure });
const persist = z.boolean({ error: "persist must be a boolean" }).optional();

export const compatV1Routes = {
  loginUser: route({
    method: "post",
    path: "/api/v1/login/user",
    operationId: "v1LoginUser",
    summary: "Log in as a user; a 32-hex token valid 4 hours, or until logout when `persist`.",
    tags: ["compatibility v1"],
    auth: "public",
    body: z.object({ username: required("username"), password: required("password"), persist }),
    responses: {
      200: {
        description: "The login was successful.",
        schema: v1Success(z.object({ token: z.string(), username: z.string(), user_id: z.string() })),
      },
      400: fail("At least one of the username or password arguments are missing."),
      401: fail("Invalid credentials were provided, and the login was unsuccessful."),
      429: fail("Too many failed logins; retry after `Retry-After`."),
    },
  }),
  loginMonitor: route({
    method: "post",
    path: "/api/v1/login/monitor",
    operationId: "v1LoginMonitor",
    summary: "Log in as a monitor.",
    tags: ["compatibility v1"],
    auth: "public",
    body: z.object({ monitor_id: required("monitor_id"), password: required("password"), persist }),
    responses: {
      200: { description: "The login was successful.", schema: v1Success(z.object({ token: z.string() })) },
      400: fail("At least one of the monitor_id or password arguments are missing."),
      401: fail("Invalid credentials were provided, and the login was unsuccessful."),
      429: fail("Too many failed logins; retry after `Retry-After`."),
    },
  }),
  logoutUser: route({
    method: "post",
    path: "/api/v1/logout/user",
    operationId: "v1LogoutUser",
    summary: "Remove the token from the active tokens.",
    tags: ["compatibility v1"],
    auth: "public",
    body: z.object({ user_id: required("user_id"), token: required("token") }),
    responses: {
      200: { description: "The logout was successful.", schema: v1Success(z.null()) },
      400: fail("At least one of the user_id or token arguments are missing."),
      401: fail("Invalid credentials were provided, and the logout was unsuccessful."),
    },
  }),
  logoutMonitor: route({
    method: "post",
    path: "/api/v1/logout/monitor",
    operationId: "v1LogoutMonitor",
    summary: "Remove the monitor's token from the active tokens.",
    tags: ["compatibility v1"],
    auth: "public",
    body: z.object({ monitor_id: required("monitor_id"), token: required("token") }),
    responses: {
      200: { description: "The logout was successful.", schema: v1Success(z.null()) },
      400: fail("At least one of the monitor_id or token arguments are missing."),
      401: fail("Invalid credentials were provided, and the logout was unsuccessful."),
    },
  }),
  verifyUser: route({
    method: "post",
    path: "/api/v1/login/user/verify",
    operationId: "v1VerifyUser",
    summary: "Whether a stored user token is still valid.",
    tags: ["compatibility v1"],
    auth: "public",
    body: z.object({ user_id: required("user_id"), token: required("token") }),
    responses: {
      200: { description: "`true` if the token is valid, `false` if it isn't.", schema: v1Success(z.boolean()) },
      400: fail("At least one of the user_id or token arguments are missing."),
    },
  }),
  verifyMonitor: route({
    method: "post",
    path: "/api/v1/login/monitor/verify",
    operationId: "v1VerifyMonitor",
    summary: "Whether a stored monitor token is still valid.",
    tags: ["compatibility v1"],
    auth: "public",
    body: z.object({ monitor_id: required("monitor_id"), token: required("token") }),
    responses: {
      200: { description: "`true` if the token is valid, `false` if it isn't.", schema: v1Success(z.boolean()) },
      400: fail("At least one of the monitor_id or token arguments are missing."),
    },
  }),
  ownersGet: route({
    method: "get",
    path: "/api/v1/owners/get",
    operationId: "v1OwnersGet",
    summary: "A user's monitors, username and type; every user for an admin without `user_id`.",
    tags: ["compatibility v1"],
    auth: "v1",
    query: z.object({ token: v1Token(), user_id: v1UserId().optional() }),
    responses: {
      200: {
        description: "The request was successful.",
        schema: v1Success(
          z.union([
            z.object({ monitor_ids: z.array(z.string()), username: z.string(), type: z.string() }),
            z.record(UserId, z.object({ monitor_ids: z.array(z.string()), username: z.string(), type: z.string() })),
          ]),
        ),
      },
      400: fail("The user_id or token given was invalid."),
      401: fail("The provided token was invalid."),
      403: fail(
        "Listing all users without an admin token was attempted, or accessing another user's data was attempted.",
      ),
    },
  }),
  resetPassword: route({
    method: "post",
    path: "/api/v1/owners/resetpassword",
    operationId: "v1ResetPassword",
    summary: "Reset a password; every session of that user is logged out.",
    tags: ["compatibility v1"],
    auth: "v1",
    body: z.object({
      token: v1Token(),
      user_id: v1UserId(),
      old_password: z.string().optional(),
      new_password: newPassword(required("new_password")),
    }),
    responses: {
      200: { description: "The request was successful.", schema: v1Success(z.null()) },
      400: fail("Some arguments weren't provided or are invalid."),
      401: fail("The provided token was invalid."),
      403: fail("The user doesn't have access to reset this account's password."),
    },
  }),
} as const;
