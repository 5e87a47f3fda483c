/**
 * Where the scripts connect: the one decision every script makes before it reads configuration.
 *
 * The target is explicit: a command reaches a real AWS account only when told to, never because
 * credentials sit in the shell. `CDC_TARGET` (`cdc --target`) says it for all three at once:
 * - `local`: PostgreSQL, AWS and Temporal of the local stack, whatever the shell holds (its values
 *   replace the shell's);
 * - `aws`: the standard variables and default chains as they are (real AWS, your PostgreSQL, your
 *   Temporal namespace); nothing is added.
 * Unset, each dependency separately:
 * - endpoints the user set explicitly are used as they are (PGHOST/PGPORT/PGHOSTADDR/PGSERVICE;
 *   AWS_ENDPOINT_URL[_<SERVICE>]; TEMPORAL_ADDRESS or a temporal.toml profile). `CDC_USE_AWS=true`
 *   says "real AWS through the default credential chain" (an instance role), like `CDC_TARGET=aws`
 *   for AWS alone. AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, …) choose nothing;
 * - otherwise, when the local stack runs: its values, filled into the variables still unset;
 * - otherwise PostgreSQL and Temporal take the libraries' defaults (localhost:5432, localhost:7233),
 *   and AWS has no target: creating an AWS client fails, naming the settings that give it one
 *   (infra/awsTarget.ts).
 * Jobs that run on the local stack by design (`npm start`, the benchmark) start it and fill
 * every unset variable with its values.
 *
 * Temporal payloads are encrypted (infra/codec): when Temporal goes to the local stack and neither
 * CDC_PAYLOAD_KEYS nor CDC_PAYLOAD_KEY_FILE is set, CDC_PAYLOAD_KEY_FILE is filled with the local
 * stack's key file (created on first use). Elsewhere a missing key is a start-up error.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { PAYLOAD_KEY_FILE_VAR, PAYLOAD_KEYS_VAR } from '../codec/keyring';
import { ConfigurationError } from '../../domain/core/errors';
import {
  ensureLocalPayloadKeys,
  localStackEnv,
  PORTS,
  serviceStatus,
  stackUp,
  type ServiceName,
} from './localStack';

export type Dependency = 'postgres' | 'aws' | 'temporal';
export const DEPENDENCIES: readonly Dependency[] = ['postgres', 'aws', 'temporal'];

/** The local stack's services behind each dependency. */
const SERVICES: Record<Dependency, readonly ServiceName[]> = {
  postgres: ['postgres'],
  aws: ['kinesis', 'dynamodb', 'moto'],
  temporal: ['temporal', 'codec'],
};

const LABEL: Record<Dependency, string> = { postgres: 'PostgreSQL', aws: 'AWS', temporal: 'Temporal' };

/** `cdc --target` / CDC_TARGET: where every command goes, said explicitly. */
export type Target = 'local' | 'aws';
export const TARGET_VAR = 'CDC_TARGET';
export const TARGETS: readonly Target[] = ['local', 'aws'];

/** CDC_TARGET, checked: undefined when unset. */
export function targetOf(env: NodeJS.ProcessEnv): Target | undefined {
  const t = env[TARGET_VAR] ?? '';
  if (t === '') return undefined;
  if ((TARGETS as readonly string[]).includes(t)) return t as Target;
  throw new ConfigurationError(`${TARGET_VAR} must be one of ${TARGETS.join(', ')} (got '${t}')`);
}

export interface DependencyChoice {
  dependency: Dependency;
  /**
   * `user`: the variables already set; `local-stack`: the local stack's; `default`: the libraries'
   * defaults (PostgreSQL, Temporal); `none`: no target (AWS with nothing saying where).
   */
  source: 'user' | 'local-stack' | 'default' | 'none';
  /** Why, for the one-line summary. */
  reason: string;
}

export interface EnvironmentChoice {
  choices: DependencyChoice[];
  /** The variables to set (only ones that are unset). */
  fill: Record<string, string>;
  /** Warnings, e.g. a service of the local stack that is not running. */
  warnings: string[];
  /** One line: where each dependency goes, e.g. `PostgreSQL → local stack (127.0.0.1:15432); AWS → …`. */
  summary: string;
}

const PG_LOCATION = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGSERVICE'];
const AWS_CREDENTIALS = [
  'AWS_PROFILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
];

const isSet = (env: NodeJS.ProcessEnv, name: string) => (env[name] ?? '') !== '';

/** Which variables of the user's environment choose `dependency`'s target (empty: none). */
export function userSettings(env: NodeJS.ProcessEnv, dependency: Dependency): string[] {
  switch (dependency) {
    case 'postgres':
      return PG_LOCATION.filter((n) => isSet(env, n));
    case 'aws': {
      // Credentials choose nothing: only endpoints, or CDC_USE_AWS=true, say where to go.
      const names = Object.keys(env).filter(
        (n) => /^AWS_ENDPOINT_URL(_[A-Z0-9_]+)?$/.test(n) && isSet(env, n),
      );
      if (env.CDC_USE_AWS === 'true') names.push('CDC_USE_AWS');
      return names.sort();
    }
    case 'temporal': {
      const names = ['TEMPORAL_ADDRESS', 'TEMPORAL_PROFILE', 'TEMPORAL_CONFIG_FILE'].filter((n) =>
        isSet(env, n),
      );
      if (names.length) return names;
      try {
        // A temporal.toml profile with an address counts as the user's choice too.
        return loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> }).connectionOptions
          .address
          ? ['temporal.toml']
          : [];
      } catch {
        return ['temporal.toml']; // unreadable: let the client report it
      }
    }
  }
}

/** The local stack's variable for a dependency (the rest, e.g. SDK warnings, go with every choice). */
function dependencyOf(name: string): Dependency | undefined {
  if (/^AWS_SDK_JS_/.test(name)) return undefined;
  if (name.startsWith('PG')) return 'postgres';
  if (name.startsWith('AWS_')) return 'aws';
  if (name.startsWith('TEMPORAL_')) return 'temporal';
  if (name === PAYLOAD_KEY_FILE_VAR) return 'temporal'; // the keys of the local stack's histories
  return undefined;
}

/**
 * The decision, without side effects: `running` says which of the local stack's services run;
 * with `localStack: 'always'` every dependency goes to the local stack (variables already set win).
 */
export function chooseEnvironment(
  env: NodeJS.ProcessEnv,
  running: ReadonlySet<ServiceName>,
  localStack: 'if-running' | 'always' = 'if-running',
): EnvironmentChoice {
  const target = targetOf(env);
  const warnings: string[] = [];
  // Credentials in the shell, but not the local stack's own dummy ones (`test`): those say nothing.
  const stackValues = localStackEnv();
  const credentials = AWS_CREDENTIALS.filter((n) => isSet(env, n) && env[n] !== stackValues[n]);
  const choices = DEPENDENCIES.map((dependency): DependencyChoice => {
    if (target === 'local')
      return { dependency, source: 'local-stack', reason: `the local stack (${TARGET_VAR}=local)` };
    if (localStack === 'always') return { dependency, source: 'local-stack', reason: 'the local stack' };
    if (target === 'aws') {
      const set = [...userSettings(env, dependency), ...(dependency === 'aws' ? credentials : [])];
      const yours = set.length ? `your ${set.join(', ')}` : '';
      const what = dependency === 'aws' ? `real AWS${yours ? ` (${yours})` : ''}` : yours || 'defaults';
      return { dependency, source: 'user', reason: `${what}, ${TARGET_VAR}=aws` };
    }
    const set = userSettings(env, dependency);
    if (set.length) {
      const realAws = dependency === 'aws' && !set.some((n) => n.startsWith('AWS_ENDPOINT_URL'));
      const yours = `your ${[...set, ...(realAws ? credentials : [])].join(', ')}`;
      return { dependency, source: 'user', reason: realAws ? `real AWS (${yours})` : yours };
    }
    const services = SERVICES[dependency];
    const up = services.filter((s) => running.has(s));
    if (!up.length) {
      if (dependency === 'aws')
        return {
          dependency,
          source: 'none',
          reason:
            `no target (local stack not running${credentials.length ? `; your ${credentials.join(', ')} choose nothing` : ''}: ` +
            `start it with npm run stack up, or say --target aws / ${TARGET_VAR}=aws for real AWS)`,
        };
      return {
        dependency,
        source: 'default',
        reason: `defaults (${dependency === 'postgres' ? 'localhost:5432' : 'localhost:7233'}; local stack not running)`,
      };
    }
    const down = services.filter((s) => !running.has(s));
    if (down.length)
      warnings.push(`local stack: ${down.join(', ')} not running (start it: npm run stack up)`);
    if (dependency === 'aws' && credentials.length)
      warnings.push(
        `AWS: your ${credentials.join(', ')} choose nothing: this goes to the local stack (for real AWS: --target aws or ${TARGET_VAR}=aws)`,
      );
    return { dependency, source: 'local-stack', reason: 'the local stack' };
  });
  const local = new Set(choices.filter((c) => c.source === 'local-stack').map((c) => c.dependency));
  const fill: Record<string, string> = {};
  for (const [name, value] of Object.entries(localStackEnv())) {
    // CDC_TARGET=local: the local stack's values replace the shell's.
    if (isSet(env, name) && target !== 'local') continue;
    if (name === PAYLOAD_KEY_FILE_VAR && isSet(env, PAYLOAD_KEYS_VAR)) continue; // keys of the user's own
    const dependency = dependencyOf(name);
    if (dependency === undefined || local.has(dependency)) fill[name] = value;
  }
  const where = (c: DependencyChoice) => {
    if (c.source !== 'local-stack') return c.reason;
    if (c.dependency === 'postgres') return `local stack (127.0.0.1:${PORTS.postgres})`;
    if (c.dependency === 'temporal') return `local stack (127.0.0.1:${PORTS.temporal})`;
    return 'local stack (emulators)';
  };
  const summary = choices.map((c) => `${LABEL[c.dependency]} → ${where(c)}`).join('; ');
  return { choices, fill, warnings, summary };
}

/** Which services of the local stack run (only those of dependencies the user left unset are checked). */
async function runningServices(env: NodeJS.ProcessEnv): Promise<Set<ServiceName>> {
  const local = targetOf(env) === 'local';
  const wanted = DEPENDENCIES.filter((d) => local || userSettings(env, d).length === 0).flatMap(
    (d) => SERVICES[d],
  );
  const status = await Promise.all(wanted.map((s) => serviceStatus(s)));
  return new Set(status.filter((s) => s.healthy).map((s) => s.name));
}

export interface UseEnvironmentOptions {
  /**
   * `if-running` (default): the user's variables, else the local stack when it runs.
   * `start`: start the local stack (for jobs that run on it by design) and use it.
   */
  localStack?: 'if-running' | 'start';
  /** Where the summary and warnings go (default: stderr). */
  log?: (line: string) => void;
  /** Print the one-line summary (default true; warnings are always printed). */
  summary?: boolean;
  /** With `start`: progress of the services starting. */
  stackLog?: (line: string) => void;
}

/** Decides where this process connects and sets the variables accordingly (only unset ones). */
export async function useEnvironment(opts: UseEnvironmentOptions = {}): Promise<EnvironmentChoice> {
  const log = opts.log ?? ((line: string) => console.error(line));
  let choice: EnvironmentChoice;
  if (opts.localStack === 'start') {
    await stackUp(opts.stackLog);
    choice = chooseEnvironment(process.env, new Set(), 'always');
  } else {
    choice = chooseEnvironment(process.env, await runningServices(process.env));
  }
  if (choice.fill[PAYLOAD_KEY_FILE_VAR]) ensureLocalPayloadKeys();
  for (const [name, value] of Object.entries(choice.fill)) process.env[name] = value;
  // With CDC_TARGET=local the shell's AWS profile must not lend its credentials to the emulators' calls.
  if (targetOf(process.env) === 'local') delete process.env.AWS_PROFILE;
  if (opts.summary !== false) log(`environment: ${choice.summary}`);
  for (const w of choice.warnings) log(w);
  return choice;
}
