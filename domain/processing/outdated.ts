/**
 * Which changes of one key are news: a change strictly older than what the sink already held, or
 * than a change of the same key earlier in the batch, is outdated (a replayed or out-of-order
 * record). The sink's guard refuses to write it and consumers must not hear it either: the old
 * state after the new one. A change of the same version as what the sink holds is news again
 * (a batch retried after a failed publish re-publishes under the same event id).
 *
 * `held` is the version the sink held before this attempt wrote the key. If it is the version of
 * one of the batch's own changes, an earlier attempt of this batch (or an earlier delivery of the
 * same records) wrote it, and it says nothing about order beyond what the batch itself says.
 */
export function outdatedChanges(
  versionsInBatchOrder: readonly string[],
  held: string | undefined,
): boolean[] {
  const floor = held !== undefined && !versionsInBatchOrder.includes(held) ? held : undefined;
  let newest = floor;
  return versionsInBatchOrder.map((v) => {
    if (newest !== undefined && v < newest) return true;
    newest = v;
    return false;
  });
}
