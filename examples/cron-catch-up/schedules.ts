/**
 * Defines the example's two schedules, prints them and exits. Defining is an
 * upsert: run it at every deploy; an identical definition changes nothing.
 * Both fire every second so the example is quick; yours would be `0 * * * *`
 * (hourly), `0 3 * * *` (daily at 03:00)...
 *
 * - `report`: every period needs its own run (a report per period), so
 *   `catchUp: 'all'` runs each occurrence missed while no scheduler ran, oldest
 *   first, at most `maxCatchUp` of them.
 * - `refresh`: only the present matters (refreshing a cache), so
 *   `catchUp: 'latest'` runs the newest missed occurrence once and counts the
 *   others as missed.
 */
import { Queue } from '@streamjobs/core';
import { connection, prefix } from '../redis.js';

const queue = new Queue('cron', { connection, prefix });
const defined = [
  await queue.schedule('report', { cron: '* * * * * *', catchUp: 'all', maxCatchUp: 60 }, { name: 'report' }),
  await queue.schedule('refresh', { cron: '* * * * * *', catchUp: 'latest' }, { name: 'refresh' }),
];
for (const schedule of defined) console.log(`schedule ${schedule.id}: ${JSON.stringify(schedule.spec)}`);
await queue.close();
