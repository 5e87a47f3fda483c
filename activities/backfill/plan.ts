/**
 * `planBackfill`: what a backfill will read, checked before the first chunk. The tables ('all'
 * resolved against the table file), each checked in PostgreSQL with its filter columns, with
 * the planner's estimate of its rows (for the ETA); for a replay, the stream's shards and where
 * each starts.
 */
import { ListShardsCommand, type Shard } from '@aws-sdk/client-kinesis';
import { ConfigurationError } from '../../domain/core/errors';
import { configuredTables, tableConfig } from '../../domain/core/tables';
import type { BackfillPlan, ReplayShard, TablePlan } from '../../domain/backfill/chunks';
import { parseBackfillRequest, type BackfillRequest } from '../../domain/backfill/request';
import { estimateQuery, filterConditions, quoteIdent, type TableShape } from '../../domain/backfill/sql';
import type { ActivityDeps } from '../deps';
import { tableColumns, withPg } from './postgres';

export async function planBackfill(deps: ActivityDeps, request: BackfillRequest): Promise<BackfillPlan> {
  const parsed = (() => {
    try {
      return parseBackfillRequest(request);
    } catch (err) {
      throw new ConfigurationError(`invalid backfill request: ${(err as Error).message}`.slice(0, 1000));
    }
  })();
  const names = parsed.tables === 'all' ? [...configuredTables().keys()] : parsed.tables;
  const configs = names.map((t) => tableConfig(t)); // throws ConfigurationError naming the known tables
  const schema = deps.config.pgSchema;
  if (parsed.mode === 'replay') {
    return {
      tables: configs.map((c) => ({ table: c.table, sensitive: Object.keys(c.redactions).length > 0 })),
      stream: deps.config.stream,
      shards: await replayShards(deps, parsed.replay!),
    };
  }
  const tables = await withPg(deps, async (pg) => {
    const out: TablePlan[] = [];
    for (const cfg of configs) {
      const shape: TableShape = {
        schema,
        table: cfg.table,
        keyColumns: cfg.primaryKey,
        columns: await tableColumns(pg, schema, cfg.table),
      };
      const filter = parsed.mode === 'snapshot' ? parsed.filter : undefined;
      filterConditions(shape, filter, []); // unknown filter columns are refused here, before any chunk
      out.push({
        table: cfg.table,
        sensitive: Object.keys(cfg.redactions).length > 0,
        ...(parsed.mode === 'snapshot' ? withEstimate(await estimate(pg, shape, filter)) : {}),
      });
    }
    return out;
  });
  return { tables };
}

const withEstimate = (n: number | undefined) => (n === undefined ? {} : { estimate: n });

async function estimate(
  pg: import('pg').Client,
  shape: TableShape,
  filter: Parameters<typeof estimateQuery>[1],
): Promise<number | undefined> {
  const q = estimateQuery(shape, filter);
  const out = await pg.query(q.text, q.values);
  const row = out.rows[0] as Record<string, unknown> | undefined;
  if (!row) return undefined;
  if ('estimate' in row) {
    const n = Number(row.estimate);
    if (n >= 0) return Math.round(n);
    // Never analyzed (reltuples -1): ask the planner, which looks at the table's size.
    const exp = await pg.query(
      `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${quoteIdent(shape.schema)}.${quoteIdent(shape.table)}`,
    );
    return planRows(exp.rows[0]);
  }
  return planRows(row);
}

function planRows(row: unknown): number | undefined {
  const plan = (row as { 'QUERY PLAN'?: { Plan?: { 'Plan Rows'?: number } }[] })?.['QUERY PLAN']?.[0]?.Plan;
  return typeof plan?.['Plan Rows'] === 'number' ? Math.round(plan['Plan Rows']) : undefined;
}

async function replayShards(
  deps: ActivityDeps,
  replay: NonNullable<ReturnType<typeof parseBackfillRequest>['replay']>,
): Promise<ReplayShard[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const out = await deps.aws.kinesis.send(
      new ListShardsCommand(token ? { NextToken: token } : { StreamName: deps.config.stream }),
    );
    shards.push(...(out.Shards ?? []));
    token = out.NextToken;
  } while (token);
  const ids = new Set(shards.map((s) => s.ShardId!));
  if (replay.fromSequence) {
    const unknown = Object.keys(replay.fromSequence).filter((s) => !ids.has(s));
    if (unknown.length)
      throw new ConfigurationError(
        `stream ${deps.config.stream} has no shard ${unknown.join(', ')} (shards: ${[...ids].join(', ')})`,
      );
    return Object.entries(replay.fromSequence).map(([shardId, sequenceNumber]) => ({
      shardId,
      start: { type: replay.inclusive ? 'AT_SEQUENCE_NUMBER' : 'AFTER_SEQUENCE_NUMBER', sequenceNumber },
    }));
  }
  // Parents before children (ListShards lists them so), each from the same time.
  return shards.map((s) => ({
    shardId: s.ShardId!,
    start: { type: 'AT_TIMESTAMP', timestamp: replay.since! },
  }));
}
