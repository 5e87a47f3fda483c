/**
 * Where the scripts connect: the one decision every script makes before it reads configuration.
 *
 * The AWS SDK, `pg` and Temporal read their standard variables themselves (README,
 * "Configuration"). For each of the three, separately:
 * - set by the user: respected, nothing is added (PGHOST/PGPORT/PGHOSTADDR/PGSERVICE;
 *   AWS_ENDPOINT_URL[_<SERVICE>], AWS_PROFILE, AWS_ACCESS_KEY_ID or another credential source,
 *   i.e. real AWS; TEMPORAL_ADDRESS or a temporal.toml profile). `CDC_USE_AWS=true` says "real
 *   AWS through the default credential chain" when no variable does (an instance role);
 * - otherwise, when the local stack runs: its values, filled into the variables still unset;
 * - otherwise: the libraries' defaults (real AWS, PostgreSQL on localhost:5432, Temporal on
 *   localhost:7233).
 * Jobs that run on the local stack by design (`npm start`, the benchmark) start it and fill
 * every unset variable with its values.
 *
 * Temporal payloads are encrypted (infra/codec): when Temporal goes to the local stack and neither
 * CDC_PAYLOAD_KEYS nor CDC_PAYLOAD_KEY_FILE is set, CDC_PAYLOAD_KEY_FILE is filled with the local
 * stack's key file (created on first use). Elsewhere a missing key is a start-up error.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { PAYLOAD_KEY_FILE_VAR, PAYLOAD_KEYS_VAR } from '../codec/keyring';
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

export interface DependencyChoice {
  dependency: Dependency;
  /** `user`: the variables already set; `local-stack`: the local stack's; `default`: the libraries' defaults. */
  source: 'user' | 'local-stack' | 'default';
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
      const names = [
        ...Object.keys(env).filter((n) => /^AWS_ENDPOINT_URL(_[A-Z0-9_]+)?$/.test(n) && isSet(env, n)),
        ...AWS_CREDENTIALS.filter((n) => isSet(env, n)),
      ];
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
  const warnings: string[] = [];
  const choices = DEPENDENCIES.map((dependency): DependencyChoice => {
    if (localStack === 'always') return { dependency, source: 'local-stack', reason: 'the local stack' };
    const set = userSettings(env, dependency);
    if (set.length) {
      const realAws = dependency === 'aws' && !set.some((n) => n.startsWith('AWS_ENDPOINT_URL'));
      const yours = `your ${set.join(', ')}`;
      return { dependency, source: 'user', reason: realAws ? `real AWS (${yours})` : yours };
    }
    const services = SERVICES[dependency];
    const up = services.filter((s) => running.has(s));
    if (!up.length)
      return {
        dependency,
        source: 'default',
        reason: `defaults (${dependency === 'aws' ? 'real AWS' : dependency === 'postgres' ? 'localhost:5432' : 'localhost:7233'}; local stack not running)`,
      };
    const down = services.filter((s) => !running.has(s));
    if (down.length)
      warnings.push(`local stack: ${down.join(', ')} not running (start it: npm run stack up)`);
    return { dependency, source: 'local-stack', reason: 'the local stack' };
  });
  const local = new Set(choices.filter((c) => c.source === 'local-stack').map((c) => c.dependency));
  const fill: Record<string, string> = {};
  for (const [name, value] of Object.entries(localStackEnv())) {
    if (isSet(env, name)) continue;
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
  const wanted = DEPENDENCIES.filter((d) => userSettings(env, d).length === 0).flatMap((d) => SERVICES[d]);
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
  if (opts.summary !== false) log(`environment: ${choice.summary}`);
  for (const w of choice.warnings) log(w);
  return choice;
}
