// Baseline for bench/run.mjs: a bare Fastify server with the one route Solute's ack path is compared
// against. It parses the same JSON body with Fastify's default parser (bodyLimit 1 MiB, as Solute)
// and answers like Solute does, but checks nothing, dedupes nothing and writes nothing.
//   node bench/baseline-server.mjs PORT     (listens on 127.0.0.1, prints "ready <url>" on stdout)
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, requestIdHeader: false });

app.post('/api/events', async (req, reply) => {
  const batch = req.body?.batch;
  const n = Array.isArray(batch) ? batch.length : 0;
  return reply.code(200).send({ success: true, processed: n, failed: 0 });
});

const url = await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`ready ${url}\n`);

const stop = () => app.close().then(() => process.exit(0), () => process.exit(1));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
