import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/** The Temporal SDK runtime of a test process, once: quiet unless CDC_TEST_LOG_LEVEL says otherwise. */
export function installTestRuntime(): void {
  if (installed) return;
  Runtime.install({
    logger: new DefaultLogger((process.env.CDC_TEST_LOG_LEVEL as 'WARN' | undefined) ?? 'ERROR'),
    telemetryOptions: { logging: { forward: {}, filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  installed = true;
}
