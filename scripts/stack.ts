/** Local stack manager: `tsx scripts/stack.ts up|down|status|logs [service] [lines]`. */
import {
  SERVICE_NAMES,
  ServiceName,
  StackError,
  logFile,
  serviceStatus,
  stackDown,
  stackUp,
  tail,
  PORTS,
  codecEndpoint,
} from '../infra/localStack/localStack';
import { chooseEnvironment } from '../infra/localStack/environment';

async function main(): Promise<void> {
  const [cmd = 'status', arg, lines] = process.argv.slice(2);
  switch (cmd) {
    case 'up':
      await stackUp((l) => console.log(l));
      console.log(`Temporal Web UI: http://127.0.0.1:${PORTS.temporalUi}`);
      console.log(
        `Codec server:    ${codecEndpoint()} (the Web UI decodes through it; CLI: temporal workflow show --codec-endpoint ${codecEndpoint()} …)`,
      );
      return;
    case 'down':
      await stackDown((l) => console.log(l));
      return;
    case 'status': {
      let allHealthy = true;
      const running = new Set<ServiceName>();
      for (const n of SERVICE_NAMES) {
        const s = await serviceStatus(n);
        allHealthy &&= s.healthy && !s.outdated;
        if (s.healthy) running.add(n);
        console.log(
          `${n.padEnd(9)} ${s.healthy ? 'healthy' : s.pid ? 'unhealthy' : 'stopped'}  pid=${s.pid ?? '-'}  ports=${s.ports.join(',')}` +
            (s.outdated ? `  outdated: ${s.outdated} (npm run stack up restarts it)` : ''),
        );
      }
      // Where provision, pipeline:start and inspect connect from this shell (infra/localStack/environment.ts).
      console.log(`scripts connect to: ${chooseEnvironment(process.env, running).summary}`);
      process.exitCode = allHealthy ? 0 : 1;
      return;
    }
    case 'logs': {
      const names = arg ? [arg] : [...SERVICE_NAMES];
      for (const n of names) {
        if (!(SERVICE_NAMES as readonly string[]).includes(n))
          throw new StackError(`unknown service '${n}' (one of ${SERVICE_NAMES.join(', ')})`);
        console.log(
          `==> ${n} (${logFile(n as ServiceName)})\n${tail(logFile(n as ServiceName), Number(lines ?? 40))}`,
        );
      }
      return;
    }
    default:
      throw new StackError(`usage: stack up|down|status|logs [service] [lines]`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof StackError ? `stack: ${err.message}` : err);
  process.exit(1);
});
