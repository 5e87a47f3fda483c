import assert from 'node:assert/strict';
import { outdatedChanges } from '../../../domain/processing/outdated';

describe('outdatedChanges: a change older than what the sink held is not news', () => {
  it('in order, nothing held: every change is news', () => {
    assert.deepEqual(outdatedChanges(['a1', 'a2', 'a3'], undefined), [false, false, false]);
  });

  it('newer first: the older change after it is outdated', () => {
    assert.deepEqual(outdatedChanges(['a5', 'a3'], undefined), [false, true]);
  });

  it('everything older than the version held elsewhere is outdated', () => {
    assert.deepEqual(outdatedChanges(['a3', 'a5'], 'a4'), [true, false]);
    assert.deepEqual(outdatedChanges(['a1', 'a2'], 'a9'), [true, true]);
  });

  it('the same version as held is news again (a retry after a failed publish)', () => {
    assert.deepEqual(outdatedChanges(['a4'], 'a4'), [false]);
  });

  it('a retried batch that wrote its newest change before publishes all of it again, in order', () => {
    assert.deepEqual(outdatedChanges(['a3', 'a5'], 'a5'), [false, false]);
    // …but still not a change that came after a newer one within the batch
    assert.deepEqual(outdatedChanges(['a5', 'a3'], 'a5'), [false, true]);
  });

  it('a held version older than every change says nothing', () => {
    assert.deepEqual(outdatedChanges(['b1', 'b2'], 'a9'), [false, false]);
  });
});
