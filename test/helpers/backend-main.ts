// A fake backend in a process of its own, so a test can kill it for real (SIGKILL):
// `node backend-main.ts NAME [PORT]` prints `listening PORT` once it accepts connections.
import { startFakeBackend } from './fake-backend.ts';

const b = await startFakeBackend({ name: process.argv[2] ?? 'b', port: Number(process.argv[3] ?? 0) });
process.stdout.write(`listening ${b.port}\n`);
