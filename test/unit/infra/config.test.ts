import assert from 'node:assert/strict';
import { configToEnv, loadConfig } from '../../../infra/config';

describe('pipeline configuration', () => {
  it('tombstones default to the stream retention plus the redrive window', () => {
    assert.equal(loadConfig({}).tombstoneTtlDays, 15);
    assert.equal(
      loadConfig({ CDC_STREAM_RETENTION_HOURS: '168', CDC_DLQ_REDRIVE_WINDOW_DAYS: '30' }).tombstoneTtlDays,
      37,
    );
  });

  it('refuses a tombstone TTL shorter than retention plus the redrive window (a replay could resurrect a row)', () => {
    assert.throws(
      () => loadConfig({ CDC_TOMBSTONE_TTL_DAYS: '7' }),
      /CDC_TOMBSTONE_TTL_DAYS \(7\) must be at least .* \(15 days\)/,
    );
    assert.equal(loadConfig({ CDC_TOMBSTONE_TTL_DAYS: '30' }).tombstoneTtlDays, 30);
  });

  it('the sink is operational by default; an analytics worker never releases holds', () => {
    const operational = loadConfig({});
    assert.deepEqual(
      [operational.sink, operational.analyticsDatabase, operational.reservationExpiry],
      ['operational', 'analytics', true],
    );
    const analytics = loadConfig({ CDC_SINK: 'analytics', CDC_RESERVATION_EXPIRY: 'on' });
    assert.deepEqual([analytics.sink, analytics.reservationExpiry], ['analytics', false]);
    assert.equal(loadConfig({ CDC_ANALYTICS_DATABASE: 'bi_2' }).analyticsDatabase, 'bi_2');
  });

  it('refuses an unknown sink and a database name that is not a plain identifier', () => {
    assert.throws(() => loadConfig({ CDC_SINK: 'redshift' }), /CDC_SINK/);
    for (const name of ['Analytics', 'a-b', 'x"; DROP DATABASE y; --', ''])
      assert.throws(() => loadConfig({ CDC_ANALYTICS_DATABASE: name }), /CDC_ANALYTICS_DATABASE/, name);
  });

  it('configToEnv is what loadConfig reads back', () => {
    const config = loadConfig({ CDC_STREAM: 'x', CDC_SHARD_COUNT: '4', CDC_DLQ_INLINE_MAX_BYTES: '5000' });
    assert.deepEqual(loadConfig(configToEnv(config)), config);
    const analytics = loadConfig({ CDC_SINK: 'analytics', CDC_ANALYTICS_DATABASE: 'bi' });
    assert.deepEqual(loadConfig(configToEnv(analytics)), analytics);
  });
});
