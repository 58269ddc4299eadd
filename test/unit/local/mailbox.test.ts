import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { Mailbox, onMailbox } from "#local/aws/mailbox.js";

/** The fast path's coalescing of one synchronous stretch's messages into one postMessage (local/aws/mailbox.ts). */
const open: MessagePort[] = [];
afterEach(() => {
  for (const port of open.splice(0)) port.close();
});

function channel() {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  const raw: unknown[] = [];
  port2.on("message", (message: unknown) => raw.push(message));
  return { sender: port1, receiver: port2, raw };
}

/** Resolves once `count` messages have arrived on `port` through `onMailbox`. */
function receiveMessages<T>(port: MessagePort, count: number): Promise<T[]> {
  const got: T[] = [];
  return new Promise((resolve) =>
    onMailbox<T>(port, (message) => {
      got.push(message);
      if (got.length === count) resolve(got);
    }),
  );
}

describe("Mailbox", () => {
  it("sends what one synchronous stretch sent as one message, in order", async () => {
    // Prepare
    const { sender, receiver, raw } = channel();
    const mailbox = new Mailbox<{ id: number }>(sender);
    const received = receiveMessages<{ id: number }>(receiver, 3);
    // Act
    mailbox.send({ id: 1 });
    mailbox.send({ id: 2 });
    mailbox.send({ id: 3 });
    // Assess
    expect(await received).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(raw).toEqual([[{ id: 1 }, { id: 2 }, { id: 3 }]]);
  });

  it("starts a new message for what a later turn sends", async () => {
    // Prepare
    const { sender, receiver, raw } = channel();
    const mailbox = new Mailbox<string>(sender);
    const received = receiveMessages<string>(receiver, 2);
    // Act
    mailbox.send("first");
    await new Promise((resolve) => setImmediate(resolve));
    mailbox.send("second");
    // Assess
    expect(await received).toEqual(["first", "second"]);
    expect(raw).toEqual([["first"], ["second"]]);
  });

  it("drops what was not sent yet when discarded", async () => {
    // Prepare
    const { sender, receiver, raw } = channel();
    const mailbox = new Mailbox<string>(sender);
    const received = receiveMessages<string>(receiver, 1);
    // Act
    mailbox.send("dropped");
    mailbox.discard();
    mailbox.send("kept");
    // Assess
    expect(await received).toEqual(["kept"]);
    expect(raw).toEqual([["kept"]]);
  });

  it("sends what follows a yield (an await) in a new message, without waiting for the end of the turn", async () => {
    // Prepare
    const { sender, receiver, raw } = channel();
    const mailbox = new Mailbox<string>(sender);
    const received = receiveMessages<string>(receiver, 3);
    // Act
    mailbox.send("first");
    mailbox.send("second");
    await Promise.resolve();
    mailbox.send("after the await");
    // Assess
    expect(await received).toEqual(["first", "second", "after the await"]);
    expect(raw).toEqual([["first", "second"], ["after the await"]]);
  });
});
