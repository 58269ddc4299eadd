/**
 * plan/calibrate.ts's load generator and callback receiver, in a process of their own as in the bench: not in a
 * thread of the calibrating process, whose CPU is read per thread — V8's helper threads are shared by all of a
 * process's threads, so a client thread's garbage would be collected on the local cloud's account.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";

type Command =
  | { type: "adds"; apiUrl: string; bodies: string[]; inFlight: number }
  | { type: "receiver" }
  | { type: "stop" };

const receiver = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => res.writeHead(200).end());
});

/** The adds, `inFlight` at a time; their task ids in the order of `bodies`. */
async function adds(command: Extract<Command, { type: "adds" }>): Promise<string[]> {
  const pool = new Pool(command.apiUrl, { connections: command.inFlight });
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: command.inFlight }, async () => {
      for (let i = next++; i < command.bodies.length; i = next++) {
        const r = await pool.request({
          path: "/v1/tasks",
          method: "POST",
          headers: { "content-type": "application/json" },
          body: command.bodies[i] as string,
        });
        const answer = JSON.parse(await r.body.text()) as { task_id?: string };
        if (r.statusCode !== 201 || !answer.task_id) throw new Error(`add answered ${r.statusCode}`);
        ids[i] = answer.task_id;
      }
    }),
  );
  await pool.close();
  return ids;
}

const reply = (message: object) => process.send?.(message);
process.on("message", (command: Command) => {
  if (command.type === "adds")
    adds(command).then(
      (ids) => reply({ type: "added", ids }),
      (error: Error) => reply({ type: "failed", error: error.message }),
    );
  if (command.type === "receiver")
    receiver.listen(0, "127.0.0.1", () =>
      reply({ type: "listening", port: (receiver.address() as AddressInfo).port }),
    );
  if (command.type === "stop") receiver.close(() => reply({ type: "stopped" }));
});
process.on("disconnect", () => process.exit(0));
reply({ type: "ready" });
