import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

/**
 * Replays recorded histories of every workflow type against the current workflow code: a
 * change that breaks determinism fails here. Re-record after an intended, versioned change
 * with `CDC_RECORD_HISTORIES=test/replay/histories npm run test:integration` (the reservation-expiry
 * workflow's comes from its workflow test: `CDC_RECORD_HISTORIES=test/replay/histories npx mocha
 * test/unit/workflows/reservationExpiry.test.ts`, and the shard reader's by reference with chains,
 * `shardReaderWorkflow.local-chains.json`, from `test/unit/workflows/shardReader.test.ts`).
 */
describe('workflow replay over recorded histories', function () {
  this.timeout(120_000);
  const dir = join(__dirname, '..', 'replay', 'histories');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

  it('has a recorded history for each long-running workflow type', () => {
    // `<type>.json`, and `<type>.<variant>.json` for a later shape of the same type.
    assert.deepEqual([...new Set(files.map((f) => f.split('.')[0]))].sort(), [
      'captureWorkflow',
      'reservationExpiryWorkflow',
      'shardReaderWorkflow',
      'streamSupervisorWorkflow',
    ]);
  });

  for (const file of files) {
    it(`replays ${file} deterministically`, async () => {
      const history = temporal.api.history.v1.History.fromObject(
        JSON.parse(readFileSync(join(dir, file), 'utf8')),
      );
      const workflowId = file.replace('.json', '');
      await Worker.runReplayHistory(
        { workflowsPath: require.resolve('../../workflows') },
        history,
        workflowId,
      );
    });
  }
});
