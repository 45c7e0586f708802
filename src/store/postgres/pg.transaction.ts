// One transaction on a client of the pool: BEGIN, the work, COMMIT; on any error ROLLBACK and the
// client handed back as broken (pg then discards it rather than reuse a connection in an unknown state).
import type pg from 'pg';

export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    client.release(err as Error);
    throw err;
  }
}
