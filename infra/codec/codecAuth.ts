/**
 * Who may call the codec server: a static bearer token, a JWT checked against a JWKS (what the
 * Temporal Cloud Web UI sends with "Pass access token"), or both (either passes).
 *
 * Settings (`codecAuthSettings`, validated with zod; a bad combination is one line naming the
 * variable):
 * - `CDC_CODEC_TOKEN`: `Authorization: Bearer <token>` passes (the CLI's `--codec-auth`);
 * - `CDC_CODEC_JWKS_URL`: a JWT passes when a key of this JWKS signed it (asymmetric algorithms
 *   only), it has not expired (`exp` required) and, when set, `CDC_CODEC_JWT_ISSUER` is its `iss`
 *   and one of `CDC_CODEC_JWT_AUDIENCE` (comma-separated) is in its `aud`. HTTPS, or HTTP to a
 *   loopback host;
 * - `CDC_CODEC_JWT_ALLOWED_EMAILS`: comma-separated emails or `@domain`s; the token's email
 *   (`CDC_CODEC_JWT_EMAIL_CLAIM`, default Temporal Cloud's claim, then `email`) must be one (403
 *   otherwise). Required with Temporal Cloud's JWKS: it signs a token for every Temporal Cloud
 *   user of every account, so the signature alone says nothing about who the user is;
 * - `CDC_CODEC_JWT_NAMESPACE_CLAIM`: a claim (string, space-separated string or list) that must
 *   grant the request's `X-Namespace`, by name or as Temporal's `<namespace>:<role>`;
 * - `CDC_CODEC_NAMESPACES`: the `X-Namespace` values this server answers (any mode; 403 otherwise).
 *
 * With Temporal Cloud's JWKS the audience defaults to Temporal Cloud's (`https://saas-api.tmprl.cloud`).
 * Refusals carry a short reason (401: no or a bad credential; 403: a user or namespace not
 * allowed; 503: the JWKS cannot be fetched); neither the token nor its claims are echoed.
 */
import { timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { isLoopbackHost } from './loopback';

export const TEMPORAL_CLOUD_JWKS_URL = 'https://login.tmprl.cloud/.well-known/jwks.json';
export const TEMPORAL_CLOUD_AUDIENCE = 'https://saas-api.tmprl.cloud';
export const TEMPORAL_CLOUD_EMAIL_CLAIM = 'https://saas-api.tmprl.cloud/user/email';
const DEFAULT_EMAIL_CLAIMS = [TEMPORAL_CLOUD_EMAIL_CLAIM, 'email'];
/** Asymmetric only: a JWKS publishes public keys; `none` and HMAC are refused. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const CLOCK_TOLERANCE_SECONDS = 10;

/** A codec server authorization setting it refuses to start with (one line, naming the variable). */
export class CodecAuthConfigError extends Error {
  override name = 'CodecAuthConfigError';
}

export interface JwtAuthSettings {
  /** The JWKS that signs the tokens (https, or http to a loopback host). */
  jwksUrl: string;
  /** The token's `iss` must be this. */
  issuer?: string;
  /** One of these must be in the token's `aud`. */
  audience?: string[];
  /** Lower-case emails, or `@domain`; the token's email must match one. */
  allowedEmails?: string[];
  /** Claims holding the user's email, first present wins. */
  emailClaims: string[];
  /** A claim that must grant the request's namespace. */
  namespaceClaim?: string;
}

export interface CodecAuthSettings {
  /** Static bearer token. */
  token?: string;
  /** JWTs checked against a JWKS. */
  jwt?: JwtAuthSettings;
  /** `X-Namespace` values answered (any mode). */
  namespaces?: string[];
}

export type AuthDecision =
  | { ok: true; /** Who, for the log: `token`, the JWT's subject, or `-`. */ by: string }
  | {
      ok: false;
      status: 401 | 403 | 503;
      /** Short, for the caller and the log. */ reason: string;
      /** More, for the log only. */ detail?: string;
    };

// ---------------------------------------------------------------------------------------------
// Settings from the environment

const blankIsUnset = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const split = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankIsUnset, schema.optional());

const jwksUrlSchema = z
  .string()
  .trim()
  .superRefine((s, ctx) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${s}" is not a URL` });
      return;
    }
    if (!(url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))))
      ctx.addIssue({ code: 'custom', message: 'must be an https URL (http only to a loopback host)' });
  });
const emailEntry = z
  .string()
  .regex(/^[^@\s]*@[^@\s]+\.[^@\s]+$/, 'is not an email or @domain')
  .transform((s) => s.toLowerCase());
const listOf = (item: z.ZodType<string, string>, what: string) =>
  z.string().transform((s, ctx) => {
    const items = split(s);
    if (items.length === 0) {
      ctx.addIssue({ code: 'custom', message: `lists no ${what}` });
      return z.NEVER;
    }
    const out: string[] = [];
    for (const i of items) {
      const r = item.safeParse(i);
      if (!r.success) {
        ctx.addIssue({ code: 'custom', message: `"${i}" ${r.error.issues[0]?.message ?? 'is not valid'}` });
        return z.NEVER;
      }
      out.push(r.data);
    }
    return out;
  });
const namespaceName = z.string().regex(/^[A-Za-z0-9._-]{1,255}$/, 'is not a namespace name');
const claimName = z.string().trim().min(1).max(200);

const envSchema = z
  .object({
    CDC_CODEC_TOKEN: optional(z.string()),
    CDC_CODEC_JWKS_URL: optional(jwksUrlSchema),
    CDC_CODEC_JWT_ISSUER: optional(z.string().trim()),
    CDC_CODEC_JWT_AUDIENCE: optional(listOf(z.string(), 'audience')),
    CDC_CODEC_JWT_ALLOWED_EMAILS: optional(listOf(emailEntry, 'email')),
    CDC_CODEC_JWT_EMAIL_CLAIM: optional(claimName),
    CDC_CODEC_JWT_NAMESPACE_CLAIM: optional(claimName),
    CDC_CODEC_NAMESPACES: optional(listOf(namespaceName, 'namespace')),
  })
  .superRefine((env, ctx) => {
    if (env.CDC_CODEC_JWKS_URL === undefined) {
      for (const k of [
        'CDC_CODEC_JWT_ISSUER',
        'CDC_CODEC_JWT_AUDIENCE',
        'CDC_CODEC_JWT_ALLOWED_EMAILS',
        'CDC_CODEC_JWT_EMAIL_CLAIM',
        'CDC_CODEC_JWT_NAMESPACE_CLAIM',
      ] as const)
        if (env[k] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: 'needs CDC_CODEC_JWKS_URL (the JWT settings check tokens signed by a key of a JWKS)',
          });
    } else if (
      isTemporalCloudJwks(env.CDC_CODEC_JWKS_URL) &&
      env.CDC_CODEC_JWT_ALLOWED_EMAILS === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['CDC_CODEC_JWT_ALLOWED_EMAILS'],
        message:
          "required with Temporal Cloud's JWKS (it signs a token for every Temporal Cloud user, of any account): " +
          'list the emails (or @domains) of the operators who may decode',
      });
    }
  });

const isTemporalCloudJwks = (url: string) => {
  try {
    return new URL(url).hostname.toLowerCase() === 'login.tmprl.cloud';
  } catch {
    return false;
  }
};

/** The codec server's authorization settings from the environment; throws a one-line `CodecAuthConfigError`. */
export function codecAuthSettings(env: NodeJS.ProcessEnv = process.env): CodecAuthSettings {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new CodecAuthConfigError(`codec server: ${at}${issue.message}`.replace(/\s*\n\s*/g, ' '));
  }
  const e = parsed.data;
  const settings: CodecAuthSettings = {};
  if (e.CDC_CODEC_TOKEN !== undefined) settings.token = e.CDC_CODEC_TOKEN;
  if (e.CDC_CODEC_JWKS_URL !== undefined) {
    const audience =
      e.CDC_CODEC_JWT_AUDIENCE ??
      (isTemporalCloudJwks(e.CDC_CODEC_JWKS_URL) ? [TEMPORAL_CLOUD_AUDIENCE] : undefined);
    settings.jwt = {
      jwksUrl: e.CDC_CODEC_JWKS_URL,
      ...(e.CDC_CODEC_JWT_ISSUER !== undefined ? { issuer: e.CDC_CODEC_JWT_ISSUER } : {}),
      ...(audience ? { audience } : {}),
      ...(e.CDC_CODEC_JWT_ALLOWED_EMAILS ? { allowedEmails: e.CDC_CODEC_JWT_ALLOWED_EMAILS } : {}),
      emailClaims: e.CDC_CODEC_JWT_EMAIL_CLAIM ? [e.CDC_CODEC_JWT_EMAIL_CLAIM] : [...DEFAULT_EMAIL_CLAIMS],
      ...(e.CDC_CODEC_JWT_NAMESPACE_CLAIM ? { namespaceClaim: e.CDC_CODEC_JWT_NAMESPACE_CLAIM } : {}),
    };
  }
  if (e.CDC_CODEC_NAMESPACES) settings.namespaces = e.CDC_CODEC_NAMESPACES;
  return settings;
}

const jwksDocument = z.object({ keys: z.array(z.object({ kty: z.string() }).loose()) }).loose();

/**
 * Fetches the JWKS once, for the start-up log: how many keys it has, or why it cannot be used
 * (the server still starts; requests get 503 until the JWKS answers).
 */
export async function probeJwks(
  url: string,
  timeoutMs = 5_000,
): Promise<{ keys: number } | { error: string }> {
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { Accept: 'application/json' },
    });
    if (!res.ok) return { error: `HTTP ${res.status}` };
    const parsed = jwksDocument.safeParse(await res.json());
    if (!parsed.success) return { error: 'not a JWKS ({"keys":[…]})' };
    return { keys: parsed.data.keys.length };
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const why = [cause?.code, cause?.message].find((v) => typeof v === 'string' && v !== '');
    return { error: typeof why === 'string' ? why : err instanceof Error ? err.message : String(err) };
  }
}

/** One line for the start-up log: which checks run (no secrets). */
export function describeCodecAuth(s: CodecAuthSettings): string {
  const modes: string[] = [];
  if (s.token) modes.push('static token');
  if (s.jwt) {
    const checks = [
      s.jwt.issuer ? `issuer ${s.jwt.issuer}` : undefined,
      s.jwt.audience ? `audience ${s.jwt.audience.join('|')}` : undefined,
      s.jwt.allowedEmails ? `${s.jwt.allowedEmails.length} allowed email(s)/domain(s)` : undefined,
      s.jwt.namespaceClaim ? `namespace claim ${s.jwt.namespaceClaim}` : undefined,
    ].filter(Boolean);
    modes.push(`JWT (JWKS ${s.jwt.jwksUrl}${checks.length ? `; ${checks.join(', ')}` : ''})`);
  }
  const ns = s.namespaces ? `; namespaces ${s.namespaces.join(', ')}` : '';
  return `${modes.length ? modes.join(' or ') : 'none'}${ns}`;
}

// ---------------------------------------------------------------------------------------------
// Pure checks

/** Whether `email` (a claim's value) is one of `allowed` (lower-case emails or `@domain`s). */
export function emailAllowed(email: unknown, allowed: readonly string[]): boolean {
  if (typeof email !== 'string') return false;
  const e = email.trim().toLowerCase();
  const at = e.lastIndexOf('@');
  if (at <= 0) return false;
  const domain = e.slice(at);
  return allowed.some((a) => (a.startsWith('@') ? a === domain : a === e));
}

/** Whether a claim's value grants `namespace`: the name itself or `<namespace>:<role>`, in a list or a space-separated string. */
export function namespaceGranted(claim: unknown, namespace: string | undefined): boolean {
  if (!namespace) return false;
  const entries = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) ? claim : [];
  return entries.some((v) => typeof v === 'string' && (v === namespace || v.startsWith(`${namespace}:`)));
}

function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}

function tokenMatches(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const refuse = (status: 401 | 403 | 503, reason: string, detail?: string): AuthDecision => ({
  ok: false,
  status,
  reason,
  ...(detail ? { detail } : {}),
});

/** A jose (or network) error as a refusal: what was wrong with the token, or a JWKS that cannot be fetched. */
export function jwtRefusal(err: unknown): AuthDecision {
  const e = err as { code?: unknown; claim?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return refuse(401, 'token expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'iss') return refuse(401, 'token issuer not accepted');
      if (e.claim === 'aud') return refuse(401, 'token audience not accepted');
      if (e.claim === 'nbf' || e.claim === 'iat') return refuse(401, 'token not valid yet');
      if (e.claim === 'exp') return refuse(401, 'token without a valid expiry');
      return refuse(401, 'token claim not accepted', message);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return refuse(401, 'token signature not verified by the JWKS');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return refuse(401, 'no key of the JWKS matches the token');
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return refuse(401, 'several keys of the JWKS match the token');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return refuse(401, 'token algorithm not accepted');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return refuse(401, 'malformed token');
    default:
      // ERR_JWKS_TIMEOUT, ERR_JWKS_INVALID, a non-200 answer, a connection error: not the caller's fault.
      return refuse(503, 'cannot check tokens: the JWKS is unavailable', message);
  }
}

/** The subject, for the log: printable, at most 64 characters. */
const subjectOf = (p: JWTPayload) =>
  typeof p.sub === 'string' && p.sub ? p.sub.replace(/[^\x21-\x7e]/g, '?').slice(0, 64) : 'jwt';

/**
 * The check a request passes before the codec runs. `authorization` is the request's
 * Authorization header, `namespace` its X-Namespace. With neither a token nor a JWKS every
 * request passes (the server keeps that to loopback).
 */
export function createCodecAuthorizer(
  s: CodecAuthSettings,
): (req: { authorization?: string; namespace?: string }) => Promise<AuthDecision> {
  const token = s.token || undefined;
  const jwt = s.jwt;
  const keys = jwt
    ? createRemoteJWKSet(new URL(jwt.jwksUrl), {
        timeoutDuration: 5_000,
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
      })
    : undefined;

  const checkNamespace = (namespace: string | undefined): AuthDecision | undefined =>
    s.namespaces && !(namespace && s.namespaces.includes(namespace))
      ? refuse(403, 'namespace not served by this codec server')
      : undefined;

  return async ({ authorization, namespace }) => {
    if (!token && !jwt) return checkNamespace(namespace) ?? { ok: true, by: '-' };
    const bearer = bearerOf(authorization);
    if (!bearer) return refuse(401, 'missing bearer token');
    if (token && tokenMatches(bearer, token)) return checkNamespace(namespace) ?? { ok: true, by: 'token' };
    if (!jwt || !keys) return refuse(401, 'wrong bearer token');
    if (token && bearer.split('.').length !== 3) return refuse(401, 'wrong bearer token');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(bearer, keys, {
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        ...(jwt.issuer !== undefined ? { issuer: jwt.issuer } : {}),
        ...(jwt.audience ? { audience: jwt.audience } : {}),
      }));
    } catch (err) {
      return jwtRefusal(err);
    }
    const by = subjectOf(payload);
    if (jwt.allowedEmails) {
      const claim = jwt.emailClaims.find((c) => payload[c] !== undefined);
      if (!emailAllowed(claim === undefined ? undefined : payload[claim], jwt.allowedEmails))
        return refuse(403, 'user not allowed to decode', `sub=${by}`);
    }
    if (jwt.namespaceClaim && !namespaceGranted(payload[jwt.namespaceClaim], namespace))
      return refuse(403, 'token does not grant this namespace', `sub=${by}`);
    return checkNamespace(namespace) ?? { ok: true, by };
  };
}
