import { z } from "zod";
import { Jwks, LoginLogEntry, TokenPair, User } from "../auth.ts";
import { Email, FaceEncoding, NewPassword, PageCursor, Principal, Role, UserId, Username } from "../identity.ts";
import { MfaGrantRequests } from "./account-security-v2.ts";
import { authErrors, commonErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const tags = ["auth"];
const userTags = ["users"];
const idParams = z.object({ id: UserId });
const noContent = { 204: { description: "Done." } } as const;
/** An admin naming a user that does not exist (anyone else gets 403 for another user's id). */
const noUser = { 404: { description: "No such user (admins).", schema: ErrorResponse } } as const;
const unauthenticated = {
  401: { description: "Invalid credentials (the same answer for an unknown user).", schema: ErrorResponse },
};
/** A right first factor of an account with two-factor login: finish with an MFA grant at the token endpoint. */
const mfaRequired = {
  401: {
    description:
      "Invalid credentials (the same answer for an unknown user), or `error.code` `mfa_required`: the password (or face) was right and the account has two-factor login; send `error.details.challenge` with a code as an MFA grant (valid 5 minutes, once).",
    schema: ErrorResponse,
  },
};
const tooMany = { 429: { description: "Too many failed logins; retry after `Retry-After`.", schema: ErrorResponse } };

/**
 * OAuth2 token request (RFC 6749 §4.3 and §6), as a form or JSON. Seed 001 answered bad
 * credentials with 403; this API answers 401 (the request is not authenticated), documented here.
 */
export const TokenRequest = z.discriminatedUnion("grant_type", [
  z.object({
    grant_type: z.literal("password"),
    username: z.string().min(1).max(200),
    password: z.string().min(1).max(1024),
  }),
  z.object({ grant_type: z.literal("refresh_token"), refresh_token: z.string().min(1).max(500) }),
  ...MfaGrantRequests,
]);

export const RegisterRequest = z.object({
  username: Username,
  password: NewPassword,
  email: Email.optional(),
});

export const authV2Routes = {
  register: route({
    method: "post",
    path: "/api/v2/auth/register",
    operationId: "register",
    summary: "Create an account (when registration is open).",
    tags,
    auth: "public",
    body: RegisterRequest,
    responses: {
      201: { description: "The new user.", schema: User },
      403: { description: "Registration is closed.", schema: ErrorResponse },
      409: { description: "The username or email is taken.", schema: ErrorResponse },
      ...commonErrors,
    },
  }),
  token: route({
    method: "post",
    path: "/api/v2/auth/token",
    operationId: "token",
    summary: "OAuth2 password or refresh-token grant: a short-lived JWT access token and a rotating refresh token.",
    tags,
    auth: "public",
    acceptsForm: true,
    body: TokenRequest,
    responses: {
      200: { description: "Tokens.", schema: TokenPair },
      ...unauthenticated,
      ...mfaRequired,
      ...tooMany,
      ...commonErrors,
    },
  }),
  faceLogin: route({
    method: "post",
    path: "/api/v2/auth/face-login",
    operationId: "faceLogin",
    summary: "Log in with a face encoding compared to the stored one (seed 000).",
    tags,
    auth: "public",
    body: z.object({
      username: z.string().min(1).max(200),
      encoding: FaceEncoding,
      picture_id: z.string().max(100).optional(),
    }),
    responses: {
      200: { description: "Tokens.", schema: TokenPair },
      ...unauthenticated,
      ...mfaRequired,
      ...tooMany,
      ...commonErrors,
    },
  }),
  logout: route({
    method: "post",
    path: "/api/v2/auth/logout",
    operationId: "logout",
    summary: "End the session of the presented token, everywhere, at once.",
    tags,
    auth: "bearer",
    responses: { ...noContent, ...authErrors },
  }),
  jwks: route({
    method: "get",
    path: "/api/v2/auth/jwks",
    operationId: "jwks",
    summary: "Public keys that verify access tokens (also at /.well-known/jwks.json).",
    tags,
    auth: "public",
    responses: { 200: { description: "JWKS.", schema: Jwks }, ...commonErrors },
  }),
  wellKnownJwks: route({
    method: "get",
    path: "/.well-known/jwks.json",
    operationId: "wellKnownJwks",
    summary: "The same keys at the conventional location (RFC 8414 / OpenID discovery clients look here).",
    tags,
    auth: "public",
    responses: { 200: { description: "JWKS.", schema: Jwks }, ...commonErrors },
  }),
  me: route({
    method: "get",
    path: "/api/v2/me",
    operationId: "me",
    summary: "Who the token belongs to (answered from the token, without a call to auth).",
    tags,
    auth: "bearer",
    responses: { 200: { description: "The caller.", schema: Principal }, ...authErrors },
  }),
} as const;

export const usersV2Routes = {
  list: route({
    method: "get",
    path: "/api/v2/users",
    operationId: "listUsers",
    summary: "Users a page at a time (admin).",
    tags: userTags,
    auth: "bearer",
    query: z.object({
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: PageCursor.optional(),
    }),
    responses: {
      200: { description: "A page.", schema: z.object({ items: z.array(User), nextCursor: z.string().nullable() }) },
      ...authErrors,
    },
  }),
  create: route({
    method: "post",
    path: "/api/v2/users",
    operationId: "createUser",
    summary: "Create a user or an admin (admin).",
    tags: userTags,
    auth: "bearer",
    body: RegisterRequest.extend({ role: Role.default("user") }),
    responses: {
      201: { description: "The new user.", schema: User },
      409: { description: "Taken.", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  batch: route({
    method: "post",
    path: "/api/v2/users/batch",
    operationId: "getUsersBatch",
    summary: "Users by id in the order asked; unknown ids are null (admin).",
    tags: userTags,
    auth: "bearer",
    body: z.object({ ids: z.array(z.string().max(64)).max(500) }),
    responses: { 200: { description: "Users.", schema: z.object({ users: z.array(User.nullable()) }) }, ...authErrors },
  }),
  byUsername: route({
    method: "get",
    path: "/api/v2/users/by-username/:username",
    operationId: "getUserByUsername",
    summary: "A user by username, case-insensitively (self or admin).",
    tags: userTags,
    auth: "bearer",
    params: z.object({ username: z.string().min(1).max(200) }),
    responses: {
      200: { description: "The user.", schema: User },
      404: { description: "No such user.", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  get: route({
    method: "get",
    path: "/api/v2/users/:id",
    operationId: "getUser",
    summary: "A user (self or admin).",
    tags: userTags,
    auth: "bearer",
    params: idParams,
    responses: {
      200: { description: "The user.", schema: User },
      404: { description: "No such user.", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  promote: route({
    method: "post",
    path: "/api/v2/users/:id/promote",
    operationId: "promoteUser",
    summary: "Make a user an admin (admin).",
    tags: userTags,
    auth: "bearer",
    params: idParams,
    responses: {
      200: { description: "The user, now admin.", schema: User },
      404: { description: "No such user.", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  delete: route({
    method: "delete",
    path: "/api/v2/users/:id",
    operationId: "deleteUser",
    summary: "Delete a user and everything they own (admin or self).",
    tags: userTags,
    auth: "bearer",
    params: idParams,
    responses: { ...noContent, 404: { description: "No such user.", schema: ErrorResponse }, ...authErrors },
  }),
  setPassword: route({
    method: "put",
    path: "/api/v2/users/:id/password",
    operationId: "setPassword",
    summary: "Change a password (old one required unless admin); every session of the user ends.",
    tags: userTags,
    auth: "bearer",
    params: idParams,
    body: z.object({ old_password: z.string().max(1024).optional(), new_password: NewPassword }),
    responses: { ...noContent, ...noUser, ...authErrors },
  }),
  logins: route({
    method: "get",
    path: "/api/v2/users/:id/logins",
    operationId: "getLoginLog",
    summary: "Login attempts, newest first (self or admin).",
    tags: userTags,
    auth: "bearer",
    params: idParams,
    query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }),
    responses: {
      200: { description: "Attempts.", schema: z.object({ items: z.array(LoginLogEntry) }) },
      ...noUser,
      ...authErrors,
    },
  }),
  setFace: route({
    method: "put",
    path: "/api/v2/users/:id/face-encoding",
    operationId: "setFaceEncoding",
    summary: "Store or replace the user's face encoding (self or admin).",
    tags: userTags,
    auth: "bearer",
    params: idParams,
    body: z.object({ encoding: FaceEncoding }),
    responses: { ...noContent, ...noUser, ...authErrors },
  }),
  getFace: route({
    method: "get",
    path: "/api/v2/users/:id/face-encoding",
    operationId: "getFaceEncoding",
    summary: "The user's face encoding (self or admin).",
    tags: userTags,
    auth: "bearer",
    params: idParams,
    responses: {
      200: { description: "The encoding.", schema: z.object({ encoding: FaceEncoding, updatedAt: z.iso.datetime() }) },
      404: { description: "None stored.", schema: ErrorResponse },
      ...authErrors,
    },
  }),
} as const;
