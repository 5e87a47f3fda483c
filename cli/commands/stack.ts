/**
 * `cdc stack up|down|status|logs`: the local stack (infra/localStack/localStack.ts, what `npm run stack`
 * does). It needs no connection: it starts, stops and looks at the local services themselves.
 */
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { chooseEnvironment } from '../../infra/localStack/environment';
import {
  codecEndpoint,
  logFile,
  PORTS,
  SERVICE_NAMES,
  serviceStatus,
  serviceUp,
  stackDown,
  stackUp,
  tail,
  type ServiceName,
} from '../../infra/localStack/localStack';
import { LinesSchema } from '../args';
import { table } from '../output';
import { EXIT, parseArg, zodParser, type Cli, type RegisterCommands } from '../runtime';

const ServiceSchema = z.enum(SERVICE_NAMES, { message: `must be one of ${SERVICE_NAMES.join(', ')}` });
const services = (names: string[]): ServiceName[] => names.map((n) => parseArg(ServiceSchema, n, 'service'));

export const registerStack: RegisterCommands = (program: Command, cli: Cli) => {
  const stack = program
    .command('stack')
    .description(`the local stack (${SERVICE_NAMES.join(', ')}): start, stop, health, logs`)
    .addHelpText(
      'after',
      `
Service data lives in .stack/. Exit codes: 0 ok, 4 (status) a service stopped or unhealthy, 2 usage, 1 error.

Examples:
  cdc stack up
  cdc stack status --json
  cdc stack logs temporal -n 100
  cdc stack down moto`,
    );

  stack
    .command('up')
    .description('start every service that is not running (or only the ones named) and wait until healthy')
    .argument('[service...]', `services to start (default: all): ${SERVICE_NAMES.join(', ')}`)
    .action(async (names: string[]) => {
      const only = services(names);
      const log: string[] = [];
      const line = (l: string) => {
        log.push(l);
        cli.out.info(l);
      };
      if (only.length) for (const n of only) await serviceUp(n).then(() => line(`${n.padEnd(9)} running`));
      else await stackUp(line);
      cli.out.result(
        {
          ok: true,
          started: only.length ? only : [...SERVICE_NAMES],
          webUi: `http://127.0.0.1:${PORTS.temporalUi}`,
          codec: codecEndpoint(),
          log,
        },
        () => `Temporal Web UI: http://127.0.0.1:${PORTS.temporalUi}\nCodec server:    ${codecEndpoint()}`,
      );
    });

  stack
    .command('down')
    .description('stop every service (or only the ones named); their data stays in .stack/')
    .argument('[service...]', `services to stop (default: all): ${SERVICE_NAMES.join(', ')}`)
    .action(async (names: string[]) => {
      const only = services(names);
      const stopped: string[] = [];
      await stackDown(
        (l) => {
          stopped.push(l.replace(/ stopped$/, ''));
          cli.out.info(l);
        },
        only.length ? only : undefined,
      );
      cli.out.result({ ok: true, stopped }, () => (stopped.length ? 'stopped' : 'nothing was running'));
    });

  stack
    .command('status')
    .description(
      'health, pid and ports of each service, and where cdc (and the npm scripts) connect from this shell',
    )
    .action(async () => {
      const statuses = await Promise.all(SERVICE_NAMES.map((n) => serviceStatus(n)));
      const running = new Set(statuses.filter((s) => s.healthy).map((s) => s.name));
      const connect = chooseEnvironment(process.env, running).summary;
      const rows = statuses.map((s) => ({
        service: s.name,
        state: s.healthy ? 'healthy' : s.pid ? 'unhealthy' : 'stopped',
        pid: s.pid ?? null,
        ports: s.ports,
        ...(s.outdated ? { outdated: s.outdated } : {}),
      }));
      cli.out.result({ services: rows, connectsTo: connect }, () =>
        [
          table(
            ['SERVICE', 'STATE', 'PID', 'PORTS', 'NOTE'],
            rows.map((r) => [
              r.service,
              r.state,
              r.pid,
              r.ports.join(','),
              r.outdated ? `outdated: ${r.outdated} (cdc stack up restarts it)` : undefined,
            ]),
          ),
          `connects to: ${connect}`,
        ].join('\n'),
      );
      if (statuses.some((s) => !s.healthy || s.outdated)) cli.setExit(EXIT.UNHEALTHY);
    });

  stack
    .command('logs')
    .description("the last lines of a service's log (default: every service)")
    .argument('[service]', `one of ${SERVICE_NAMES.join(', ')}`)
    .addOption(
      new Option('-n, --lines <n>', 'lines per service').argParser(zodParser(LinesSchema)).default(40),
    )
    .action((name: string | undefined, opts: { lines: number }) => {
      const names = name ? services([name]) : [...SERVICE_NAMES];
      const logs = names.map((n) => ({ service: n, file: logFile(n), tail: tail(logFile(n), opts.lines) }));
      cli.out.result({ logs }, () => logs.map((l) => `==> ${l.service} (${l.file})\n${l.tail}`).join('\n'));
    });
};
