// `npm start`: install what is missing, build what is stale, serve the demo page.
import { bootstrap } from './bootstrap.mjs';
import { build } from './build.mjs';
import { serverUrl, startServer } from './serve.mjs';

bootstrap();
build({ moduleOnly: true });
const port = Number(process.env.PORT || 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`PORT must be an integer between 0 and 65535, received ${process.env.PORT}\n`);
  process.exit(1);
}
const server = await startServer({ port });
process.stdout.write(`kexue demo page: ${serverUrl(server)}\n(Ctrl+C to stop)\n`);
